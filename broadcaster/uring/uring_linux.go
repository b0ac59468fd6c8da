package uring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The kernel ABI (include/uapi/linux/io_uring.h).
const (
	sysSetup    = 425
	sysEnter    = 426
	sysRegister = 427

	registerProbe = 8 // IORING_REGISTER_PROBE (5.6)
	opSupported   = 1 // IO_URING_OP_SUPPORTED

	setupSubmitAll   = 1 << 7 // go on submitting past a failed SQE
	setupCoopTaskrun = 1 << 8 // no IPI to interrupt us for task work

	featSingleMmap = 1 << 0

	enterGetEvents = 1 << 0

	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000

	opSend = 26

	msgDontWait = 0x40
	msgNoSignal = 0x4000

	sqeSize = 64
	cqeSize = 16
)

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

// sqe is one submission queue entry, laid out as the kernel's.
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	msgFlags    uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFDIn  int32
	addr3       uint64
	pad2        uint64
}

type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// Ring is one io_uring, used to send batches. Not safe for concurrent use:
// its owner (one flusher) calls Send from one goroutine at a time.
type Ring struct {
	fd      int
	ringMem []byte // SQ and CQ rings (one mapping: IORING_FEAT_SINGLE_MMAP)
	sqeMem  []byte

	sqHead, sqTail *uint32
	sqMask         uint32
	sqes           []sqe
	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []cqe
	entries        int

	broken error // set when the ring itself failed: every later Send returns it
}

// New makes a ring of entries submission slots (a power of two the kernel
// may round up; Entries tells). It returns ErrUnsupported, wrapped, where
// the kernel refuses io_uring or lacks what Send needs.
func New(entries int) (*Ring, error) {
	var p params
	p.flags = setupSubmitAll | setupCoopTaskrun
	fd, _, errno := syscall.Syscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno == syscall.EINVAL {
		// A kernel older than 5.19 refuses the flags: try without them.
		p = params{}
		fd, _, errno = syscall.Syscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	}
	if errno != 0 {
		return nil, fmt.Errorf("%w: io_uring_setup: %v", ErrUnsupported, errno)
	}
	r := &Ring{fd: int(fd)}
	if p.features&featSingleMmap == 0 {
		r.Close()
		return nil, fmt.Errorf("%w: the kernel lacks IORING_FEAT_SINGLE_MMAP (older than 5.4)", ErrUnsupported)
	}
	if err := r.probeSend(); err != nil {
		r.Close()
		return nil, err
	}
	size := max(p.sqOff.array+p.sqEntries*4, p.cqOff.cqes+p.cqEntries*cqeSize)
	mem, err := syscall.Mmap(r.fd, offSQRing, int(size), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("uring: mapping the rings: %w", err)
	}
	r.ringMem = mem
	sqeMem, err := syscall.Mmap(r.fd, offSQEs, int(p.sqEntries)*sqeSize, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("uring: mapping the submission entries: %w", err)
	}
	r.sqeMem = sqeMem
	base := unsafe.Pointer(&mem[0])
	r.sqHead = (*uint32)(unsafe.Add(base, p.sqOff.head))
	r.sqTail = (*uint32)(unsafe.Add(base, p.sqOff.tail))
	r.sqMask = *(*uint32)(unsafe.Add(base, p.sqOff.ringMask))
	r.cqHead = (*uint32)(unsafe.Add(base, p.cqOff.head))
	r.cqTail = (*uint32)(unsafe.Add(base, p.cqOff.tail))
	r.cqMask = *(*uint32)(unsafe.Add(base, p.cqOff.ringMask))
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&sqeMem[0])), p.sqEntries)
	r.cqes = unsafe.Slice((*cqe)(unsafe.Add(base, p.cqOff.cqes)), p.cqEntries)
	// The indirection array maps ring slot i to entry i, once and for all.
	array := unsafe.Slice((*uint32)(unsafe.Add(base, p.sqOff.array)), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.entries = int(p.sqEntries)
	return r, nil
}

