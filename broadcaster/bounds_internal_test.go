package broadcaster

import (
	"fmt"
	"testing"
	"time"

	"github.com/arenacast/arenacast/protocol"
)

// TestRecentLogBounds: the recent log keeps at most maxRoutes rings (the
// least recently added go first), its idle sweep spares channels in use,
// and a resume on a forgotten channel is answered from memory only when
// it is past everything forgotten.
func TestRecentLogBounds(t *testing.T) {
	clock := time.Unix(1000, 0)
	cases := []struct {
		name      string
		maxRoutes int
		channels  int           // /contest/c0 ... each gets one event, id i+1, one second apart
		sweepAt   time.Duration // > 0: sweep entries older than this before the last add
		inUse     string
		wantRings int
		wantCount uint64 // evictions by count
		wantIdle  uint64
	}{
		{"under the cap", 10, 5, 0, "", 5, 0, 0},
		{"over the cap", 3, 10, 0, "", 3, 7, 0},
		{"unbounded", 0, 50, 0, "", 50, 0, 0},
		{"idle sweep", 0, 10, 3 * time.Second, "", 4, 0, 6},
		{"idle sweep spares a channel in use", 0, 10, 3 * time.Second, "/contest/c0", 5, 0, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ev evictCounts
			now := clock
			l := newRecentLog(4, 0)
			l.maxRoutes, l.evicted, l.now = tc.maxRoutes, &ev, func() time.Time { return now }
			l.start(1)
			for i := range tc.channels {
				now = clock.Add(time.Duration(i) * time.Second)
				l.add(&protocol.Event{ID: uint64(i + 1), Channel: fmt.Sprintf("/contest/c%d", i)})
			}
			if tc.sweepAt > 0 {
				l.sweep(now.Add(-tc.sweepAt).UnixNano(), func(r string) bool { return r == tc.inUse })
			}
			if n := l.count(); n != tc.wantRings {
				t.Errorf("%d rings, want %d", n, tc.wantRings)
			}
			if got := ev[1].Load(); got != tc.wantCount {
				t.Errorf("%d count evictions, want %d", got, tc.wantCount)
			}
			if got := ev[2].Load(); got != tc.wantIdle {
				t.Errorf("%d idle evictions, want %d", got, tc.wantIdle)
			}
			// The newest channel is always held; a forgotten one is
			// answered from memory only past everything forgotten.
			last := fmt.Sprintf("/contest/c%d", tc.channels-1)
			if got, ok := l.replay(last, uint64(tc.channels-1), l.last); !ok || len(got) != 1 {
				t.Errorf("newest channel: %d events, %v; want 1, true", len(got), ok)
			}
			if tc.wantRings < tc.channels && tc.inUse == "" {
				if _, ok := l.replay("/contest/c0", 0, l.last); ok {
					t.Error("a forgotten channel's resume from before its event was answered from memory")
				}
				if got, ok := l.replay("/contest/c0", l.last, l.last); !ok || len(got) != 0 {
					t.Errorf("a resume past everything: %d events, %v; want 0, true", len(got), ok)
				}
			}
		})
	}
}

