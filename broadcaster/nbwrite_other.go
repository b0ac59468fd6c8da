//go:build !unix

package broadcaster

import (
	"net"
	"syscall"
)

// socketOf returns nil: outside Unix every WebSocket keeps a writer
// goroutine (session.writeLoop) and blocking writes.
func socketOf(net.Conn) syscall.RawConn { return nil }

// nbWriter is never used without a socket from socketOf.
type nbWriter struct{}

func newNBWriter(syscall.RawConn) *nbWriter { return &nbWriter{} }

func (*nbWriter) write([]byte) (int, error) { return 0, nil }
