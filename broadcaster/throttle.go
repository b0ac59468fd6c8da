package broadcaster

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/arenacast/arenacast/protocol"
)

// boardThrottle enforces Options.ScoreboardMinInterval: per routing channel
// and view (the coalescing key), at most one scoreboard_update goes out per
// interval, and the newest one held back always goes out at the end of the
// interval (trailing edge).
//
// Ids must keep increasing within a channel on the wire, so a held update
// never goes out after a newer event of its channel: before anything of a
// channel goes out, the held updates of that channel with smaller ids go
// out first, in id order. Updates of several views held together stay
// held; a held update is replaced only by a newer one of its view.
//
// It exists only when the interval is positive: the common path pays
// nothing for it.
type boardThrottle struct {
	interval time.Duration
	send     func(*protocol.Event) // dispatches to the hub

	mu    sync.Mutex // guards views and serializes every send it makes
	views map[string]*boardView
	// held counts held updates per routing channel, so events of channels
	// without any skip the scan.
	held map[string]int
	// sweepAt is the number of views at which idle ones are forgotten
	// (see sweepLocked); it doubles with what survives, so sweeping costs
	// O(1) per new view.
	sweepAt int
	// evicted counts the views forgotten; static after New; may be nil.
	evicted *evictCounts
}

// minSweep is the fewest views at which the throttle sweeps.
const minSweep = 1024

// boardView is the throttle state of one channel and view.
type boardView struct {
	channel string
	last    time.Time       // when the last update of the view went out
	pending *protocol.Event // newest update held back; nil: none
	timer   *time.Timer     // fires at last+interval while pending is set
}

func newBoardThrottle(interval time.Duration, send func(*protocol.Event)) *boardThrottle {
	return &boardThrottle{interval: interval, send: send, views: make(map[string]*boardView), held: make(map[string]int), sweepAt: minSweep}
}

// route sends ev now or holds it. It runs on the consumer goroutine.
func (t *boardThrottle) route(ev *protocol.Event, now time.Time) {
	key := ""
	if ev.Type == protocol.TypeScoreboardUpdate { // patches are never held: each counts
		key = coalesceKey(ev, ev.Channel)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if key == "" {
		t.flushBeforeLocked(ev.Channel, ev.ID, now)
		t.send(ev)
		return
	}
	v := t.views[key]
	if v == nil {
		if len(t.views) >= t.sweepAt {
			t.sweepLocked(now)
		}
		v = &boardView{channel: ev.Channel}
		t.views[key] = v
	}
	if v.pending == nil && now.Sub(v.last) >= t.interval {
		v.last = now
		t.flushBeforeLocked(ev.Channel, ev.ID, now)
		t.send(ev)
		return
	}
	if v.pending == nil {
		t.held[ev.Channel]++
		v.timer = time.AfterFunc(v.last.Add(t.interval).Sub(now), func() { t.fire(key, v) })
	}
	v.pending = ev // the older held update is superseded
}

// sweepLocked forgets the views that hold nothing and whose interval has
// passed: such a view behaves exactly like one never seen, so without this
// a node would keep one per channel and view (per user, for private
// scoreboards) for its whole life.
//
// The views it keeps are those updated within the last interval (or
// holding an update), so their count is bounded by the views a node
// updates per interval; none of them can go without breaking the
// interval or losing a trailing update.
func (t *boardThrottle) sweepLocked(now time.Time) {
	n := 0
	for key, v := range t.views {
		if v.pending == nil && now.Sub(v.last) >= t.interval {
			delete(t.views, key)
			n++
		}
	}
	t.evicted.add(EvictIdle, n)
	t.sweepAt = max(2*len(t.views), minSweep)
}

// sweepIdle runs sweepLocked now, so that the views of a burst are
// forgotten even when no new view comes after it.
func (t *boardThrottle) sweepIdle(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(now)
}

// count is the number of views held.
func (t *boardThrottle) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.views)
}

// fire sends a view's held update at the end of its interval.
func (t *boardThrottle) fire(key string, v *boardView) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.views[key] == v && v.pending != nil {
		now := time.Now()
		t.flushBeforeLocked(v.channel, v.pending.ID, now)
		t.flushLocked(v, now)
	}
}

// flushBeforeLocked sends, in id order, the held updates of channel older
// than id: whatever goes out next must not be followed by a smaller id.
func (t *boardThrottle) flushBeforeLocked(channel string, id uint64, now time.Time) {
	if t.held[channel] == 0 {
		return
	}
	var flush []*boardView
	for _, v := range t.views {
		if v.channel == channel && v.pending != nil && v.pending.ID < id {
			flush = append(flush, v)
		}
	}
	slices.SortFunc(flush, func(a, b *boardView) int { return cmp.Compare(a.pending.ID, b.pending.ID) })
	for _, v := range flush {
		t.flushLocked(v, now)
	}
}

// flushLocked sends v's held update now.
func (t *boardThrottle) flushLocked(v *boardView, now time.Time) {
	ev := v.pending
	v.pending = nil
	v.timer.Stop()
	v.timer = nil
	v.last = now
	if t.held[v.channel]--; t.held[v.channel] <= 0 {
		delete(t.held, v.channel)
	}
	t.send(ev)
}
