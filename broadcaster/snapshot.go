package broadcaster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/arenacast/arenacast/broadcaster/board"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// boardLookback bounds how far back (in stream positions) a channel's
// scoreboards are searched in the stream when this node has not seen them
// itself: far enough for a keyed board published at a contest's start.
// The search reads only the channel's own subject.
const boardLookback = 1_000_000

// snapshotCache keeps, per routing channel, the state of each scoreboard
// view (public, a user's own, the admins'): the newest opaque
// scoreboard_update, or, for a keyed board (docs/protocol.md section 8),
// the board itself with the patches after it folded in. It holds what the
// node consumed (and read at its warm-up) and what stream searches found.
//
// It is bounded by a byte budget: over it, the views of the channels
// updated least recently are dropped (unless this node has subscribers on
// them), and the channel's entry remembers the newest id dropped (gone),
// so a later subscriber's search reaches back past it. Each entry also
// remembers the position a search covered (searched): a channel with no
// scoreboard is searched once, not once per subscriber (a contest's
// subscribers all arrive before its first scoreboard).
//
// It is bounded in entries too (maxRoutes), and sweep forgets the entries
// of channels idle for long: a channel forgotten whole leaves only floor,
// the newest id of any channel forgotten, which every channel the cache
// holds no entry for must be searched past (as recentLog.dropped). So
// forgetting costs a search, never a wrong snapshot.
type snapshotCache struct {
	budget    int // bytes (heldEventCost, Board.Size) of the views held; <= 0: unbounded; static
	maxRoutes int // entries held at most (channels with subscribers excepted); <= 0: unbounded; static after New
	// inUse reports whether the node has subscribers on a routing channel
	// (whose boards are not dropped for the budget); nil: none ever. Static.
	inUse func(route string) bool
	// now dates each entry's last update (for sweep); evicted counts the
	// entries dropped. Static after New; may be nil.
	now     func() time.Time
	evicted *evictCounts

	mu       sync.Mutex // guards the fields below
	routes   map[string]*routeSnaps
	lru      lruList[routeSnaps, *routeSnaps] // routes, least recently updated first
	size     int
	floor    uint64                 // newest id of the channels forgotten whole (gone of those without an entry)
	inflight map[string]*snapSearch // the channel's search in progress
	startID  func() uint64          // the position the node's consumer started after
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
	route  string
	views  map[string]*viewState // by protocol.Event.ViewName
	size   int                   // bytes of the views held
	newest uint64                // id of the newest view
	// skipped is the newest board event of this channel that the consumer
	// could not apply (a patch for a view whose board this node does not
	// have): a search that rebuilds the boards must reach it.
	skipped uint64
	// gone is the newest id whose views the cache dropped (or may have
	// never seen, for an entry made after others were forgotten: floor);
	// searched, the position a stream search covered since.
	gone, searched       uint64
	at                   int64 // when the entry was last updated (unix nanos; 0 without a clock)
	lruLinks[routeSnaps]       // in snapshotCache.lru
}

// viewState is one view: an opaque scoreboard (ev) or a keyed board (kv).
type viewState struct {
	ev *protocol.Event
	kv *keyedView
}

func (v *viewState) id() uint64 {
	if v.kv != nil {
		return v.kv.version
	}
	return v.ev.ID
}

func (v *viewState) cost() int {
	if v.kv != nil {
		return v.kv.b.Size()
	}
	return heldEventCost(v.ev)
}

// keyedView is a keyed board and what its deliveries need.
type keyedView struct {
	b *board.Board
	// like is the event that started the board: its channel, public and
	// user make the synthesized snapshot events.
	like    protocol.Event
	version uint64 // id of the last event folded in
	ts      int64  // that event's Timestamp and StoredAt
	stored  int64
	// from: every patch of this view after it is in the node's recent log
	// in the delivered form (the board was consumed, not rebuilt, since).
	// whole: from is the id of the whole board this node consumed, so a
	// history that holds it holds the board too.
	from  uint64
	whole bool
	snap  *protocol.Event // the board at version, encoded; nil until asked for
}

// newView makes the state a scoreboard_update starts for its view: a
// keyed board, or the opaque update itself (carrying jitterMS). It fills
// ev.View. An error: a board with row_key that breaks the rules.
func newView(ev *protocol.Event, jitterMS int) (*viewState, error) {
	ev.View = ev.ViewName()
	b, err := board.Parse(ev.Data)
	switch {
	case errors.Is(err, board.ErrNotKeyed):
		ev.JitterMS = jitterMS
		return &viewState{ev: ev}, nil
	case err != nil:
		return nil, err
	}
	kv := &keyedView{b: b, like: *ev, from: ev.ID, whole: true}
	kv.like.Data = nil
	kv.advance(ev)
	return &viewState{kv: kv}, nil
}

