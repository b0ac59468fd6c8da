package legacy

import "sync/atomic"

// Stats are the adapter's counters since New, for an operator moving a
// platform over: how many of its clients still connect the legacy way,
// how often the platform's validateFilter is asked and what it answers,
// and what its backend publishes. metrics.NewLegacy exports them.
type Stats struct {
	// Connections counts legacy WebSocket connections handed to the node
	// (the upgrade attempted; the node's own metrics count what became of
	// them, among its WebSocket connections).
	Connections uint64
	// Refused counts connection attempts answered before the upgrade, by
	// reason: bad_request (not a WebSocket GET, malformed filters),
	// platform (validateFilter refused the credential), platform_error
	// (validateFilter failed or timed out: 502/504), forbidden (the
	// answer grants no filter asked for, the origin or a revocation).
	Refused map[string]uint64
	// ValidateAsked counts calls to the platform's validateFilter;
	// ValidateReused the connections answered by a cached answer or by a
	// call already in flight for the same credential and filters. A client
	// that leaves while waiting for a call in flight counts as reused, and
	// as refused for platform_error (504).
	ValidateAsked, ValidateReused uint64
	// Broadcasts counts POST /broadcast/ requests by result: published,
	// refused (4xx: credential, method, size, malformed envelope) and
	// failed (503: the stream did not take an event).
	Broadcasts map[string]uint64
	// BroadcastEvents counts the events published for them (one per
	// channel an envelope concerns).
	BroadcastEvents uint64
	// Deauthenticated counts /deauthenticate/ requests whose revocation
	// was stored.
	Deauthenticated uint64
	// Refreshes counts scoreboard refresh calls by result: ok, refused
	// (the platform answered other than 200) and failed (unreachable or
	// timed out).
	Refreshes map[string]uint64
}

// Connection refusal reasons (Stats.Refused).
const (
	refusedBadRequest = iota
	refusedPlatform
	refusedPlatformError
	refusedForbidden
	numRefused
)

var refusedNames = [numRefused]string{"bad_request", "platform", "platform_error", "forbidden"}

// Results of a broadcast (Stats.Broadcasts) and of a refresh call
// (Stats.Refreshes).
const (
	resultOK = iota
	resultRefused
	resultFailed
	numResults
)

var broadcastNames = [numResults]string{"published", "refused", "failed"}
var refreshNames = [numResults]string{"ok", "refused", "failed"}

// counters are the atomics behind Stats; every field is written by the
// request that counts and read by Stats, without a lock.
type counters struct {
	connections     atomic.Uint64
	refused         [numRefused]atomic.Uint64
	validateAsked   atomic.Uint64
	validateReused  atomic.Uint64
	broadcasts      [numResults]atomic.Uint64
	broadcastEvents atomic.Uint64
	deauthenticated atomic.Uint64
	refreshes       [numResults]atomic.Uint64
}

// Stats reads the adapter's counters.
func (a *Adapter) Stats() Stats {
	c := a.counts
	st := Stats{
		Connections:     c.connections.Load(),
		Refused:         make(map[string]uint64, numRefused),
		ValidateAsked:   c.validateAsked.Load(),
		ValidateReused:  c.validateReused.Load(),
		Broadcasts:      make(map[string]uint64, numResults),
		BroadcastEvents: c.broadcastEvents.Load(),
		Deauthenticated: c.deauthenticated.Load(),
		Refreshes:       make(map[string]uint64, numResults),
	}
	for i, n := range refusedNames {
		st.Refused[n] = c.refused[i].Load()
	}
	for i := range numResults {
		st.Broadcasts[broadcastNames[i]] = c.broadcasts[i].Load()
		st.Refreshes[refreshNames[i]] = c.refreshes[i].Load()
	}
	return st
}

// resultOf classifies an answer's status for Stats.Broadcasts.
func resultOf(status int) int {
	switch {
	case status < 400:
		return resultOK
	case status < 500:
		return resultRefused
	}
	return resultFailed
}
