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
type snapshotCache struct {
	mu     sync.Mutex // guards routes
	routes map[string]*routeSnaps
}

type routeSnaps struct {
	public, admin *protocol.Event
	byUser        map[string]*protocol.Event
}

func newSnapshotCache() *snapshotCache {
	return &snapshotCache{routes: make(map[string]*routeSnaps)}
}

func (c *snapshotCache) put(ev *protocol.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.routes[ev.Channel]
	if r == nil {
		r = &routeSnaps{}
		c.routes[ev.Channel] = r
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
}

// latest returns the newest cached snapshot sub may see, or nil.
func (c *snapshotCache) latest(sub *subscription) *protocol.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.routes[sub.route]
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
	from := s.startID.Load()
	if from > upTo {
		from = upTo
	}
	return s.opts.Bus.Latest(ctx, routeCh, from, snapshotLookback, func(ev *protocol.Event) bool {
		return snapshotView(sub, ev)
	})
}