// advance records ev as the last event folded into the board.
func (kv *keyedView) advance(ev *protocol.Event) {
	kv.version, kv.ts, kv.stored, kv.snap = ev.ID, ev.Timestamp, ev.StoredAt, nil
}

// snapshot returns the board at its version as a scoreboard_update.
func (kv *keyedView) snapshot() *protocol.Event {
	if kv.snap == nil {
		ev := kv.like
		ev.Type = protocol.TypeScoreboardUpdate
		ev.ID, ev.Timestamp, ev.StoredAt = kv.version, kv.ts, kv.stored
		ev.Data = kv.b.Encode()
		ev.View = ev.ViewName()
		ev.Base, ev.JitterMS = 0, 0
		kv.snap = &ev
	}
	return kv.snap
}

func newSnapshotCache(budget int, startID func() uint64, inUse func(string) bool) *snapshotCache {
	return &snapshotCache{
		budget:   budget,
		inUse:    inUse,
		startID:  startID,
		routes:   make(map[string]*routeSnaps),
		inflight: make(map[string]*snapSearch),
	}
}

// errBoardUnknown is consume's answer for a patch whose view's board this
// node does not have and cannot tell is missing (it predates what the node
// read): not delivered, not malformed; a search rebuilds the board.
var errBoardUnknown = errors.New("the view's board is not on this node")

// consume folds a board event the consumer took off the stream into its
// view, filling ev.View (and Base, and the delivered Data of a patch, or
// JitterMS of an opaque update). An error means ev must not be delivered:
// errBoardUnknown, or a refused board or patch (wrapping board.ErrBad).
func (c *snapshotCache) consume(ev *protocol.Event, jitterMS int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev.View = ev.ViewName()
	r := c.routes[ev.Channel]
	var vs *viewState
	if r != nil {
		vs = r.views[ev.View]
	}
	if ev.Type == protocol.TypeScoreboardUpdate {
		nv, err := newView(ev, jitterMS)
		if err != nil {
			return err
		}
		c.putLocked(ev.Channel, ev.View, nv)
		return nil
	}
	switch {
	case vs != nil && vs.kv != nil:
		kv := vs.kv
		before := kv.b.Size()
		delivered, err := kv.b.Apply(ev.Data)
		if err != nil {
			return err
		}
		ev.Data = delivered
		ev.Base = kv.version
		kv.advance(ev)
		r.size += kv.b.Size() - before
		c.size += kv.b.Size() - before
		r.newest = max(r.newest, ev.ID)
		c.touchLocked(r)
		return nil
	case vs != nil:
		return fmt.Errorf("%w: view %s has an opaque scoreboard, not a keyed board", board.ErrBad, ev.View)
	case c.completeLocked(ev.Channel):
		return fmt.Errorf("%w: view %s has no keyed board to patch", board.ErrBad, ev.View)
	}
	if r == nil {
		r = c.entryLocked(ev.Channel)
	}
	r.skipped = max(r.skipped, ev.ID)
	c.touchLocked(r)
	return errBoardUnknown
}

// boardAt returns view's keyed board of route as a scoreboard_update if
// it is at version id, else nil (the consumer moved on, or the budget
// dropped it).
func (c *snapshotCache) boardAt(route, view string, id uint64) *protocol.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.routes[route]; r != nil {
		if vs := r.views[view]; vs != nil && vs.kv != nil && vs.kv.version == id {
			return vs.kv.snapshot()
		}
	}
	return nil
}

// check tells a publisher at once whether a board event fits the state
// this node holds: a keyed board that breaks the rules, a patch that does
// not apply to its view's board, or a patch for a view this node knows has
// no keyed board. Where the node cannot tell, it accepts: every node
// checks again as it consumes.
func (c *snapshotCache) check(ev *protocol.Event) error {
	if ev.Type == protocol.TypeScoreboardUpdate {
		if _, err := board.Parse(ev.Data); err != nil && !errors.Is(err, board.ErrNotKeyed) {
			return err
		}
		return nil
	}
	if err := board.CheckPatch(ev.Data); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var vs *viewState
	if r := c.routes[ev.Channel]; r != nil {
		vs = r.views[ev.ViewName()]
	}
	switch {
	case vs != nil && vs.kv != nil:
		return vs.kv.b.Check(ev.Data)
	case vs != nil:
		return fmt.Errorf("%w: view %s has an opaque scoreboard, not a keyed board", board.ErrBad, ev.ViewName())
	case c.completeLocked(ev.Channel):
		return fmt.Errorf("%w: view %s has no keyed board to patch; publish a scoreboard_update with row_key first", board.ErrBad, ev.ViewName())
	}
	return nil
}

