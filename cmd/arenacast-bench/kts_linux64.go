//go:build linux && (amd64 || arm64)

package main

import (
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// kernelTimestamps reports whether this system can stamp received bytes
// (SO_TIMESTAMPNS), so latency can be measured to the kernel's receipt.
const kernelTimestamps = true

// tsConn is a TCP connection whose reads also return when the kernel
// received the newest bytes read (SO_TIMESTAMPNS). Latency measured to that
// time leaves out the load tool's own delays: its scheduler, its other
// connections, its parsing. Reads are owned by one goroutine.
type tsConn struct {
	*net.TCPConn
	rc   syscall.RawConn
	oob  []byte
	last atomic.Int64 // unix nanos the kernel stamped on the newest bytes read; 0: none yet
}

// enableTimestamps is a net.Dialer Control that asks the kernel to stamp
// received data.
func enableTimestamps(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

func newTSConn(c net.Conn) (net.Conn, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &tsConn{TCPConn: tc, rc: rc, oob: make([]byte, syscall.CmsgSpace(16))}, nil
}

// Read reads like the connection's own Read (deadlines included) and
// notes the kernel's receive stamp.
func (c *tsConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n, oobn int
	var rerr error
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, oobn, _, _, rerr = syscall.Recvmsg(int(fd), p, c.oob, 0)
			if rerr != syscall.EINTR {
				return rerr != syscall.EAGAIN // else wait for the poller
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: rerr}
	}
	if n == 0 {
		return 0, io.EOF
	}
	ts, ok := parseTimestampNS(c.oob[:oobn])
	if !ok {
		ts = time.Now().UnixNano() // no stamp: never report an older one
	}
	c.last.Store(ts)
	return n, nil
}

// stamp returns the kernel's receive time of the newest bytes read, 0 if
// none came with one.
func (c *tsConn) stamp() int64 { return c.last.Load() }

// parseTimestampNS finds an SCM_TIMESTAMPNS control message in oob
// (64-bit Linux layout: a 16-byte header of length, level and type, then
// the timespec's seconds and nanoseconds).
func parseTimestampNS(oob []byte) (int64, bool) {
	const hdr = syscall.SizeofCmsghdr
	for len(oob) >= hdr {
		l := int(binary.NativeEndian.Uint64(oob))
		level := int32(binary.NativeEndian.Uint32(oob[8:]))
		typ := int32(binary.NativeEndian.Uint32(oob[12:]))
		if l < hdr || l > len(oob) {
			return 0, false
		}
		if level == syscall.SOL_SOCKET && typ == syscall.SCM_TIMESTAMPNS && l >= hdr+16 {
			sec := int64(binary.NativeEndian.Uint64(oob[hdr:]))
			nsec := int64(binary.NativeEndian.Uint64(oob[hdr+8:]))
			return sec*1e9 + nsec, true
		}
		oob = oob[min(syscall.CmsgSpace(l-hdr), len(oob)):]
	}
	return 0, false
}
