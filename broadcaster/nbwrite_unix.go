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

// writeNonBlocking writes what sc's send buffer takes now, without
// waiting: n is 0 when it is full. The caller serializes writes to sc.
func writeNonBlocking(sc syscall.RawConn, b []byte) (n int, err error) {
	var werr error
	err = sc.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), b)
			if werr != syscall.EINTR {
				return true // never wait for the poller: the caller hands off instead
			}
		}
	})
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