// completeLocked reports whether the cache knows every view of route
// there is: it has seen everything after the consumer's start (or a search
// covered that) and dropped nothing since.
func (c *snapshotCache) completeLocked(route string) bool {
	gone, searched := c.floor, uint64(0)
	if r := c.routes[route]; r != nil {
		gone, searched = r.gone, r.searched
	}
	need := max(c.startID(), gone)
	return need == 0 || searched >= need
}

// entryLocked returns route's entry, making it (at the back of the LRU
// list; the caller touches it) if there is none: a channel the cache may
// have forgotten starts from floor.
func (c *snapshotCache) entryLocked(route string) *routeSnaps {
	r := c.routes[route]
	if r == nil {
		r = &routeSnaps{route: route, gone: c.floor}
		c.routes[route] = r
		c.lru.pushBack(r)
	}
	return r
}

// putLocked installs vs as a view of route unless the view holds a newer
// state (a search can find older events than the node consumed).
func (c *snapshotCache) putLocked(route, view string, vs *viewState) {
	r := c.entryLocked(route)
	if r.views == nil {
		r.views = make(map[string]*viewState)
	}
	if old := r.views[view]; old != nil {
		if old.id() >= vs.id() {
			return
		}
		r.size -= old.cost()
		c.size -= old.cost()
	}
	r.views[view] = vs
	r.size += vs.cost()
	c.size += vs.cost()
	r.newest = max(r.newest, vs.id())
	c.touchLocked(r)
}

// touchLocked marks r as updated now, then, while over the budget or the
// entry count, drops the views (budget) or the whole entries (count) of
// the channels updated least recently: never r itself, nor a channel this
// node has subscribers on.
func (c *snapshotCache) touchLocked(r *routeSnaps) {
	if c.now != nil {
		r.at = c.now().UnixNano()
	}
	c.lru.remove(r)
	c.lru.pushBack(r)
	for victim := c.lru.front; victim != nil && victim != r; {
		overBytes := c.budget > 0 && c.size > c.budget
		overCount := c.maxRoutes > 0 && len(c.routes) > c.maxRoutes
		if !overBytes && !overCount {
			break
		}
		next := victim.next
		if c.inUse == nil || !c.inUse(victim.route) {
			switch {
			case overCount:
				c.forgetLocked(victim, EvictCount)
			case len(victim.views) > 0:
				c.dropLocked(victim)
			}
		}
		victim = next
	}
}

// dropLocked forgets a channel's views to stay within the budget; its
// entry stays, remembering what a search must reach.
func (c *snapshotCache) dropLocked(r *routeSnaps) {
	c.evicted.add(EvictBytes, 1)
	c.size -= r.size
	r.gone = max(r.gone, r.newest, r.skipped)
	r.searched = 0 // what it found is gone too
	r.views, r.size = nil, 0
}

// forgetLocked drops a channel's entry whole; floor keeps what a search
// for it must reach.
func (c *snapshotCache) forgetLocked(r *routeSnaps, why EvictReason) {
	c.evicted.add(why, 1)
	c.size -= r.size
	c.floor = max(c.floor, r.gone, r.newest, r.skipped)
	c.lru.remove(r)
	delete(c.routes, r.route)
}

// sweep forgets the entries last updated before the unix nanosecond
// before, except channels this node has subscribers on. It returns how
// many it forgot.
func (c *snapshotCache) sweep(before int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for r := c.lru.front; r != nil && r.at < before; {
		next := r.next
		if c.inUse == nil || !c.inUse(r.route) {
			c.forgetLocked(r, EvictIdle)
			n++
		}
		r = next
	}
	c.routes = shrunk(c.routes, n)
	return n
}

// count is the number of channels the cache holds an entry for.
func (c *snapshotCache) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.routes)
}

// visible returns the views of r that may be sub's snapshot (snapshotView),
// oldest first.
func (r *routeSnaps) visible(sub *subscription) []*viewState {
	if r == nil {
		return nil
	}
	var out []*viewState
	consider := func(name string) {
		if vs := r.views[name]; vs != nil && sub.sees(vs.like()) {
			out = append(out, vs)
		}
	}
	consider("public")
	if sub.access == auth.AccessAll {
		consider("admin")
	}
	if sub.user != "" {
		consider("user:" + sub.user)
	}
	slices.SortFunc(out, func(a, b *viewState) int { return cmp.Compare(a.id(), b.id()) })
	return out
}

// like is an event with the view's visibility (for CanSee).
func (v *viewState) like() *protocol.Event {
	if v.kv != nil {
		return &v.kv.like
	}
	return v.ev
}

