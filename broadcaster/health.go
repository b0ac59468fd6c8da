package broadcaster

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// connectedBus is a Bus that knows whether its connection is up.
type connectedBus interface{ Connected() bool }

// Readiness is the body of /readyz.
type Readiness struct {
	Ready bool `json:"ready"`
	// NATS is "connected", "disconnected" or "stream_unreachable".
	NATS string `json:"nats"`
	// Clients counts open connections by transport.
	Clients map[string]int64 `json:"clients"`
	// Draining is true once shutdown has begun.
	Draining bool `json:"draining,omitempty"`
	// Consumer is "ok", or "stalled" when the node's consumer made no
	// progress for Options.ConsumerStall while the stream holds events it
	// has not routed (Lag of them).
	Consumer string `json:"consumer,omitempty"`
	Lag      uint64 `json:"lag"`
}

// Readiness reports whether the node can serve: it consumes the stream, NATS is
// connected, the stream answers, its consumer keeps up, and it is not
// shutting down.
func (s *Server) Readiness(ctx context.Context) Readiness {
	st := s.Stats()
	r := Readiness{Clients: st.Open, Draining: s.draining.Load(), NATS: "connected"}
	var last uint64
	var err error
	if cb, ok := s.opts.Bus.(connectedBus); ok && !cb.Connected() {
		r.NATS = "disconnected"
	} else if last, err = s.opts.Bus.LastID(ctx); err != nil {
		r.NATS = "stream_unreachable"
	}
	select {
	case <-s.ready:
		r.Ready = r.NATS == "connected" && !r.Draining
		if r.NATS == "connected" {
			r.Consumer = "ok"
			if s.consumerStalled(ctx, last) {
				r.Consumer, r.Ready = "stalled", false
			}
			r.Lag = last - min(last, s.progress.pos.Load())
		}
	default:
	}
	return r
}

// stallGrace is how long a probe that finds the consumer behind and idle
// waits for it to move: an event the stream took a moment ago, after a
// quiet spell, is not a stall.
const stallGrace = 250 * time.Millisecond

// consumerStalled reports whether the stream holds events after the
// consumer's position (last, the stream's newest id) while the consumer
// has not moved for Options.ConsumerStall, nor within stallGrace more.
func (s *Server) consumerStalled(ctx context.Context, last uint64) bool {
	pos := s.progress.pos.Load()
	idle := time.Since(time.Unix(0, s.progress.at.Load()))
	if last <= pos || idle < s.opts.ConsumerStall {
		return false
	}
	t := time.NewTimer(min(stallGrace, s.opts.ConsumerStall))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return s.progress.pos.Load() == pos
}

// serveHealthz answers /healthz: the process is alive.
func (s *Server) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// serveReadyz answers /readyz: 200 with Readiness when ready, else 503.
func (s *Server) serveReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	rd := s.Readiness(ctx)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !rd.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(rd)
}
