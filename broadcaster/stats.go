package broadcaster

import (
	"sync/atomic"

	"github.com/arenacast/arenacast/protocol"
)

// Stats are the node's counters. They are plain atomics so the hot path
// pays one add; the metrics adapter reads them.
type Stats struct {
	connections    atomic.Uint64 // connections accepted
	eventsConsumed atomic.Uint64
	eventsBad      atomic.Uint64 // malformed events skipped
	deliveries     atomic.Uint64 // event frames queued to sessions
	framesWritten  atomic.Uint64
	coalesced      atomic.Uint64 // queued scoreboard updates replaced by newer ones
	slowConsumers  atomic.Uint64
	authFailures   atomic.Uint64
	badMessages    atomic.Uint64
	originRefused  atomic.Uint64
	resumeOK       atomic.Uint64
	resumeMissed   atomic.Uint64 // recovered:false
	resumeFailed   atomic.Uint64 // history unavailable
	published      atomic.Uint64 // events accepted by POST /publish
	publishRefused atomic.Uint64

	closes [5000]atomic.Uint64 // by close code; 0 = peer gone
}

func (st *Stats) countClose(code protocol.CloseCode) {
	if code >= 0 && int(code) < len(st.closes) {
		st.closes[code].Add(1)
	}
}

func (st *Stats) countResume(recovered bool, err error) {
	switch {
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
	// Closes counts closed connections by close code (0: the peer went away).
	Closes map[protocol.CloseCode]uint64
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
		Closes: make(map[protocol.CloseCode]uint64),
	}
	for code := range st.closes {
		if n := st.closes[code].Load(); n > 0 {
			out.Closes[protocol.CloseCode(code)] = n
		}
	}
	return out
}
