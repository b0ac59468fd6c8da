package broadcaster

// lruLinks are an element's links in an lruList; an element type embeds
// them (so its prev and next are fields of its own) and returns them from
// its lru method.
type lruLinks[T any] struct{ prev, next *T }

// lruElem is what an lruList holds: a pointer to a type with lruLinks.
type lruElem[T any] interface {
	*T
	lru() *lruLinks[T]
}

// lruList is an intrusive doubly linked list, least recently used first:
// the recent log's rings and the snapshot cache's channels, each evicted
// from the front. The zero value is empty. It is not safe for concurrent
// use; its owner's mutex guards it.
type lruList[T any, P lruElem[T]] struct{ front, back *T }

// remove unlinks e, which must be in l.
func (l *lruList[T, P]) remove(e P) {
	k := e.lru()
	if k.prev != nil {
		P(k.prev).lru().next = k.next
	} else {
		l.front = k.next
	}
	if k.next != nil {
		P(k.next).lru().prev = k.prev
	} else {
		l.back = k.prev
	}
	k.prev, k.next = nil, nil
}

// pushBack links e, which must not be in l, at the back (most recent).
func (l *lruList[T, P]) pushBack(e P) {
	k := e.lru()
	k.prev, k.next = l.back, nil
	if l.back != nil {
		P(l.back).lru().next = (*T)(e)
	} else {
		l.front = (*T)(e)
	}
	l.back = (*T)(e)
}
