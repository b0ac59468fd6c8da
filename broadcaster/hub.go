package broadcaster

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster/presence"
	"github.com/arenacast/arenacast/protocol"
)

// hubShards is the number of independently locked parts of the hub. Joins
// and leaves on different channels rarely contend; publishes take read
// locks only.
const hubShards = 64

// hub maps routing channels (the channel events are published to) to their
// subscribers, grouped so that delivering an event touches only the
// subscribers that may see it:
//
//   - all:     subscribers with auth.AccessAll (admins, the user on its own
//     channel): every event.
//   - members: subscribers with auth.AccessMember: public events; and,
//     through byUser, private events owned by them, found without a scan.
//   - boards:  /scoreboard/<token> subscribers of a contest, by the channel
//     name they used: public scoreboard-type events.
//
// auth.CanSee is still asked for every delivery, so the grouping can only
// narrow who is considered, never widen who receives.
type hub struct {
	seed   maphash.Seed
	shards [hubShards]hubShard
	kinds  [protocol.KindScoreboard + 1]atomic.Int64 // live subscriptions by the client channel's kind
	// presence counts subscriptions by contest as they come and go (nil:
	// presence is off); set before the hub is used.
	presence *presence.Counter
}

type hubShard struct {
	mu     sync.RWMutex
	routes map[string]*route // guarded by mu; key: routing channel name
}

type route struct {
	all     subList
	members subList
	byUser  map[string]*subList
	boards  map[string]*subList // key: the client's /scoreboard/<token> name
}

func (r *route) empty() bool {
	return len(r.all.s) == 0 && len(r.members.s) == 0 && len(r.boards) == 0
}

// subList is an unordered set of subscriptions with O(1) removal: each
// subscription remembers its index in the lists it is in (slot 0 for the
// primary list, slot 1 for byUser).
type subList struct{ s []*subscription }

func (l *subList) add(sub *subscription, slot int) {
	sub.idx[slot] = len(l.s)
	l.s = append(l.s, sub)
}

func (l *subList) remove(sub *subscription, slot int) {
	i := sub.idx[slot]
	last := len(l.s) - 1
	if i < 0 || i > last || l.s[i] != sub {
		return
	}
	l.s[i] = l.s[last]
	l.s[i].idx[slot] = i
	l.s[last] = nil
	l.s = l.s[:last]
	sub.idx[slot] = -1
}

func newHub() *hub {
	h := &hub{seed: maphash.MakeSeed()}
	for i := range h.shards {
		h.shards[i].routes = make(map[string]*route)
	}
	return h
}

func (h *hub) shard(routeName string) *hubShard {
	return &h.shards[maphash.String(h.seed, routeName)%hubShards]
}

// add registers sub under its route and access.
func (h *hub) add(sub *subscription) {
	sh := h.shard(sub.route)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.routes[sub.route]
	if r == nil {
		r = &route{}
		sh.routes[sub.route] = r
	}
	h.kinds[sub.kind].Add(1)
	h.presenceJoin(sub)
	switch sub.access {
	case auth.AccessAll:
		r.all.add(sub, 0)
	case auth.AccessMember:
		r.members.add(sub, 0)
		if r.byUser == nil {
			r.byUser = make(map[string]*subList)
		}
		l := r.byUser[sub.user]
		if l == nil {
			l = &subList{}
			r.byUser[sub.user] = l
		}
		l.add(sub, 1)
	case auth.AccessScoreboard:
		if r.boards == nil {
			r.boards = make(map[string]*subList)
		}
		l := r.boards[sub.client]
		if l == nil {
			l = &subList{}
			r.boards[sub.client] = l
		}
		l.add(sub, 0)
	}
}

// inHub reports whether sub is still registered (its primary index is
// set). Called with the shard lock held.
func (sub *subscription) inHub() bool { return sub.idx[0] >= 0 }

