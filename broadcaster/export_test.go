package broadcaster

import "time"

// SnapshotWaiters reports how many subscribers wait on the stream search
// for route's snapshot in progress (-1: none in progress), so a test can
// fail a search only once they all wait on it.
func (s *Server) SnapshotWaiters(route string) int {
	c := s.snaps
	c.mu.Lock()
	defer c.mu.Unlock()
	if search, ok := c.inflight[route]; ok {
		return search.waiters
	}
	return -1
}

// SnapshotHeld reports whether the snapshot cache holds route's views.
func (s *Server) SnapshotHeld(route string) bool {
	s.snaps.mu.Lock()
	defer s.snaps.mu.Unlock()
	r := s.snaps.routes[route]
	return r != nil && len(r.views) > 0
}

// SweepIdle runs the idle sweep of the node's per-channel state as if
// the clock read now, so a test need not wait ChannelStateIdle.
func (s *Server) SweepIdle(now time.Time) { s.sweepIdle(now) }
