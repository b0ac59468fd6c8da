package broadcaster

import (
	"sync"
	"time"

	"github.com/arenacast/arenacast/protocol"
)

// recentLog keeps the newest events of every routing channel this node
// consumed, so that most resumes (a laptop waking up, a client moving to
// another node) are answered from memory instead of a JetStream consumer
// per client: a reconnect storm after a node restart must not become a
// storm of stream consumers.
//
// The log is complete from a known position: the node routed every event
// with id >= from, and each channel's ring remembers the newest id it had
// to evict. A resume after id `after` is answered here only when no event
// it needs can be missing.
//
// The log is bounded per channel (perRoute events) and in total: in bytes
// (budget) and in channels (maxRoutes). Over either, the channels updated
// least recently are dropped whole; sweep also drops the channels idle for
// long without subscribers. Resumes on a channel the log no longer holds go
// to the stream unless they are newer than anything dropped; so a node
// serving many contests over weeks does not keep every channel it ever saw.
type recentLog struct {
	perRoute  int // ring capacity; static
	budget    int // total bytes held (packedCost), static; <= 0: unbounded
	maxRoutes int // rings held at most; static after New; <= 0: unbounded
	// now is the clock that dates each ring's last event (for sweep);
	// evicted counts the rings dropped. Static after New; may be nil.
	now     func() time.Time
	evicted *evictCounts

	mu     sync.RWMutex // guards the fields below
	from   uint64       // every event with id >= from was added
	last   uint64       // the newest position seen
	routes map[string]*eventRing
	// lru lists the rings from least to most recently added to; size is
	// the packedCost of everything held; dropped is the newest id of any
	// ring dropped to stay within the budget.
	lru     lruList[eventRing, *eventRing]
	size    int
	dropped uint64
}

// eventRing is a fixed-capacity ring of one channel's newest events.
type eventRing struct {
	route   string
	evs     [][]byte // packed events (packEvent), circular; len(evs) == capacity once full
	head    int      // index of the oldest event when full
	evicted uint64   // id of the newest event evicted (0: none)
	newest  uint64   // id of the newest event
	at      int64    // when the newest event was added (unix nanos; 0 without a clock)

	lruLinks[eventRing] // in recentLog.lru
}

// packedCost approximates the memory an event in the log holds, packed
// into n bytes (recent_pack.go): the buffer, its ring slot and the
// allocator's rounding.
func packedCost(n int) int { return n + 48 }

// heldEventCost approximates the memory a *protocol.Event held as such
// (the snapshot cache's opaque views) keeps alive: the stored message its
// data is a slice of (protocol.DecodeEventKeep: data, channel, type, user
// and the object around them), the channel's own copy, and the Event.
func heldEventCost(ev *protocol.Event) int {
	return len(ev.Data) + 2*len(ev.Channel) + len(ev.Type) + len(ev.User) + 256
}

func newRecentLog(perRoute, budget int) *recentLog {
	return &recentLog{perRoute: perRoute, budget: budget, routes: make(map[string]*eventRing)}
}

// lru gives recentLog.lru the ring's links.
func (r *eventRing) lru() *lruLinks[eventRing] { return &r.lruLinks }

// start sets the position from which the log is complete.
func (l *recentLog) start(from uint64) {
	l.mu.Lock()
	l.from = from
	l.last = from - 1
	l.mu.Unlock()
}

// seenLocked records that the consumer passed position id. Positions are
// contiguous stream sequences; a jump means the stream discarded events
// before this node read them (it lagged behind the retention limits), so
// the log is complete only from id on.
func (l *recentLog) seenLocked(id uint64) {
	if id != l.last+1 {
		l.from = id
	}
	l.last = id
}

// skip records a position that held no valid event (malformed): the log
// stays complete across it.
func (l *recentLog) skip(id uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id > l.last {
		l.seenLocked(id)
	}
}

