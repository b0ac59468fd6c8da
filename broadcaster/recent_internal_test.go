package broadcaster

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/arenacast/arenacast/protocol"
)

// TestRecentLogGap: the log answers only what it can prove complete: a
// jump in positions (events discarded before the node read them) or ring
// eviction sends the resume to the stream; malformed positions do not.
func TestRecentLogGap(t *testing.T) {
	ev := func(id uint64) *protocol.Event { return &protocol.Event{ID: id, Channel: "/contest/a"} }
	cases := []struct {
		name   string
		feed   func(l *recentLog)
		after  uint64
		wantOK bool
		want   int
	}{
		{"contiguous", func(l *recentLog) {
			for id := uint64(1); id <= 5; id++ {
				l.add(ev(id))
			}
		}, 2, true, 3},
		{"gap before after", func(l *recentLog) {
			l.add(ev(1))
			l.add(ev(4)) // 2 and 3 were discarded unseen
			l.add(ev(5))
		}, 1, false, 0},
		{"gap, resume after it", func(l *recentLog) {
			l.add(ev(1))
			l.add(ev(4))
			l.add(ev(5))
		}, 4, true, 1},
		{"malformed position is no gap", func(l *recentLog) {
			l.add(ev(1))
			l.skip(2)
			l.add(ev(3))
		}, 1, true, 1},
		{"evicted", func(l *recentLog) {
			for id := uint64(1); id <= 6; id++ {
				l.add(ev(id)) // capacity 4: 1 and 2 evicted
			}
		}, 1, false, 0},
		{"after past the position", func(l *recentLog) { l.add(ev(1)) }, 9, false, 0},
	}
	for _, tc := range cases {
		l := newRecentLog(4, 0)
		l.start(1)
		tc.feed(l)
		got, ok := l.replay("/contest/a", tc.after, l.last)
		if ok != tc.wantOK || len(got) != tc.want {
			t.Errorf("%s: replay = %d events, %v; want %d, %v", tc.name, len(got), ok, tc.want, tc.wantOK)
		}
	}
}

