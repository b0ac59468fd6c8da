package broadcaster

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// Tickets issues and checks the short-lived SSE tickets that keep
// long-lived tokens out of URLs. A ticket must verify on every node.
type Tickets interface {
	// Issue returns a ticket standing for p until expires.
	Issue(p *auth.Principal) (ticket string, expires time.Time, err error)
	// Verify returns the principal a ticket stands for.
	Verify(ticket string) (*auth.Principal, error)
}

// serveTicket answers POST /events/ticket: a bearer token in, a ticket out.
func (s *Server) serveTicket(w http.ResponseWriter, r *http.Request) {
	if !s.corsGate(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		writeJSONError(w, http.StatusMethodNotAllowed, protocol.ErrBadRequest, "", "use POST")
		return
	}
	if s.opts.Tickets == nil {
		writeJSONError(w, http.StatusNotFound, protocol.ErrNotFound, "", "tickets are not enabled on this server")
		return
	}
	tok, ok := bearer(r)
	if !ok {
		writeJSONError(w, http.StatusUnauthorized, protocol.ErrUnauthorized, "", "send Authorization: Bearer <token>")
		return
	}
	p, err := s.opts.Verifier.Verify(tok)
	if err != nil {
		s.stats.authFailed(err)
		writeJSONError(w, http.StatusUnauthorized, protocol.ErrUnauthorized, "", "authentication failed: "+err.Error())
		return
	}
	ticket, exp, err := s.opts.Tickets.Issue(p)
	if err != nil {
		s.log.Error("issuing ticket", "user", p.User, "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, protocol.ErrInternal, "", "could not issue a ticket")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(struct {
		Ticket  string `json:"ticket"`
		Expires int64  `json:"expires"`
	}{ticket, exp.Unix()})
}
