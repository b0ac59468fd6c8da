package broadcaster

import (
	"sync"

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
type recentLog struct {
	perRoute int // ring capacity; static

	mu     sync.RWMutex // guards the fields below
	from   uint64       // every event with id >= from was added
	last   uint64       // the newest position seen
	routes map[string]*eventRing
}

// eventRing is a fixed-capacity ring of one channel's newest events.
type eventRing struct {
	evs     []*protocol.Event // circular; len(evs) == capacity once full
	head    int               // index of the oldest event when full
	evicted uint64            // id of the newest event evicted (0: none)
}

func newRecentLog(perRoute int) *recentLog {
	return &recentLog{perRoute: perRoute, routes: make(map[string]*eventRing)}
}

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
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seenLocked(ev.ID)
	r := l.routes[ev.Channel]
	if r == nil {
		r = &eventRing{evs: make([]*protocol.Event, 0, min(l.perRoute, 16))}
		l.routes[ev.Channel] = r
	}
	if len(r.evs) < l.perRoute {
		r.evs = append(r.evs, ev)
		return
	}
	r.evicted = r.evs[r.head].ID
	r.evs[r.head] = ev
	r.head = (r.head + 1) % len(r.evs)
}

// replay returns the events of route with after < id <= upTo, oldest
// first, and whether the log is sure they are all of them.
func (l *recentLog) replay(route string, after, upTo uint64) ([]*protocol.Event, bool) {
	if l.perRoute <= 0 {
		return nil, false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.from == 0 || after+1 < l.from || after > upTo {
		return nil, false
	}
	r := l.routes[route]
	if r == nil {
		return nil, true // nothing on this channel since from
	}
	if after < r.evicted {
		return nil, false
	}
	var out []*protocol.Event
	n := len(r.evs)
	for i := 0; i < n; i++ {
		ev := r.evs[(r.head+i)%n]
		if ev.ID > after && ev.ID <= upTo {
			out = append(out, ev)
		}
	}
	return out, true
}
