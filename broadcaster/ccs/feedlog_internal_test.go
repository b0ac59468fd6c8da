package ccs

import (
	"slices"
	"testing"
)

// TestFeedLogTrim: positions in a contest's log stay valid across a trim:
// a reader at or ahead of it goes on where it was, one behind it is told it
// missed entries, and since_token lookups land on the same entries.
func TestFeedLogTrim(t *testing.T) {
	l := &feedLog{grew: make(chan struct{})}
	for id := uint64(1); id <= 5; id++ {
		l.add(entry{id: id})
	}
	ids := func(es []entry) []uint64 {
		var out []uint64
		for _, e := range es {
			out = append(out, e.id)
		}
		return out
	}
	at := l.index(2)    // a reader that has sent 1 and 2
	ahead := l.index(3) // and one that has sent 3 too
	if n := l.trim(3); n != 2 {
		t.Fatalf("trim(3) dropped %d, want 2", n)
	}
	for _, tc := range []struct {
		name     string
		pos      int
		want     []uint64
		wantNext int
		wantOK   bool
	}{
		{"reader at the trim", at, []uint64{3, 4, 5}, 5, true},
		{"reader ahead of the trim", ahead, []uint64{4, 5}, 5, true},
		{"reader behind the trim", 1, nil, 1, false},
		{"since_token 0", l.index(0), []uint64{3, 4, 5}, 5, true},
		{"since_token 4", l.index(4), []uint64{5}, 5, true},
		{"at the end", l.index(5), nil, 5, true},
	} {
		es, next, _, ok := l.after(tc.pos)
		if got := ids(es); !slices.Equal(got, tc.want) || next != tc.wantNext || ok != tc.wantOK {
			t.Errorf("%s: after(%d) = %v, next %d, ok %v; want %v, %d, %v", tc.name, tc.pos, got, next, ok, tc.want, tc.wantNext, tc.wantOK)
		}
	}
	if holds, trimmed := l.held(); !holds || trimmed != 2 {
		t.Errorf("held() = %v, %d; want true, 2", holds, trimmed)
	}
	if n := l.trim(3); n != 0 {
		t.Errorf("trim(3) again dropped %d", n)
	}
	if n := l.trim(100); n != 3 {
		t.Errorf("trim(100) dropped %d, want 3", n)
	}
	l.add(entry{id: 101})
	if es, next, _, ok := l.after(5); !ok || !slices.Equal(ids(es), []uint64{101}) || next != 6 {
		t.Errorf("after a full trim and one more entry: %v, next %d", ids(es), next)
	}
}
