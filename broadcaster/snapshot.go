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
// this node consumed for each visibility class: public, owned by a user,
// and private without owner (admin view).
//
// It also remembers, per routing channel, the newest views stored before
// the node's warm-up window (older), searched in the stream once per
// channel on first demand: without it, every subscriber of a contest that
// has no scoreboard yet would cost a JetStream search.
type snapshotCache struct {
	mu     sync.Mutex // guards routes and older
	routes map[string]*routeSnaps
	older  map[string]*olderSearch
}

// olderSearch is one channel's search of the stream before the warm-up
// window. done is closed when snaps and err are set.
type olderSearch struct {
	done  chan struct{}
	snaps routeSnaps
	err   error
}

type routeSnaps struct {
	public, admin *protocol.Event
	byUser        map[string]*protocol.Event
}

func newSnapshotCache() *snapshotCache {
	return &snapshotCache{routes: make(map[string]*routeSnaps), older: make(map[string]*olderSearch)}
}

func (c *snapshotCache) put(ev *protocol.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.routes[ev.Channel]
	if r == nil {
		r = &routeSnaps{}
		c.routes[ev.Channel] = r
	}
	r.put(ev)
}

// put keeps ev as the newest of its view; events arrive in stream order.
func (r *routeSnaps) put(ev *protocol.Event) {
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
}

// latest returns the newest cached snapshot sub may see, or nil.
func (c *snapshotCache) latest(sub *subscription) *protocol.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.routes[sub.route].latest(sub)
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

// snapshot finds the newest scoreboard_update with id <= upTo that may be
// sub's snapshot (snapshotView):
// from the cache when this node saw one since it started, else from the
// stream.
func (s *Server) snapshot(ctx context.Context, sub *subscription, routeCh protocol.Channel, upTo uint64) (*protocol.Event, error) {
	if ev := s.snaps.latest(sub); ev != nil {
		return ev, nil
	}
	// The cache has seen every event after startID; only older ones need
	// the stream, searched once per channel.
	from := min(s.startID.Load(), upTo)
	if from == 0 {
		return nil, nil
	}
	older, err := s.snaps.olderViews(ctx, sub.route, func() (routeSnaps, error) {
		var r routeSnaps
		_, err := s.opts.Bus.Latest(ctx, routeCh, from, snapshotLookback, func(ev *protocol.Event) bool {
			if ev.Type == protocol.TypeScoreboardUpdate {
				r.put(ev)
			}
			return false
		})
		return r, err
	})
	if err != nil {
		return nil, err
	}
	ev := older.latest(sub)
	if ev != nil && !snapshotView(sub, ev) {
		ev = nil
	}
	return ev, nil
}

// olderViews returns route's views stored before the warm-up window,
// calling search for the first caller only; callers arriving meanwhile
// wait for its result. A failed search is forgotten, so the next
// subscriber tries again.
func (c *snapshotCache) olderViews(ctx context.Context, route string, search func() (routeSnaps, error)) (*routeSnaps, error) {
	c.mu.Lock()
	o, found := c.older[route]
	if !found {
		o = &olderSearch{done: make(chan struct{})}
		c.older[route] = o
	}
	c.mu.Unlock()
	if found {
		select {
		case <-o.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if o.err != nil {
			return nil, o.err
		}
		return &o.snaps, nil
	}
	o.snaps, o.err = search()
	if o.err != nil {
		c.mu.Lock()
		delete(c.older, route)
		c.mu.Unlock()
	}
	close(o.done)
	if o.err != nil {
		return nil, o.err
	}
	return &o.snaps, nil
}