// add appends ev (events arrive in id order).
func (l *recentLog) add(ev *protocol.Event) {
	if l.perRoute <= 0 {
		return
	}
	b := packEvent(ev) // outside the lock: resumes read under it
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seenLocked(ev.ID)
	r := l.routes[ev.Channel]
	if r == nil {
		// A channel dropped earlier may be coming back: its old events are
		// gone, and all that is known is that none is newer than dropped.
		r = &eventRing{route: ev.Channel, evs: make([][]byte, 0, min(l.perRoute, 16)), evicted: l.dropped}
		l.routes[ev.Channel] = r
	} else {
		l.lru.remove(r)
	}
	l.lru.pushBack(r)
	r.newest = ev.ID
	if l.now != nil {
		r.at = l.now().UnixNano()
	}
	l.size += packedCost(len(b))
	if len(r.evs) < l.perRoute {
		r.evs = append(r.evs, b)
	} else {
		old := r.evs[r.head]
		l.size -= packedCost(len(old))
		r.evicted = packedID(old)
		r.evs[r.head] = b
		r.head = (r.head + 1) % len(r.evs)
	}
	for l.budget > 0 && l.size > l.budget && l.lru.front != r {
		l.dropLocked(l.lru.front, EvictBytes)
	}
	for l.maxRoutes > 0 && len(l.routes) > l.maxRoutes && l.lru.front != r {
		l.dropLocked(l.lru.front, EvictCount)
	}
}

// sweep drops the rings whose newest event was added before the unix
// nanosecond before, except those of channels inUse reports (subscribers
// on this node, whose resumes the log is for). It returns how many it
// dropped.
func (l *recentLog) sweep(before int64, inUse func(route string) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for r := l.lru.front; r != nil && r.at < before; {
		next := r.next
		if inUse == nil || !inUse(r.route) {
			l.dropLocked(r, EvictIdle)
			n++
		}
		r = next
	}
	l.routes = shrunk(l.routes, n)
	return n
}

// count is the number of rings held.
func (l *recentLog) count() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.routes)
}

// dropLocked forgets a whole ring to stay within the bounds.
func (l *recentLog) dropLocked(r *eventRing, why EvictReason) {
	l.evicted.add(why, 1)
	for _, b := range r.evs {
		l.size -= packedCost(len(b))
	}
	l.dropped = max(l.dropped, r.newest)
	l.lru.remove(r)
	delete(l.routes, r.route)
}

// replay returns the events of route with after < id <= upTo, oldest
// first, and whether the log is sure they are all of them. Each call
// unpacks events of its own, which share only the packed bytes.
func (l *recentLog) replay(route string, after, upTo uint64) ([]*protocol.Event, bool) {
	if l.perRoute <= 0 {
		return nil, false
	}
	picked, ok := l.pick(route, after, upTo)
	// Unpack after the lock: a resume storm's allocations must not hold up
	// add (the node's consumer). Packed buffers are never changed.
	var out []*protocol.Event
	if len(picked) > 0 {
		out = make([]*protocol.Event, len(picked))
		for i, b := range picked {
			out[i] = unpackEvent(b)
		}
	}
	return out, ok
}

// pick is replay's part under the lock: the packed events it returns.
func (l *recentLog) pick(route string, after, upTo uint64) ([][]byte, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.from == 0 || after+1 < l.from || after > upTo {
		return nil, false
	}
	r := l.routes[route]
	if r == nil {
		// Nothing on this channel since from, unless a ring was dropped
		// for the budget: then only a client past everything dropped is
		// sure to have missed nothing.
		return nil, after >= l.dropped
	}
	if after < r.evicted {
		return nil, false
	}
	var picked [][]byte
	n := len(r.evs)
	for i := 0; i < n; i++ {
		b := r.evs[(r.head+i)%n]
		if id := packedID(b); id > after && id <= upTo {
			picked = append(picked, b)
		}
	}
	return picked, true
}
