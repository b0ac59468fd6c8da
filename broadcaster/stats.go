package broadcaster

import (
	"sync/atomic"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// Stats are the node's counters. They are plain atomics so the hot path
// pays one add; metrics adapters (package broadcaster/metrics) read them
// through Server.Stats at scrape time, so nothing here is registered
// globally.
type Stats struct {
	connections    atomic.Uint64 // connections accepted
	eventsConsumed atomic.Uint64
	eventsBad      atomic.Uint64 // malformed events skipped
	deliveries     atomic.Uint64 // event frames queued to sessions
	framesWritten  atomic.Uint64
	ringWrites     atomic.Uint64 // writes sent in a flusher's io_uring batches
	coalesced      atomic.Uint64 // queued scoreboard updates replaced by newer ones
	slowConsumers  atomic.Uint64
	writeTimeouts  atomic.Uint64 // connections closed by the write watch
	authFailures   atomic.Uint64
	badMessages    atomic.Uint64
	originRefused  atomic.Uint64
	resumeOK       atomic.Uint64
	resumeMissed   atomic.Uint64 // recovered:false
	resumeFailed   atomic.Uint64 // history unavailable
	resumeAborted  atomic.Uint64 // the connection closed before the replay went out
	published      atomic.Uint64 // events accepted by POST /publish
	publishRefused atomic.Uint64
	lastConsumed   atomic.Uint64 // the newest stream position routed (or skipped as malformed)
	// positionsSkipped counts live stream positions the consumer never
	// saw: events discarded before this node read them.
	positionsSkipped atomic.Uint64
	// Scoreboards (docs/protocol.md section 8).
	boardsRefused atomic.Uint64 // board events that did not fit their board: skipped (also in eventsBad)
	boardsUnknown atomic.Uint64 // patches for a view whose board this node did not have: not delivered
	boardFolds    atomic.Uint64 // queued patches folded into a newer one

	open    [2]atomic.Int64                   // open connections by transport (transportIndex)
	authWhy [numAuthReasons + 1]atomic.Uint64 // by auth.Reason; last: other
	drops   [numDropReasons]atomic.Uint64
	latency latencyHistogram
	// evictions counts per-channel state forgotten, by StateKinds index.
	evictions [numStateKinds]evictCounts
	closes    [5000]atomic.Uint64 // by close code; 0 = peer gone
}

// DropReason says why an event frame meant for a client was not sent.
type DropReason string

// Drop reasons. Every frame that was queued for a client and not written
// is counted under exactly one.
const (
	DropSlowConsumer DropReason = "slow_consumer" // discarded with the queue of a session closed as a slow consumer
	DropCoalesced    DropReason = "coalesced"     // a queued scoreboard_update replaced by a newer one
	DropExpired      DropReason = "grant_expired" // the scoreboard token of the subscription expired
	DropClosed       DropReason = "closed"        // the session closed (peer gone, shutdown) with frames queued
)

const numDropReasons = 4

// DropReasons lists every drop reason, for metrics.
var DropReasons = [numDropReasons]DropReason{DropSlowConsumer, DropCoalesced, DropExpired, DropClosed}

func (st *Stats) drop(r DropReason, n int) {
	for i, x := range DropReasons {
		if x == r {
			st.drops[i].Add(uint64(n))
			return
		}
	}
}

const numAuthReasons = 9

var authReasons = [numAuthReasons]auth.Reason{
	auth.ReasonMalformed, auth.ReasonSignature, auth.ReasonExpired, auth.ReasonNotYetValid,
	auth.ReasonIssuer, auth.ReasonAudience, auth.ReasonUnknownKey, auth.ReasonAlgorithm, auth.ReasonClaims,
}

// authFailed counts one failed authentication under its reason.
func (st *Stats) authFailed(err error) {
	st.authFailures.Add(1)
	r := auth.ReasonOf(err)
	for i, x := range authReasons {
		if x == r {
			st.authWhy[i].Add(1)
			return
		}
	}
	st.authWhy[len(authReasons)].Add(1)
}

func transportIndex(name string) int {
	if name == "sse" {
		return 1
	}
	return 0
}

// LatencyBuckets are the upper bounds of the delivery latency histogram:
// finest between 10 and 100 ms, where a fan-out's latency lies (see
// docs/benchmarks.md), so a 25 ms objective can be read off it.
var LatencyBuckets = [...]time.Duration{
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 15 * time.Millisecond, 20 * time.Millisecond, 25 * time.Millisecond,
	35 * time.Millisecond, 50 * time.Millisecond, 75 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
}

// latencyHistogram counts publish-to-write latencies in LatencyBuckets;
// the last slot is +Inf.
type latencyHistogram struct {
	counts [len(LatencyBuckets) + 1]atomic.Uint64
	sumNs  atomic.Int64
}

func (h *latencyHistogram) observe(d time.Duration) {
	i := 0
	for i < len(LatencyBuckets) && d > LatencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
}

func (st *Stats) countClose(code protocol.CloseCode) {
	if code >= 0 && int(code) < len(st.closes) {
		st.closes[code].Add(1)
	}
}

// countResume counts a resume once its replay is over: completed is false
// when the connection closed before all of it was queued.
func (st *Stats) countResume(completed, recovered bool, err error) {
	switch {
	case !completed:
		st.resumeAborted.Add(1)
	case err != nil:
		st.resumeFailed.Add(1)
	case recovered:
		st.resumeOK.Add(1)
	default:
		st.resumeMissed.Add(1)
	}
}

// Snapshot is a copy of the counters.
type Snapshot struct {
	Connections, EventsConsumed, EventsBad, Deliveries, FramesWritten  uint64
	Coalesced, SlowConsumers, AuthFailures, BadMessages, OriginRefused uint64
	ResumeOK, ResumeMissed, ResumeFailed, Published, PublishRefused    uint64
	// RingWrites counts connection writes the flushers sent in io_uring
	// batches (Options.IOUringEntries); 0 where the ring is off or missing.
	RingWrites uint64
	// ResumeAborted counts resumes whose connection closed before their
	// replay was queued (the client went away, or read too slowly).
	ResumeAborted uint64
	// WriteTimeouts counts WebSocket connections closed because a write
	// stayed blocked for longer than WriteTimeout.
	WriteTimeouts uint64
	// PositionsSkipped counts stream positions after the node started that
	// it never routed because the stream had discarded them (the node lagged
	// behind the retention limits): events its live clients missed.
	PositionsSkipped uint64
	// BoardsRefused counts scoreboard events that did not fit their view's
	// board (also counted in EventsBad); BoardsUnknown, patches for a view
	// whose board the node did not hold (rebuilt from the stream when a
	// subscriber asks); BoardFolds, queued patches folded for slow viewers.
	BoardsRefused, BoardsUnknown, BoardFolds uint64
	// LastConsumed is the id of the newest event this node routed.
	LastConsumed uint64
	// Open counts open connections by transport ("websocket", "sse").
	Open map[string]int64
	// Subscriptions counts live subscriptions by channel kind.
	Subscriptions map[string]int64
	// AuthFailuresByReason counts failed authentications by auth.Reason
	// ("other" for failures without one).
	AuthFailuresByReason map[string]uint64
	// Drops counts frames not sent, by reason.
	Drops map[DropReason]uint64
	// Closes counts closed connections by close code (0: the peer went away).
	Closes map[protocol.CloseCode]uint64
	// LatencyCounts are per-bucket (not cumulative) counts of the
	// publish-to-write latency, one more than LatencyBuckets (+Inf);
	// LatencySum is their sum.
	LatencyCounts []uint64
	LatencySum    time.Duration
	// StateEvictions counts per-channel state forgotten, by structure and
	// reason; StateEntries is what each structure holds now (channels, or
	// channels and views for the throttle; "hub": channels with
	// subscribers). See bounds.go.
	StateEvictions map[StateEviction]uint64
	StateEntries   map[string]int
}

// Stats returns a copy of the node's counters.
func (s *Server) Stats() Snapshot {
	st := &s.stats
	out := Snapshot{
		Connections: st.connections.Load(), EventsConsumed: st.eventsConsumed.Load(), EventsBad: st.eventsBad.Load(),
		Deliveries: st.deliveries.Load(), FramesWritten: st.framesWritten.Load(), Coalesced: st.coalesced.Load(),
		SlowConsumers: st.slowConsumers.Load(), AuthFailures: st.authFailures.Load(), BadMessages: st.badMessages.Load(),
		OriginRefused: st.originRefused.Load(), ResumeOK: st.resumeOK.Load(), ResumeMissed: st.resumeMissed.Load(),
		ResumeFailed: st.resumeFailed.Load(), Published: st.published.Load(), PublishRefused: st.publishRefused.Load(),
		ResumeAborted:        st.resumeAborted.Load(),
		RingWrites:           st.ringWrites.Load(),
		WriteTimeouts:        st.writeTimeouts.Load(),
		PositionsSkipped:     st.positionsSkipped.Load(),
		BoardsRefused:        st.boardsRefused.Load(),
		BoardsUnknown:        st.boardsUnknown.Load(),
		BoardFolds:           st.boardFolds.Load(),
		LastConsumed:         st.lastConsumed.Load(),
		Open:                 map[string]int64{"websocket": st.open[0].Load(), "sse": st.open[1].Load()},
		Subscriptions:        make(map[string]int64),
		AuthFailuresByReason: make(map[string]uint64),
		Drops:                make(map[DropReason]uint64),
		Closes:               make(map[protocol.CloseCode]uint64),
		LatencySum:           time.Duration(st.latency.sumNs.Load()),
		StateEvictions:       make(map[StateEviction]uint64),
		StateEntries:         s.stateCounts(),
	}
	for i, k := range StateKinds {
		for j, r := range EvictReasons {
			out.StateEvictions[StateEviction{k, r}] = st.evictions[i][j].Load()
		}
	}
	for k := protocol.KindUser; k <= protocol.KindScoreboard; k++ {
		out.Subscriptions[k.String()] = s.hub.kinds[k].Load()
	}
	for i, r := range authReasons {
		out.AuthFailuresByReason[string(r)] = st.authWhy[i].Load()
	}
	out.AuthFailuresByReason["other"] = st.authWhy[len(authReasons)].Load()
	for i, r := range DropReasons {
		out.Drops[r] = st.drops[i].Load()
	}
	for code := range st.closes {
		if n := st.closes[code].Load(); n > 0 {
			out.Closes[protocol.CloseCode(code)] = n
		}
	}
	for i := range st.latency.counts {
		out.LatencyCounts = append(out.LatencyCounts, st.latency.counts[i].Load())
	}
	return out
}
