package broadcaster

import (
	"context"
	"maps"
	"sync/atomic"
	"time"
)

// The node's per-channel state (the recent log's rings, the snapshot
// cache's channels, the throttle's views) is bounded three ways: in bytes
// (RecentBytes, SnapshotBytes), in count (ChannelStateMax) and in time
// (ChannelStateIdle: a channel without subscribers on this node that has
// not been updated for that long is forgotten). So a node hosting
// thousands of small contests over weeks keeps only what is in use or
// recent. Forgetting never costs correctness: the recent log then sends a
// resume to the stream (or answers recovered:false, as before), and the
// snapshot cache searches the stream for the channel's boards (see
// docs/operations.md, "Bounded per-channel state").

// StateKind names one per-channel structure, for the eviction metrics.
type StateKind string

// State kinds.
const (
	StateRecent   StateKind = "recent"   // the recent log: one ring per routing channel
	StateSnapshot StateKind = "snapshot" // the snapshot cache: one entry per contest channel
	StateThrottle StateKind = "throttle" // the scoreboard throttle: one entry per channel and view
)

// StateKinds lists every state kind, for metrics.
var StateKinds = [numStateKinds]StateKind{StateRecent, StateSnapshot, StateThrottle}

const numStateKinds = 3

// EvictReason says why per-channel state was forgotten.
type EvictReason string

// Eviction reasons.
const (
	EvictBytes EvictReason = "bytes" // over the structure's byte budget
	EvictCount EvictReason = "count" // over ChannelStateMax
	EvictIdle  EvictReason = "idle"  // not updated for ChannelStateIdle, and no subscriber on this node
)

// EvictReasons lists every eviction reason, for metrics.
var EvictReasons = [numEvictReasons]EvictReason{EvictBytes, EvictCount, EvictIdle}

const numEvictReasons = 3

// evictCounts counts one structure's evictions by reason. A nil
// *evictCounts counts nothing (unit tests build structures without one).
type evictCounts [numEvictReasons]atomic.Uint64

func (c *evictCounts) add(r EvictReason, n int) {
	if c == nil || n <= 0 {
		return
	}
	for i, x := range EvictReasons {
		if x == r {
			c[i].Add(uint64(n))
			return
		}
	}
}

// evictionsOf is the eviction counts of structure k.
func (st *Stats) evictionsOf(k StateKind) *evictCounts {
	for i, x := range StateKinds {
		if x == k {
			return &st.evictions[i]
		}
	}
	panic("broadcaster: unknown state kind " + string(k))
}

// StateEviction is one (kind, reason) pair of Snapshot.StateEvictions.
type StateEviction struct {
	Kind   StateKind
	Reason EvictReason
}

// stateCounts returns the entries each structure holds now; "hub" is the
// number of routing channels with subscribers on this node (bounded by
// the subscriptions).
func (s *Server) stateCounts() map[string]int {
	out := map[string]int{string(StateRecent): 0, string(StateSnapshot): 0, string(StateThrottle): 0, "hub": 0}
	// Each may be missing from a Server a unit test builds by hand.
	if s.recent != nil {
		out[string(StateRecent)] = s.recent.count()
	}
	if s.snaps != nil {
		out[string(StateSnapshot)] = s.snaps.count()
	}
	if s.throttle != nil {
		out[string(StateThrottle)] = s.throttle.count()
	}
	if s.hub != nil {
		out["hub"] = s.hub.routeCount()
	}
	return out
}

// sweepIdle forgets the per-channel state not updated since before now
// minus ChannelStateIdle, except channels with subscribers on this node.
func (s *Server) sweepIdle(now time.Time) {
	idle := s.opts.ChannelStateIdle
	if idle <= 0 {
		return
	}
	before := now.Add(-idle).UnixNano()
	s.recent.sweep(before, s.hub.has)
	s.snaps.sweep(before)
	if s.throttle != nil {
		s.throttle.sweepIdle(now)
	}
}

// sweepLoop runs sweepIdle a few times per ChannelStateIdle (every
// quarter of it, between 1 s and 1 min) until ctx ends.
func (s *Server) sweepLoop(ctx context.Context) {
	idle := s.opts.ChannelStateIdle
	if idle <= 0 {
		return
	}
	t := time.NewTicker(min(max(idle/4, time.Second), time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sweepIdle(s.opts.Now())
		}
	}
}

// shrunk returns m, or a copy of it when a sweep just deleted more entries
// (dropped) than it still holds: a Go map keeps the size it peaked at
// (maps.Clone too), so only a fresh map returns the memory.
func shrunk[K comparable, V any](m map[K]V, dropped int) map[K]V {
	if dropped <= len(m) {
		return m
	}
	fresh := make(map[K]V, len(m))
	maps.Copy(fresh, m)
	return fresh
}
