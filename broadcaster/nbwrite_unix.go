//go:build unix

package broadcaster

import (
	"net"
	"syscall"
)

// socketOf returns c's socket for non-blocking writes: only for the
// standard library's TCP and Unix connections, whose Write we know does
// nothing more than the system call (a wrapper that embeds one and
// overrides Write would be bypassed).
func socketOf(c net.Conn) syscall.RawConn {
	var sc syscall.RawConn
	switch c := c.(type) {
	case *net.TCPConn:
		sc, _ = c.SyscallConn()
	case *net.UnixConn:
		sc, _ = c.SyscallConn()
	}
	return sc
}

// nbWriter writes one socket without waiting. Its callback for
// RawConn.Write is made once: a closure per write, capturing the buffer and
// the results, cost three allocations per write, which at fan-out is one
// write per delivery (TestTryWriteAllocs). Not safe for concurrent use: the
// caller serializes writes (rawConn.mu).
type nbWriter struct {
	sc   syscall.RawConn
	b    []byte // the bytes of the write in progress
	n    int
	werr error
	fn   func(fd uintptr) bool
}

func newNBWriter(sc syscall.RawConn) *nbWriter {
	w := &nbWriter{sc: sc}
	w.fn = func(fd uintptr) bool {
		for {
			w.n, w.werr = syscall.Write(int(fd), w.b)
			if w.werr != syscall.EINTR {
				return true // never wait for the poller: the caller hands off instead
			}
		}
	}
	return w
}

// write writes what the socket's send buffer takes now, without waiting:
// n is 0 when it is full.
func (w *nbWriter) write(b []byte) (n int, err error) {
	w.b = b
	err = w.sc.Write(w.fn)
	n, werr := w.n, w.werr
	w.b, w.werr = nil, nil
	switch {
	case err != nil:
		return 0, err
	case werr == syscall.EAGAIN:
		return 0, nil
	case werr != nil:
		return 0, werr
	}
	return max(n, 0), nil
}