// TestPassedCountsLiveGaps: only positions after the node started
// (warmUntil) that the consumer jumped over count as skipped; gaps in the
// history read at warm-up, and malformed positions, do not.
func TestPassedCountsLiveGaps(t *testing.T) {
	cases := []struct {
		name      string
		warmFrom  uint64
		warmUntil uint64
		ids       []uint64
		want      uint64
	}{
		{"contiguous", 0, 3, []uint64{1, 2, 3, 4, 5}, 0},
		{"gap in the warm-up history", 0, 10, []uint64{4, 5, 10, 11}, 0},
		{"gap across warmUntil", 0, 5, []uint64{1, 2, 8}, 2}, // 6 and 7 were live
		{"live gaps add up", 2, 2, []uint64{3, 6, 7, 10}, 4}, // 4, 5, 8, 9
		{"first event after a discarded start", 0, 0, []uint64{5}, 4},
		{"older position replayed", 0, 0, []uint64{1, 2, 2, 3}, 0},
	}
	for _, tc := range cases {
		s := &Server{log: slog.New(slog.DiscardHandler), hub: newHub()}
		s.warmUntil.Store(tc.warmUntil)
		s.position = tc.warmFrom
		for _, id := range tc.ids {
			s.passed(id)
		}
		if got := s.Stats().PositionsSkipped; got != tc.want {
			t.Errorf("%s: skipped %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestRecentLogBudget: over its byte budget the log drops the channels
// updated least recently, whole, and then answers for them only what it
// can still prove: a resume older than anything dropped goes to the stream,
// on the dropped channel and on one that comes back.
func TestRecentLogBudget(t *testing.T) {
	ev := func(id uint64, ch string) *protocol.Event { return &protocol.Event{ID: id, Channel: ch} }
	cost := packedCost(packedLen(ev(1, "/contest/a")))
	l := newRecentLog(10, 3*cost) // three events fit
	l.start(1)
	l.add(ev(1, "/contest/a"))
	l.add(ev(2, "/contest/b"))
	l.add(ev(3, "/contest/a")) // a is now the most recent
	l.add(ev(4, "/contest/c")) // over budget: b, the least recent, goes
	if _, held := l.routes["/contest/b"]; held || l.size > l.budget {
		t.Fatalf("b held: %v, size %d of %d", held, l.size, l.budget)
	}
	check := func(route string, after uint64, wantOK bool, want int) {
		t.Helper()
		got, ok := l.replay(route, after, l.last)
		if ok != wantOK || len(got) != want {
			t.Errorf("replay(%s, after %d) = %d events, %v; want %d, %v", route, after, len(got), ok, want, wantOK)
		}
	}
	check("/contest/a", 0, true, 2)  // a kept both of its events
	check("/contest/b", 1, false, 0) // b's event 2 was dropped
	check("/contest/b", 2, true, 0)  // nothing after 2 on b
	check("/contest/z", 1, false, 0) // any absent channel: maybe dropped
	l.add(ev(5, "/contest/b"))       // b comes back (and a, now least recent, goes)
	check("/contest/b", 1, false, 0)
	check("/contest/b", 2, true, 1)
	check("/contest/c", 3, true, 1)
}

// TestThrottleForgetsIdleViews: views whose interval has passed with
// nothing held are forgotten once enough accumulate; a held update is
// never lost to the sweep.
func TestThrottleForgetsIdleViews(t *testing.T) {
	var sent []uint64
	th := newBoardThrottle(time.Second, func(ev *protocol.Event) { sent = append(sent, ev.ID) })
	t0 := time.Unix(1_700_000_000, 0)
	board := func(id uint64, user string) *protocol.Event {
		return &protocol.Event{ID: id, Type: protocol.TypeScoreboardUpdate, Channel: "/contest/a", User: user}
	}
	id := uint64(0)
	for i := range minSweep {
		id++
		th.route(board(id, fmt.Sprint("u", i)), t0) // each user's first view goes out at once
	}
	id++
	th.route(board(id, "u0"), t0) // within u0's interval: held
	th.mu.Lock()
	n := len(th.views)
	th.mu.Unlock()
	if n != minSweep || len(sent) != minSweep {
		t.Fatalf("%d views, %d sent; want %d and %d", n, len(sent), minSweep, minSweep)
	}
	id++
	th.route(board(id, "new"), t0.Add(2*time.Second)) // a new view past the others' interval: sweep
	th.mu.Lock()
	defer th.mu.Unlock()
	// u0 held an update when the sweep ran, so it stayed; the new view's
	// update then flushed it (ids stay in order): both went out.
	if _, kept := th.views[coalesceKey(board(0, "u0"), "/contest/a")]; !kept || len(th.views) != 2 {
		t.Fatalf("after the sweep: %d views, u0 kept: %v; want 2, true", len(th.views), kept)
	}
	if len(sent) != minSweep+2 || sent[minSweep] != id-1 || sent[minSweep+1] != id {
		t.Fatalf("sent %d updates ending %v; want %d ending %d, %d", len(sent), sent[max(0, len(sent)-2):], minSweep+2, id-1, id)
	}
}

// TestLatencyHistogram: an observation lands in the first bucket whose
// bound it does not exceed, past the last in +Inf.
func TestLatencyHistogram(t *testing.T) {
	cases := []struct {
		d    time.Duration
		slot int
	}{
		{0, 0},
		{500 * time.Microsecond, 0},
		{501 * time.Microsecond, 1},
		{25 * time.Millisecond, 7},
		{26 * time.Millisecond, 8},
		{5 * time.Second, len(LatencyBuckets) - 1},
		{time.Minute, len(LatencyBuckets)},
	}
	for _, tc := range cases {
		var h latencyHistogram
		h.observe(tc.d)
		if got := h.counts[tc.slot].Load(); got != 1 {
			t.Errorf("observe(%v): slot %d holds %d, want 1", tc.d, tc.slot, got)
		}
	}
}
