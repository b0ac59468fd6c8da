package broadcaster

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// flusher writes WebSocket sessions that have frames queued, in rounds, on
// one goroutine, with a non-blocking system call per session and round. A
// session whose socket is full is handed to a goroutine of its own
// (session.writeLoop) until its queue is empty.
//
// Why: with a writer goroutine per session woken by a timer of its own, a
// fan-out to thousands of connections makes thousands of goroutines
// runnable at once; the scheduler's local run queue holds 256 and the rest
// wait in the global queue, which a busy P reads rarely, so some sessions
// were written hundreds of milliseconds late (docs/benchmarks.md). Rounds
// also batch by themselves: a session gets everything queued since the
// previous round in one write.
type flusher struct {
	pace time.Duration // the shortest time between the starts of two rounds

	mu    sync.Mutex // guards ready
	ready []*session // sessions to write in the next round, each once
	wake  chan struct{}
}

func newFlusher(pace time.Duration) *flusher {
	return &flusher{pace: pace, wake: make(chan struct{}, 1)}
}

// add queues s for the next round. The caller set s.writing, so s is
// added at most once until the flusher (or a writer it handed s to)
// clears it.
func (f *flusher) add(s *session) {
	f.mu.Lock()
	f.ready = append(f.ready, s)
	first := len(f.ready) == 1
	f.mu.Unlock()
	if first {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// run writes rounds until ctx ends.
func (f *flusher) run(ctx context.Context) {
	var round []*session
	var last time.Time
	for {
		f.mu.Lock()
		empty := len(f.ready) == 0
		f.mu.Unlock()
		if empty {
			select {
			case <-f.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		if d := f.pace - time.Since(last); d > 0 {
			time.Sleep(d)
		}
		last = time.Now()
		f.mu.Lock()
		round, f.ready = f.ready, round[:0]
		f.mu.Unlock()
		for i, s := range round {
			s.flushOnce(f)
			round[i] = nil
			if i%64 == 63 {
				// Let the consumer and the readers run: on one core a
				// round of thousands of writes would otherwise hold the
				// processor for a whole time slice.
				runtime.Gosched()
			}
		}
	}
}
