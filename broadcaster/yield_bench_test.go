package broadcaster

import (
	"encoding/binary"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkNetWakeDuringRound measures how long a socket that became
// readable waits to be read while a goroutine runs a long flusher-like
// round (300 µs of work between yields) on one processor, for the two ways
// of yielding: runtime.Gosched, and netYield. Each op is one message, sent
// from a timer every millisecond; ns/wake (p50) and p99-ns/wake are the
// delay from its send to its read. Indicative: the machine's load shows.
func BenchmarkNetWakeDuringRound(b *testing.B) {
	for _, mode := range []string{"gosched", "netyield"} {
		b.Run(mode, func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			server, client := tcpPairB(b)
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { // the round: busy work, yielding every 300 µs
				defer close(done)
				var y netYield
				defer y.close()
				for {
					select {
					case <-stop:
						return
					default:
					}
					for t := time.Now(); time.Since(t) < 300*time.Microsecond; {
					}
					if mode == "gosched" {
						runtime.Gosched()
					} else {
						y.yield()
					}
				}
			}()
			lat := make([]time.Duration, 0, b.N)
			got := make(chan struct{})
			go func() {
				var buf [8]byte
				for {
					if _, err := server.Read(buf[:]); err != nil {
						return
					}
					lat = append(lat, time.Duration(time.Now().UnixNano()-int64(binary.LittleEndian.Uint64(buf[:]))))
					got <- struct{}{}
				}
			}()
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for b.Loop() {
				<-tick.C
				var buf [8]byte
				binary.LittleEndian.PutUint64(buf[:], uint64(time.Now().UnixNano()))
				client.Write(buf[:])
				<-got
			}
			close(stop)
			<-done
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2]), "ns/wake")
			b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns/wake")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// TestNetYield: a yield comes back, makes its pipe once, and a closed one
// is made again.
func TestNetYield(t *testing.T) {
	var y netYield
	defer y.close()
	y.yield()
	r := y.r
	if r == nil || y.bad {
		t.Fatal("no pipe after the first yield")
	}
	y.yield()
	if y.r != r {
		t.Fatal("a second pipe for the second yield")
	}
	y.close()
	y.yield()
	if y.r == nil || y.r == r {
		t.Fatal("no fresh pipe after close")
	}
}

// TestNetYieldFallsBack: a yield through the poller slower than slowYield
// makes the yields of the next goschedFor skip the poller (no pipe is made
// for them); a fast one does not, and after the window the poller is used
// again.
func TestNetYieldFallsBack(t *testing.T) {
	for _, tc := range []struct {
		name    string
		took    time.Duration
		skipped bool // the next yield does not go through the poller
	}{
		{"fast", 50 * time.Microsecond, false},
		{"at the limit", slowYield, false},
		{"slow", slowYield + time.Millisecond, true},
		{"a monitor's poll", 10 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var y netYield
			defer y.close()
			// An hour ahead, so that however late this goroutine runs
			// the window has not passed at the next yield.
			end := time.Now().Add(time.Hour).UnixNano()
			y.polled(end-int64(tc.took), end)
			y.yield()
			if skipped := y.r == nil; skipped != tc.skipped {
				t.Fatalf("after a yield of %v through the poller, the next skipped it: %v, want %v", tc.took, skipped, tc.skipped)
			}
			if tc.skipped {
				if d := time.Duration(y.gosched - end); d != goschedFor {
					t.Fatalf("yields skip the poller for %v after the slow one, want %v", d, goschedFor)
				}
				y.gosched = time.Now().UnixNano() // the window has passed
				y.yield()
				if y.r == nil {
					t.Fatal("the poller is not used again after the window")
				}
			}
		})
	}
}

// BenchmarkYieldBesideSweeper measures a yield on one processor while
// another goroutine does what the runtime's background sweeper does after
// a garbage collection: short work, then runtime.Gosched, without end
// (golang/go#56060). ns/op is the time a flusher-like loop spends per
// yield. With a yield only through the poller it is the runtime monitor's
// 10 ms poll; netYield falls back to Gosched and takes turns with the
// sweeper.
func BenchmarkYieldBesideSweeper(b *testing.B) {
	for _, mode := range []string{"gosched", "netyield"} {
		b.Run(mode, func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			var stop atomic.Bool
			done := make(chan struct{})
			go func() { // the sweeper
				defer close(done)
				for !stop.Load() {
					for t := time.Now(); time.Since(t) < 5*time.Microsecond; {
					}
					runtime.Gosched()
				}
			}()
			var y netYield
			defer y.close()
			for b.Loop() {
				if mode == "gosched" {
					runtime.Gosched()
				} else {
					y.yield()
				}
			}
			stop.Store(true)
			<-done
		})
	}
}
