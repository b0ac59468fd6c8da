// Package uring sends to many sockets with one system call, through a
// Linux io_uring: a fan-out round of small writes to thousands of
// connections costs one kernel entry per batch instead of one per socket.
//
// Only what the broadcaster's write path needs is here: non-blocking sends
// (IORING_OP_SEND with MSG_DONTWAIT), submitted and completed in one
// io_uring_enter. The kernel still runs each socket's send; what a batch
// saves is the system call's entry and exit and the Go runtime's
// bookkeeping around each, which on a virtual machine are a large part of
// a small write's cost. Where io_uring is missing (other systems, old
// kernels, io_uring_disabled), New returns ErrUnsupported and the caller
// writes as before.
package uring

import "errors"

// ErrUnsupported is returned by New where io_uring cannot be used.
var ErrUnsupported = errors.New("uring: io_uring is not available here")

// Op is one send: B to the socket FD. Send fills N (bytes the socket took:
// less than len(B) when its buffer filled) and Err (nil, syscall.EAGAIN
// when the buffer took nothing, or what the send failed with).
type Op struct {
	FD  int32
	B   []byte
	N   int
	Err error
}
