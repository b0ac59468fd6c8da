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
}

// Readiness reports whether the node can serve: it consumes the stream, NATS is
// connected, the stream answers, and it is not shutting down.
func (s *Server) Readiness(ctx context.Context) Readiness {
	st := s.Stats()
	r := Readiness{Clients: st.Open, Draining: s.draining.Load(), NATS: "connected"}
	if cb, ok := s.opts.Bus.(connectedBus); ok && !cb.Connected() {
		r.NATS = "disconnected"
	} else if _, err := s.opts.Bus.LastID(ctx); err != nil {
		r.NATS = "stream_unreachable"
	}
	select {
	case <-s.ready:
		r.Ready = r.NATS == "connected" && !r.Draining
	default:
	}
	return r
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
