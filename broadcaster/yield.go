package broadcaster

import (
	"os"
	"runtime"
	"time"
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
//
// The poller is not always run, though: after a garbage collection the
// runtime's background sweeper yields with Gosched after every few spans,
// so with one processor the global run queue is never empty while it
// sweeps, and the scheduler polls the network only from its monitor, every
// 10 ms (golang/go#56060). A flusher parked on its pipe then waits 10 ms
// per yield, and at 20,000 publishes/s it wrote almost nothing for the
// 60-120 ms of each sweep (docs/benchmarks.md, fourteenth session). So a
// yield through the poller that took longer than slowYield makes the
// yields of the next goschedFor Gosched: the flusher takes turns with the
// sweeper instead of waiting for the monitor, and the poller is tried
// again after.
type netYield struct {
	r, w *os.File
	buf  [1]byte
	bad  bool // os.Pipe failed: Gosched
	// gosched: until then (unix nanos) yields are Gosched, because a
	// yield through the poller took longer than slowYield (polled).
	gosched int64
}

// slowYield is how long a yield through the network poller may take
// before netYield concludes that the scheduler is not polling; goschedFor
// is how long its yields are then Gosched. A yield through the poller
// takes tens of microseconds when the poller runs, up to the monitor's
// 10 ms when it does not; a sweep takes tens of milliseconds.
const (
	slowYield  = 2 * time.Millisecond
	goschedFor = 20 * time.Millisecond
)

// yield lets other goroutines and the network poller run.
func (y *netYield) yield() {
	start := time.Now().UnixNano()
	if start < y.gosched {
		runtime.Gosched()
		return
	}
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
		return
	}
	y.polled(start, time.Now().UnixNano())
}

// polled notes a yield through the poller that ran from start to end
// (unix nanos): one slower than slowYield makes the yields until goschedFor
// after end Gosched.
func (y *netYield) polled(start, end int64) {
	if end-start > int64(slowYield) {
		y.gosched = end + int64(goschedFor)
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
