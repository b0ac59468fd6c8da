//go:build !unix

package broadcaster

import (
	"net"
	"syscall"
)

// socketOf returns nil: outside Unix every WebSocket keeps a writer
// goroutine (session.writeLoop) and blocking writes.
func socketOf(net.Conn) syscall.RawConn { return nil }

// writeNonBlocking is never called without a socket from socketOf.
func writeNonBlocking(syscall.RawConn, []byte) (int, error) { return 0, nil }