// snapshotEvent is the view as a delivered scoreboard_update.
func (v *viewState) snapshotEvent() *protocol.Event {
	if v.kv != nil {
		return v.kv.snapshot()
	}
	return v.ev
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

// boardViews is what catchUp needs of a channel's scoreboards for one
// subscriber: the views it may see, as snapshot events, and, for keyed
// boards, from which id on their patches are in the recent log.
type boardViews struct {
	snaps []*protocol.Event    // oldest first
	keyed map[string]keyedFrom // for keyed views, by view
}

// keyedFrom is what a catch-up needs of a keyed view: from which id on
// its patches are in the recent log, and whether that id is the view's
// whole board (keyedView.from, .whole).
type keyedFrom struct {
	from  uint64
	whole bool
}

// newest is the newest snapshot, or nil.
func (b *boardViews) newest() *protocol.Event {
	if len(b.snaps) == 0 {
		return nil
	}
	return b.snaps[len(b.snaps)-1]
}

// views returns sub's scoreboard views of its channel (see boardViews):
// from the cache, which holds every view the node consumed since startID
// unless the budget dropped it; else, once per channel, from the stream,
// which a search reads up to the node's position so that keyed boards come
// back whole with their patches folded in.
func (s *Server) boardViews(ctx context.Context, sub *subscription, routeCh protocol.Channel, upTo uint64) (*boardViews, error) {
	c := s.snaps
	for {
		c.mu.Lock()
		r := c.routes[sub.route]
		if c.completeLocked(sub.route) && (r == nil || r.skipped <= r.searched) {
			out := collectViews(r, sub)
			c.mu.Unlock()
			return out, nil
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

		covered, err := s.searchBoards(ctx, sub.route, routeCh, upTo)
		c.mu.Lock()
		delete(c.inflight, sub.route)
		search.err = err
		close(search.done)
		if err != nil {
			c.mu.Unlock()
			return nil, err // the next subscriber to arrive searches again
		}
		r = c.entryLocked(sub.route)
		r.searched = max(r.searched, covered)
		c.touchLocked(r)
		c.mu.Unlock()
	}
}

// collectViews reads sub's views of r under the cache's lock.
func collectViews(r *routeSnaps, sub *subscription) *boardViews {
	out := &boardViews{}
	for _, vs := range r.visible(sub) {
		ev := vs.snapshotEvent()
		if !snapshotView(sub, ev) {
			continue
		}
		out.snaps = append(out.snaps, ev)
		if vs.kv != nil {
			if out.keyed == nil {
				out.keyed = make(map[string]keyedFrom)
			}
			out.keyed[ev.View] = keyedFrom{vs.kv.from, vs.kv.whole}
		}
	}
	return out
}

// searchBoards reads route's board events from the stream, up to the
// node's position and at least upTo, folds them into views (a keyed board
// and its patches; the newest opaque update) and installs the views the
// cache lacks. It returns the position it covered. Patches the consumer
// skips meanwhile (their board was not here yet) are read too: the search
// goes on until it has reached every one.
func (s *Server) searchBoards(ctx context.Context, route string, routeCh protocol.Channel, upTo uint64) (uint64, error) {
	c := s.snaps
	found := make(map[string]*viewState)
	fold := func(ev *protocol.Event) bool {
		if !protocol.BoardType(ev.Type) {
			return false
		}
		view := ev.ViewName()
		if ev.Type == protocol.TypeScoreboardUpdate {
			if nv, err := newView(ev, s.jitterMS()); err == nil {
				found[view] = nv
			}
			return false
		}
		if vs := found[view]; vs != nil && vs.kv != nil {
			if _, err := vs.kv.b.Apply(ev.Data); err == nil {
				vs.kv.advance(ev)
			}
		}
		return false
	}
	from := uint64(0) // scan everything the lookback allows, then only what is new
	for range 10 {
		c.mu.Lock()
		if r := c.routes[route]; r != nil {
			upTo = max(upTo, r.skipped) // consumed, so stored
		}
		c.mu.Unlock()
		upTo = max(upTo, s.stats.lastConsumed.Load())
		limit := boardLookback
		if from > 0 {
			limit = int(upTo - from)
		}
		if limit > 0 {
			if _, err := s.opts.Bus.Latest(ctx, routeCh, upTo, limit, fold); err != nil {
				return 0, err
			}
		}
		from = upTo
		c.mu.Lock()
		r := c.routes[route]
		if r != nil && r.skipped > upTo {
			c.mu.Unlock()
			continue // the consumer skipped patches past what was read
		}
		for view, vs := range found {
			if vs.kv != nil {
				vs.kv.from, vs.kv.whole = upTo, false // its patches up to here are not in the recent log
			}
			c.putLocked(route, view, vs)
		}
		c.mu.Unlock()
		return upTo, nil
	}
	return 0, errors.New("scoreboard search: the stream kept moving past the search")
}

// lru gives snapshotCache.lru the entry's links.
func (r *routeSnaps) lru() *lruLinks[routeSnaps] { return &r.lruLinks }
