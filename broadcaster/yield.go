package broadcaster

import (
	"os"
	"runtime"
)

// netYield lets the network poller run in the middle of a long flusher
// round. runtime.Gosched alone does not: the yielding goroutine goes to
// the global run queue, the scheduler finds it there before it polls the
// network, and with one processor (a node on one core) sockets that became
// readable meanwhile (POST /publish requests, client messages, a remote
// NATS) wait for the runtime's background monitor, which polls every
// 10 ms: a publish took 12 ms at p50 on a node busy writing (issue 18;
// BenchmarkNetWakeDuringRound, on a busy 2-core machine: p50 11 ms with
// Gosched, 0.3 ms with this).
//
// netYield parks the flusher on a pipe whose byte a goroutine of its own
// writes: the flusher can only come back through the network poller,
// which then also wakes every socket ready meanwhile. It costs a
// goroutine and three system calls per yield (one per 64 sessions
// written). The pipe is made at the first yield of a run of rounds and
// closed when the run ends; if it cannot be made, Gosched it is.
type netYield struct {
	r, w *os.File
	buf  [1]byte
	bad  bool // os.Pipe failed: Gosched
}

// yield lets other goroutines and the network poller run.
func (y *netYield) yield() {
	if y.r == nil && !y.bad {
		var err error
		if y.r, y.w, err = os.Pipe(); err != nil {
			y.bad = true
		}
	}
	if y.bad {
		runtime.Gosched()
		return
	}
	go y.w.Write([]byte{1})
	if _, err := y.r.Read(y.buf[:]); err != nil {
		y.close()
		y.bad = true
		runtime.Gosched()
	}
}

// close releases the pipe, if any; the next yield makes a new one.
func (y *netYield) close() {
	if y.r != nil {
		y.r.Close()
		y.w.Close()
		y.r, y.w = nil, nil
	}
}