// remove unregisters sub; removing twice is harmless.
func (h *hub) remove(sub *subscription) {
	sh := h.shard(sub.route)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.routes[sub.route]
	if r == nil {
		return
	}
	if !sub.inHub() {
		return
	}
	h.kinds[sub.kind].Add(-1)
	h.presenceLeave(sub)
	switch sub.access {
	case auth.AccessAll:
		r.all.remove(sub, 0)
	case auth.AccessMember:
		r.members.remove(sub, 0)
		if l := r.byUser[sub.user]; l != nil {
			l.remove(sub, 1)
			if len(l.s) == 0 {
				delete(r.byUser, sub.user)
			}
		}
	case auth.AccessScoreboard:
		if l := r.boards[sub.client]; l != nil {
			l.remove(sub, 0)
			if len(l.s) == 0 {
				delete(r.boards, sub.client)
			}
		}
	}
	if r.empty() {
		delete(sh.routes, sub.route)
	}
}

// dispatch delivers ev to every subscriber of its channel that may see it.
// The event is encoded once per client-visible channel name, and only if
// someone receives it. It never blocks on a client: deliveries only append
// to bounded queues. It returns the number of deliveries.
//
// A scoreboard_patch goes as it is to subscriptions that take patches, and
// to the others as the whole board at its version, which full returns
// (nil: none; those subscriptions get nothing).
func (h *hub) dispatch(ev *protocol.Event, now int64, full func() *protocol.Event) int {
	routeName := ev.Channel
	sh := h.shard(routeName)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	r := sh.routes[routeName]
	if r == nil {
		return 0
	}
	patch := ev.Type == protocol.TypeScoreboardPatch
	var f, ff *frame
	var fullEv *protocol.Event
	frameFor := func(sub *subscription, channel string) *frame {
		if !patch || sub.patches {
			if channel != ev.Channel {
				return newEventFrame(ev, channel)
			}
			if f == nil {
				f = newEventFrame(ev, channel)
			}
			return f
		}
		if fullEv == nil && full != nil {
			fullEv = full()
			full = nil
		}
		if fullEv == nil {
			return nil
		}
		if channel != ev.Channel {
			return newEventFrame(fullEv, channel)
		}
		if ff == nil {
			ff = newEventFrame(fullEv, channel)
		}
		return ff
	}
	n := 0
	deliver := func(l []*subscription) {
		for _, sub := range l {
			if !sub.sees(ev) {
				continue
			}
			if fr := frameFor(sub, ev.Channel); fr != nil && sub.deliver(fr, now) {
				n++
			}
		}
	}
	deliver(r.all.s)
	if ev.Public {
		deliver(r.members.s)
	} else if ev.User != "" {
		if l := r.byUser[ev.User]; l != nil {
			deliver(l.s)
		}
	}
	if ev.Public && auth.ScoreboardType(ev.Type) {
		for name, l := range r.boards {
			var bf, bff *frame // this token's channel name: patch and full frames
			for _, sub := range l.s {
				if !sub.sees(ev) {
					continue
				}
				fr := &bf
				if patch && !sub.patches {
					fr = &bff
				}
				if *fr == nil {
					*fr = frameFor(sub, name)
				}
				if *fr != nil && sub.deliver(*fr, now) {
					n++
				}
			}
		}
	}
	return n
}

// has reports whether routeName has subscribers on this node. The
// snapshot cache asks it under its own lock, while a dispatch may hold the
// shard's read lock and wait for the cache (a patch's whole board): so it
// never waits for the shard (a writer queued there would block it behind
// that dispatch), and a shard it cannot read at once counts as in use.
func (h *hub) has(routeName string) bool {
	sh := h.shard(routeName)
	if !sh.mu.TryRLock() {
		return true
	}
	defer sh.mu.RUnlock()
	return sh.routes[routeName] != nil
}

// routeCount is the number of routing channels with subscribers.
func (h *hub) routeCount() int {
	n := 0
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		n += len(sh.routes)
		sh.mu.RUnlock()
	}
	return n
}

// counts reports the number of routes and subscriptions, for tests and
// metrics.
func (h *hub) counts() (routes, subs int) {
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		routes += len(sh.routes)
		for _, r := range sh.routes {
			subs += len(r.all.s) + len(r.members.s)
			for _, l := range r.boards {
				subs += len(l.s)
			}
		}
		sh.mu.RUnlock()
	}
	return routes, subs
}