// probeSend checks that the kernel has IORING_OP_SEND (5.6): on one
// without it every send would fail, and the caller would close the
// connections it meant to write.
func (r *Ring) probeSend() error {
	// struct io_uring_probe: a 16-byte header (last_op, ops_len, ...)
	// and 8 bytes per op (op, resv, flags u16, resv2 u32).
	const ops = 256
	var buf [16 + ops*8]byte
	_, _, errno := syscall.Syscall6(sysRegister, uintptr(r.fd), registerProbe, uintptr(unsafe.Pointer(&buf[0])), ops, 0, 0)
	if errno != 0 {
		return fmt.Errorf("%w: probing the kernel's io_uring operations: %v", ErrUnsupported, errno)
	}
	op := buf[16+opSend*8:]
	if buf[0] < opSend || op[0] != opSend || (uint16(op[2])|uint16(op[3])<<8)&opSupported == 0 {
		return fmt.Errorf("%w: the kernel lacks IORING_OP_SEND (older than 5.6)", ErrUnsupported)
	}
	return nil
}

// Entries is how many sends one system call submits.
func (r *Ring) Entries() int { return r.entries }

// Send sends every op's bytes without waiting, Entries at a time, and
// fills each op's N and Err. Its error is the ring's own failure (the ops
// not reached then carry it too); a socket's failure is only its op's.
// The caller keeps each FD open, and not reused, until Send returns.
func (r *Ring) Send(ops []Op) error {
	for len(ops) > 0 {
		n := min(len(ops), r.entries)
		if err := r.sendChunk(ops[:n]); err != nil {
			for i := range ops {
				if ops[i].Err == nil && ops[i].N == 0 {
					ops[i].Err = err
				}
			}
			return err
		}
		ops = ops[n:]
	}
	return nil
}

func (r *Ring) sendChunk(ops []Op) error {
	if r.broken != nil {
		return r.broken
	}
	tail := *r.sqTail // only we write the tail
	for i := range ops {
		op := &ops[i]
		op.N, op.Err = 0, nil
		e := &r.sqes[(tail+uint32(i))&r.sqMask]
		*e = sqe{opcode: opSend, fd: op.FD, len: uint32(len(op.B)), msgFlags: msgDontWait | msgNoSignal,
			userData: uint64(i)}
		if len(op.B) > 0 {
			e.addr = uint64(uintptr(unsafe.Pointer(&op.B[0])))
		}
	}
	atomic.StoreUint32(r.sqTail, tail+uint32(len(ops)))
	want := uint32(len(ops))
	submitted, done := uint32(0), uint32(0)
	for done < want {
		toSubmit := want - submitted
		_, _, errno := syscall.Syscall6(sysEnter, uintptr(r.fd), uintptr(toSubmit), uintptr(want-done),
			enterGetEvents, 0, 0)
		// The kernel consumed what it took, even on error: the SQ head says how many.
		submitted = atomic.LoadUint32(r.sqHead) - tail
		done += r.reap(ops)
		if errno != 0 && errno != syscall.EINTR && errno != syscall.EAGAIN && errno != syscall.EBUSY {
			r.broken = fmt.Errorf("uring: io_uring_enter: %w", errno)
			return r.broken
		}
		// Keep the buffers alive until the kernel has finished with them.
		for i := range ops {
			_ = ops[i].B
		}
	}
	return nil
}

// reap takes every completion posted and fills its op, returning how many.
func (r *Ring) reap(ops []Op) uint32 {
	head := *r.cqHead
	tail := atomic.LoadUint32(r.cqTail)
	for h := head; h != tail; h++ {
		c := &r.cqes[h&r.cqMask]
		op := &ops[c.userData]
		if c.res >= 0 {
			op.N = int(c.res)
		} else {
			op.Err = syscall.Errno(-c.res)
		}
	}
	atomic.StoreUint32(r.cqHead, tail)
	return tail - head
}

// Close releases the ring.
func (r *Ring) Close() error {
	var errs []error
	if r.sqeMem != nil {
		errs = append(errs, syscall.Munmap(r.sqeMem))
		r.sqeMem = nil
	}
	if r.ringMem != nil {
		errs = append(errs, syscall.Munmap(r.ringMem))
		r.ringMem = nil
	}
	if r.fd >= 0 {
		errs = append(errs, syscall.Close(r.fd))
		r.fd = -1
	}
	if r.broken == nil {
		r.broken = errors.New("uring: the ring is closed")
	}
	return errors.Join(errs...)
}
