package broadcaster

import (
	"slices"
	"testing"
)

// lruItem is a minimal lruList element for the tests.
type lruItem struct {
	name string
	lruLinks[lruItem]
}

func (i *lruItem) lru() *lruLinks[lruItem] { return &i.lruLinks }

// TestLRUList: pushes and removes at the front, the back and the middle
// keep both directions of the list in the same order, and a removed
// element keeps no links.
func TestLRUList(t *testing.T) {
	tests := []struct {
		name string
		ops  []string // "+x" pushes x at the back, "-x" removes x
		want []string // front to back
	}{
		{"empty", nil, nil},
		{"one", []string{"+a"}, []string{"a"}},
		{"order", []string{"+a", "+b", "+c"}, []string{"a", "b", "c"}},
		{"remove front", []string{"+a", "+b", "+c", "-a"}, []string{"b", "c"}},
		{"remove back", []string{"+a", "+b", "+c", "-c"}, []string{"a", "b"}},
		{"remove middle", []string{"+a", "+b", "+c", "-b"}, []string{"a", "c"}},
		{"remove the only one", []string{"+a", "-a"}, nil},
		{"touch moves to the back", []string{"+a", "+b", "+c", "-a", "+a"}, []string{"b", "c", "a"}},
		{"empty then refilled", []string{"+a", "+b", "-a", "-b", "+b", "+a"}, []string{"b", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l lruList[lruItem, *lruItem]
			items := map[string]*lruItem{}
			for _, op := range tt.ops {
				name := op[1:]
				it := items[name]
				if it == nil {
					it = &lruItem{name: name}
					items[name] = it
				}
				if op[0] == '+' {
					l.pushBack(it)
				} else {
					l.remove(it)
					if it.prev != nil || it.next != nil {
						t.Fatalf("%s: removed %s still has links", op, name)
					}
				}
			}
			var forward, backward []string
			for e := l.front; e != nil; e = e.next {
				forward = append(forward, e.name)
			}
			for e := l.back; e != nil; e = e.prev {
				backward = append(backward, e.name)
			}
			slices.Reverse(backward)
			if !slices.Equal(forward, tt.want) || !slices.Equal(backward, tt.want) {
				t.Fatalf("front to back %v, back to front reversed %v; want %v", forward, backward, tt.want)
			}
		})
	}
}
