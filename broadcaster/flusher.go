package broadcaster

import (
	"sync"
	"time"

	"github.com/arenacast/arenacast/broadcaster/uring"
)

// flusher writes sessions on sockets (WebSockets, and SSE streams taken
// over from net/http) that have frames queued, in rounds, on
// one goroutine, with a non-blocking system call per session and round. A
// session whose socket is full is handed to a goroutine of its own
// (session.writeLoop) until its queue is empty. The goroutine runs while
// sessions are ready, then waits for the next one for flusherLinger and
// exits if none came.
//
// Why: with a writer goroutine per session woken by a timer of its own, a
// fan-out to thousands of connections makes thousands of goroutines
// runnable at once; the scheduler's local run queue holds 256 and the rest
// wait in the global queue, which a busy P reads rarely, so some sessions
// were written hundreds of milliseconds late (docs/benchmarks.md). Rounds
// also batch by themselves: a session gets everything queued since the
// previous round in one write.
//
// Pacing adapts to what a round costs: the next round starts at least
// min(pace, paceFactor × the expected cost of writing the sessions ready)
// after the previous one started, where the cost per session is measured
// on the rounds written. A verdict to one idle contestant costs
// microseconds and goes out at once; a fan-out to thousands of
// connections, whose round takes milliseconds, waits up to pace and
// batches (the flusher writes at most half the time, and pace bounds it).
type flusher struct {
	pace   time.Duration // the longest wait between the starts of two rounds
	linger time.Duration // how long the goroutine waits for sessions (flusherLinger)

	mu      sync.Mutex // guards ready, running, parked and started
	ready   []*session // sessions to write in the next round, each once
	running bool       // a goroutine runs rounds, or was woken to
	// parked: the goroutine waits on wake for sessions (at most linger),
	// so add wakes it instead of starting another.
	parked  bool
	wake    chan struct{} // capacity 1; add's signal to the parked goroutine
	started int           // goroutines add started (what linger saves shows in tests)

	// Owned by the goroutine running rounds; mu orders one such goroutine
	// before the next.
	round []*session
	last  time.Time // when the previous round started
	nap   netYield  // yields within a round
	// perSession is the measured cost of writing one session in a round
	// (a moving average over rounds); 0 until a round was written.
	perSession time.Duration

	// ring batches a round's writes (flushring.go); nil: a system call per
	// session. Guarded by mu, as is retired (a ring stopRing released
	// while rounds ran, closed when they end).
	ring    *uring.Ring
	retired *uring.Ring
	// Owned by the goroutine running rounds, like round: the batch being
	// staged, its sends, the ring it goes to, the ring's failure, and a
	// RawConn.Write callback per batch slot (made once, by startRing).
	staged  []stagedWrite
	ops     []uring.Op
	cur     *uring.Ring
	ringErr error
	holders []func(uintptr) bool
}

// paceFactor is how many times the expected cost of a round the flusher
// lets pass between the starts of two rounds (within pace): with 2, the
// flusher writes at most half the time, and events arriving meanwhile wait
// at most about one round's cost more than they would unpaced.
const paceFactor = 2

// gap is the wait between the starts of the previous round and a round of
// n sessions: paceFactor times its expected cost, at most pace.
func (f *flusher) gap(n int) time.Duration {
	return min(f.pace, paceFactor*time.Duration(n)*f.perSession)
}

// measure folds a round's duration into perSession.
func (f *flusher) measure(took time.Duration, n int) {
	if n == 0 {
		return
	}
	per := took / time.Duration(n)
	if f.perSession == 0 {
		f.perSession = per
		return
	}
	f.perSession += (per - f.perSession) / 4
}

// flusherLinger is how long a flusher's goroutine waits for sessions
// after its last round before it exits. Starting one per run of rounds
// cost, at 2,000 publishes/s over 500 channels (thousands of short runs a
// second), a goroutine, its netYield pipe and three copies of its stack as
// hold's nesting grew it (4% of the node, issue 18); a goroutine waiting
// costs nothing but its stack.
const flusherLinger = time.Second

func newFlusher(pace time.Duration) *flusher {
	return &flusher{pace: pace, linger: flusherLinger, wake: make(chan struct{}, 1)}
}

// add queues s for the next round, waking or starting the goroutine if
// none runs. The caller set s.writing, so s is added at most once until the
// flusher (or a writer it handed s to) clears it.
func (f *flusher) add(s *session) {
	f.mu.Lock()
	f.ready = append(f.ready, s)
	start := false
	if !f.running {
		f.running = true
		if f.parked {
			// Under mu, so the goroutine finds the signal when it
			// sees parked cleared (park); wake is empty then.
			f.parked = false
			f.wake <- struct{}{}
		} else {
			start = true
			f.started++
		}
	}
	f.mu.Unlock()
	if start {
		go f.run()
	}
}

// park waits, with no session ready and mu held, for add to wake it
// (true) or for f.linger to pass (false: the goroutine exits); it returns
// with mu released. idle is its timer, made at the first park.
func (f *flusher) park(idle **time.Timer) bool {
	f.running, f.parked = false, true
	// No round runs while parked: a ring stopRing retired meanwhile
	// can close now.
	retired := f.retired
	f.retired = nil
	f.mu.Unlock()
	if retired != nil {
		retired.Close()
	}
	if *idle == nil {
		*idle = time.NewTimer(f.linger)
	} else {
		(*idle).Reset(f.linger)
	}
	select {
	case <-f.wake:
		(*idle).Stop()
		return true
	case <-(*idle).C:
	}
	f.mu.Lock()
	if !f.parked {
		// add woke it as the timer fired; its signal is in wake.
		f.mu.Unlock()
		<-f.wake
		return true
	}
	// Exit. The next goroutine may start as soon as mu is released: it
	// gets a fresh netYield, this one is closed after.
	f.parked = false
	nap := f.nap
	f.nap = netYield{}
	f.mu.Unlock()
	nap.close()
	return false
}

// run writes rounds while sessions are ready, parking between them.
func (f *flusher) run() {
	var idle *time.Timer
	for {
		f.mu.Lock()
		if len(f.ready) == 0 {
			if !f.park(&idle) {
				return
			}
			continue
		}
		n := len(f.ready)
		f.mu.Unlock()
		if d := f.gap(n) - time.Since(f.last); d > 0 {
			time.Sleep(d)
		}
		f.last = time.Now()
		f.mu.Lock()
		f.round, f.ready = f.ready, f.round[:0]
		ring := f.ring
		f.mu.Unlock()
		now := f.last.UnixNano()
		every := 64 // sessions between yields
		if ring != nil {
			every = ring.Entries()
		}
		for i, s := range f.round {
			if ring != nil {
				f.stage(s, now)
			} else {
				s.flushOnce(f, now)
			}
			f.round[i] = nil
			if i%every == every-1 {
				if ring != nil {
					f.send(ring, now)
				}
				// Let the consumer, the readers and the network poller
				// run: on one core a round of thousands of writes would
				// otherwise hold the processor for a whole time slice,
				// and sockets that became readable would wait for the
				// runtime's 10 ms poll (netYield).
				f.nap.yield()
				now = time.Now().UnixNano()
			}
		}
		if ring != nil {
			f.send(ring, now)
		}
		f.measure(time.Since(f.last), len(f.round))
	}
}