// TestSnapshotCacheBounds: the snapshot cache keeps at most maxRoutes
// entries (channels with subscribers excepted), its idle sweep spares
// channels in use, and a forgotten channel is known incomplete (searched
// again), never taken for one without boards.
func TestSnapshotCacheBounds(t *testing.T) {
	clock := time.Unix(1000, 0)
	cases := []struct {
		name        string
		maxRoutes   int
		channels    int
		sweepAt     time.Duration
		inUse       string
		wantEntries int
		wantCount   uint64
		wantIdle    uint64
	}{
		{"under the cap", 10, 5, 0, "", 5, 0, 0},
		{"over the cap", 3, 10, 0, "", 3, 7, 0},
		{"over the cap, one in use", 3, 10, 0, "/contest/c0", 3, 7, 0}, // c0 and the two newest
		{"idle sweep", 0, 10, 3 * time.Second, "", 4, 0, 6},
		{"idle sweep spares a channel in use", 0, 10, 3 * time.Second, "/contest/c0", 5, 0, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ev evictCounts
			now := clock
			c := newSnapshotCache(0, func() uint64 { return 0 }, func(r string) bool { return r == tc.inUse })
			c.maxRoutes, c.evicted, c.now = tc.maxRoutes, &ev, func() time.Time { return now }
			for i := range tc.channels {
				now = clock.Add(time.Duration(i) * time.Second)
				e := &protocol.Event{ID: uint64(i + 1), Type: protocol.TypeScoreboardUpdate, Channel: fmt.Sprintf("/contest/c%d", i), Public: true, Data: []byte(`{}`)}
				if err := c.consume(e, 0); err != nil {
					t.Fatal(err)
				}
			}
			if tc.sweepAt > 0 {
				c.sweep(now.Add(-tc.sweepAt).UnixNano())
			}
			if n := c.count(); n != tc.wantEntries {
				t.Errorf("%d entries, want %d", n, tc.wantEntries)
			}
			if got := ev[1].Load(); got != tc.wantCount {
				t.Errorf("%d count evictions, want %d", got, tc.wantCount)
			}
			if got := ev[2].Load(); got != tc.wantIdle {
				t.Errorf("%d idle evictions, want %d", got, tc.wantIdle)
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			forgot := tc.wantEntries < tc.channels
			// The node started at an empty stream: a channel never seen is
			// complete (it has no boards) until something was forgotten.
			if got := c.completeLocked("/contest/never"); got == forgot {
				t.Errorf("a channel never seen: complete %v, want %v", got, !forgot)
			}
			if forgot && c.completeLocked("/contest/c1") {
				t.Error("a forgotten channel counts as complete: its subscriber would get no snapshot")
			}
			if tc.inUse != "" && c.routes[tc.inUse] == nil {
				t.Errorf("%s (in use) was forgotten", tc.inUse)
			}
		})
	}
}

// TestThrottleIdleSweep: the idle sweep forgets the throttle's views whose
// interval has passed and that hold nothing, counting them, and keeps a
// view holding an update (its trailing edge must still go out).
func TestThrottleIdleSweep(t *testing.T) {
	t0 := time.Unix(1000, 0)
	cases := []struct {
		name      string
		views     int
		held      bool // a second update of view 0 within its interval: held
		sweepAt   time.Duration
		wantViews int
		wantIdle  uint64
	}{
		{"within the interval", 5, false, 30 * time.Minute, 5, 0},
		{"past the interval", 5, false, 2 * time.Hour, 0, 5},
		{"a held update stays", 5, true, 2 * time.Hour, 1, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ev evictCounts
			th := newBoardThrottle(time.Hour, func(*protocol.Event) {}) // its held update's timer never fires in the test
			th.evicted = &ev
			for i := range tc.views {
				th.route(&protocol.Event{ID: uint64(i + 1), Type: protocol.TypeScoreboardUpdate, Channel: fmt.Sprintf("/contest/c%d", i), Public: true}, t0)
			}
			if tc.held {
				th.route(&protocol.Event{ID: uint64(tc.views + 1), Type: protocol.TypeScoreboardUpdate, Channel: "/contest/c0", Public: true}, t0)
			}
			th.sweepIdle(t0.Add(tc.sweepAt))
			if n := th.count(); n != tc.wantViews {
				t.Errorf("%d views, want %d", n, tc.wantViews)
			}
			if got := ev[2].Load(); got != tc.wantIdle {
				t.Errorf("%d idle evictions, want %d", got, tc.wantIdle)
			}
			th.mu.Lock()
			for _, v := range th.views {
				if v.timer != nil {
					v.timer.Stop()
				}
			}
			th.mu.Unlock()
		})
	}
}
