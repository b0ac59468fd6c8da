package broadcaster

import (
	"context"
	"sync"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// snapshotLookback bounds how far back (in stream positions) a snapshot is
// searched in the stream when this node has not seen one itself yet.
const snapshotLookback = 20_000

// snapshotCache keeps, per routing channel, the newest scoreboard_update
// of each visibility class: public, owned by a user, and private without
// owner (admin view). It holds what the node consumed (and read at its
// warm-up) and what stream searches found.
//
// It is bounded by a byte budget: over it, the channels updated least
// recently are dropped whole, and gone remembers the newest id dropped per
// channel, so a later subscriber's search reaches back past it. searched
// remembers, per channel, the position a search covered: a channel with no
// scoreboard is searched once, not once per subscriber (a contest's
// subscribers all arrive before its first scoreboard).
type snapshotCache struct {
	budget int // bytes (eventCost) of the views held; <= 0: unbounded; static

	mu       sync.Mutex // guards the fields below
	routes   map[string]*routeSnaps
	lru      snapList // routes, least recently updated first
	size     int
	gone     map[string]uint64      // newest id dropped for the budget, by channel
	searched map[string]uint64      // position a stream search covered, by channel
	inflight map[string]*snapSearch // the channel's search in progress
}

// snapSearch is one stream search for a channel's snapshot, which the
// channel's other subscribers wait for rather than search themselves.
type snapSearch struct {
	done    chan struct{} // closed when the search ends
	err     error         // why it failed; written before done is closed
	waiters int           // subscribers waiting on it; guarded by snapshotCache.mu
}

// routeSnaps are one channel's views.
type routeSnaps struct {
	route         string
	public, admin *protocol.Event
	byUser        map[string]*protocol.Event
	size          int    // eventCost of the views held
	newest        uint64 // id of the newest view
	prev, next    *routeSnaps
}

func newSnapshotCache(budget int) *snapshotCache {
	return &snapshotCache{
		budget:   budget,
		routes:   make(map[string]*routeSnaps),
		gone:     make(map[string]uint64),
		searched: make(map[string]uint64),
		inflight: make(map[string]*snapSearch),
	}
}

// put keeps ev (a scoreboard_update) unless its view holds a newer one.
func (c *snapshotCache) put(ev *protocol.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(ev)
}

func (c *snapshotCache) putLocked(ev *protocol.Event) {
	r := c.routes[ev.Channel]
	if r == nil {
		r = &routeSnaps{route: ev.Channel}
		c.routes[ev.Channel] = r
	} else {
		c.lru.remove(r)
	}
	c.lru.pushBack(r)
	before := r.size
	r.put(ev)
	c.size += r.size - before
	for c.budget > 0 && c.size > c.budget && c.lru.front != r {
		c.dropLocked(c.lru.front)
	}
}

// dropLocked forgets a channel's views to stay within the budget.
func (c *snapshotCache) dropLocked(r *routeSnaps) {
	c.size -= r.size
	c.gone[r.route] = max(c.gone[r.route], r.newest)
	delete(c.searched, r.route) // what it found is gone too
	c.lru.remove(r)
	delete(c.routes, r.route)
}

// put keeps ev as its view's snapshot unless the view holds a newer one
// (a search can find older events than the node consumed).
func (r *routeSnaps) put(ev *protocol.Event) {
	var old *protocol.Event
	switch {
	case ev.Public:
		old = r.public
	case ev.User != "":
		old = r.byUser[ev.User]
	default:
		old = r.admin
	}
	if old != nil {
		if old.ID >= ev.ID {
			return
		}
		r.size -= eventCost(old)
	}
	switch {
	case ev.Public:
		r.public = ev
	case ev.User != "":
		if r.byUser == nil {
			r.byUser = make(map[string]*protocol.Event)
		}
		r.byUser[ev.User] = ev
	default:
		r.admin = ev
	}
	r.size += eventCost(ev)
	r.newest = max(r.newest, ev.ID)
}

// each calls fn for every view r holds.
func (r *routeSnaps) each(fn func(*protocol.Event)) {
	for _, ev := range []*protocol.Event{r.public, r.admin} {
		if ev != nil {
			fn(ev)
		}
	}
	for _, ev := range r.byUser {
		fn(ev)
	}
}

// latest returns the newest of r's views sub may see, or nil.
func (r *routeSnaps) latest(sub *subscription) *protocol.Event {
	if r == nil {
		return nil
	}
	var best *protocol.Event
	consider := func(ev *protocol.Event) {
		if ev != nil && sub.sees(ev) && (best == nil || ev.ID > best.ID) {
			best = ev
		}
	}
	consider(r.public)
	if sub.access == auth.AccessAll {
		consider(r.admin)
	}
	if sub.user != "" {
		consider(r.byUser[sub.user])
	}
	return best
}

// snapshotView reports whether ev is a scoreboard view sub's snapshot may
// be: one it may see, and, for admins (who see every view), the public or
// the admins' view (or their own), never another contestant's.
func snapshotView(sub *subscription, ev *protocol.Event) bool {
	if ev.Type != protocol.TypeScoreboardUpdate || !sub.sees(ev) {
		return false
	}
	return sub.access != auth.AccessAll || ev.Public || ev.User == "" || ev.User == sub.user
}

// snapshot finds the newest scoreboard_update that may be sub's snapshot
// (snapshotView): from the cache, which holds every view the node consumed
// since startID unless the budget dropped it; else from the stream, up to
// the newer of startID and what was dropped, searched once per channel.
func (s *Server) snapshot(ctx context.Context, sub *subscription, routeCh protocol.Channel, upTo uint64) (*protocol.Event, error) {
	c := s.snaps
	for {
		c.mu.Lock()
		if ev := c.routes[sub.route].latest(sub); ev != nil {
			c.mu.Unlock()
			return ev, nil
		}
		need := min(max(s.startID.Load(), c.gone[sub.route]), upTo)
		if need == 0 || c.searched[sub.route] >= need {
			c.mu.Unlock()
			return nil, nil
		}
		if wait, busy := c.inflight[sub.route]; busy {
			wait.waiters++
			c.mu.Unlock()
			select {
			case <-wait.done:
				if wait.err != nil {
					// The waiters share the failure: retrying one after
					// another would hold the last of them for as many
					// search timeouts as there were waiters.
					return nil, wait.err
				}
				continue // look again: the search may have found it
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		search := &snapSearch{done: make(chan struct{})}
		c.inflight[sub.route] = search
		c.mu.Unlock()

		var found routeSnaps // the newest of each view, as the stream has them
		_, err := s.opts.Bus.Latest(ctx, routeCh, need, snapshotLookback, func(ev *protocol.Event) bool {
			if ev.Type == protocol.TypeScoreboardUpdate {
				found.put(ev)
			}
			return false
		})
		c.mu.Lock()
		delete(c.inflight, sub.route)
		search.err = err
		close(search.done)
		if err != nil {
			c.mu.Unlock()
			return nil, err // the next subscriber to arrive searches again
		}
		found.each(c.putLocked)
		c.searched[sub.route] = max(c.searched[sub.route], need)
		ev := c.routes[sub.route].latest(sub)
		c.mu.Unlock()
		if ev != nil && !snapshotView(sub, ev) {
			ev = nil
		}
		return ev, nil
	}
}

// snapList is an intrusive doubly linked list of channels' views.
type snapList struct{ front, back *routeSnaps }

func (l *snapList) remove(r *routeSnaps) {
	if r.prev != nil {
		r.prev.next = r.next
	} else {
		l.front = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	} else {
		l.back = r.prev
	}
	r.prev, r.next = nil, nil
}

func (l *snapList) pushBack(r *routeSnaps) {
	r.prev, r.next = l.back, nil
	if l.back != nil {
		l.back.next = r
	} else {
		l.front = r
	}
	l.back = r
}
