package broadcaster

import (
	"testing"

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
		l := newRecentLog(4)
		l.start(1)
		tc.feed(l)
		got, ok := l.replay("/contest/a", tc.after, l.last)
		if ok != tc.wantOK || len(got) != tc.want {
			t.Errorf("%s: replay = %d events, %v; want %d, %v", tc.name, len(got), ok, tc.want, tc.wantOK)
		}
	}
}
