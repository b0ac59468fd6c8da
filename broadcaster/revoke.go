package broadcaster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// Revocation withdraws, before tokens expire, what the tokens of one user
// issued at or before Before grant: every session (Kind "user"), or one
// contest's or problem's channels (Kind "contest" / "problem", Name the
// alias). Tokens without iat count as issued before any revocation.
type Revocation struct {
	User   string    `json:"user"`
	Kind   string    `json:"kind"`
	Name   string    `json:"name,omitempty"`
	Before time.Time `json:"-"`
}

// Revocation kinds.
const (
	RevokeUser    = "user"
	RevokeContest = "contest"
	RevokeProblem = "problem"
)

// Key is the revocation's key in the revocation bucket:
// user.<u'>, contest.<u'>.<a'> or problem.<u'>.<a'>, names escaped as in
// subjects ('.' as '~').
func (r Revocation) Key() string {
	if r.Kind == RevokeUser {
		return "user." + protocol.EscapeName(r.User)
	}
	return r.Kind + "." + protocol.EscapeName(r.User) + "." + protocol.EscapeName(r.Name)
}

// Validate checks the names and kind.
func (r Revocation) Validate() error {
	if !protocol.ValidName(r.User) {
		return errors.New("revocation: user must be a valid username")
	}
	switch r.Kind {
	case RevokeUser:
		if r.Name != "" {
			return errors.New("revocation: a user revocation names no contest or problem")
		}
	case RevokeContest, RevokeProblem:
		if !protocol.ValidName(r.Name) {
			return fmt.Errorf("revocation: %s must be a valid alias", r.Kind)
		}
	default:
		return fmt.Errorf("revocation: kind must be user, contest or problem")
	}
	return nil
}

// ParseRevocation reads a bucket entry: the key and its value, the
// revocation time in Unix seconds (decimal).
func ParseRevocation(key string, value []byte) (Revocation, error) {
	sec, err := strconv.ParseInt(strings.TrimSpace(string(value)), 10, 64)
	if err != nil {
		return Revocation{}, fmt.Errorf("revocation %q: value must be Unix seconds", key)
	}
	parts := strings.Split(key, ".")
	var r Revocation
	switch {
	case len(parts) == 2 && parts[0] == RevokeUser:
		r = Revocation{User: protocol.UnescapeName(parts[1]), Kind: RevokeUser}
	case len(parts) == 3 && (parts[0] == RevokeContest || parts[0] == RevokeProblem):
		r = Revocation{User: protocol.UnescapeName(parts[1]), Kind: parts[0], Name: protocol.UnescapeName(parts[2])}
	default:
		return Revocation{}, fmt.Errorf("revocation key %q: want user.<u>, contest.<u>.<alias> or problem.<u>.<alias>", key)
	}
	r.Before = time.Unix(sec, 0)
	return r, r.Validate()
}

// RevocationStore persists revocations where every node sees them
// (natsbus: a key-value bucket whose entries expire after the longest token
// lifetime).
type RevocationStore interface {
	Revoke(ctx context.Context, r Revocation) error
}

// revocations is the node's view of the revocation bucket.
type revocations struct {
	mu sync.RWMutex         // guards m
	m  map[string]time.Time // by Revocation.Key()
}

func (rv *revocations) set(r Revocation) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if rv.m == nil {
		rv.m = make(map[string]time.Time)
	}
	rv.m[r.Key()] = r.Before
}

func (rv *revocations) remove(key string) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	delete(rv.m, key)
}

// voids reports whether revocation r (only its key matters) voids p's token.
func (rv *revocations) voids(key string, p *auth.Principal) bool {
	rv.mu.RLock()
	before, ok := rv.m[key]
	rv.mu.RUnlock()
	return ok && !p.IssuedAt.After(before)
}

// userRevoked reports whether p's token was revoked as a whole.
func (s *Server) userRevoked(p *auth.Principal) bool {
	return p != nil && s.revoked.voids(Revocation{User: p.User, Kind: RevokeUser}.Key(), p)
}

// channelAccess is auth.ChannelAccess minus revoked grants. Every access
// decision of the server goes through it.
func (s *Server) channelAccess(p *auth.Principal, ch protocol.Channel) auth.Access {
	a := auth.ChannelAccess(p, ch)
	if a == auth.AccessNone || p.SiteAdmin {
		return a
	}
	kind := RevokeContest
	switch ch.Kind {
	case protocol.KindProblem:
		kind = RevokeProblem
	case protocol.KindContest, protocol.KindContestAdmin:
	default:
		return a
	}
	if s.revoked.voids(Revocation{User: p.User, Kind: kind, Name: ch.Name}.Key(), p) {
		return auth.AccessNone
	}
	return a
}

// ApplyRevocation records r and applies it to live sessions: a user
// revocation closes the user's sessions with 4503; a grant revocation ends
// the affected subscriptions with unsubscribed/revoked. It walks every
// session, which is fine for an event this rare.
func (s *Server) ApplyRevocation(r Revocation) {
	s.revoked.set(r)
	for _, sess := range s.snapshotSessions() {
		sess.mu.Lock()
		p := sess.principal
		var subs []*subscription
		if p != nil && p.User == r.User && r.Kind != RevokeUser {
			for _, sub := range sess.subs {
				if sub.kind != protocol.KindScoreboard {
					subs = append(subs, sub)
				}
			}
		}
		sess.mu.Unlock()
		if p == nil || p.User != r.User {
			continue
		}
		if r.Kind == RevokeUser {
			sess.closeIfRevoked(p)
			continue
		}
		for _, sub := range subs {
			ch, err := protocol.ParseChannel(sub.client)
			if err == nil && s.channelAccess(p, ch) == auth.AccessNone {
				sess.endSubscription(sub, protocol.ReasonRevoked)
			}
		}
	}
}

// closeIfRevoked closes the session with 4503 when its principal p's user
// was revoked, and reports whether it did. Every place that gives a session
// its principal calls it after setting it (under mu): a revocation records
// itself before its walk over the sessions (ApplyRevocation), so a walk that
// ran before the principal was set, and skipped this session, is seen here;
// a later walk sees the principal. Without it, a connection authenticating
// while its user was revoked outlived the revocation.
func (s *session) closeIfRevoked(p *auth.Principal) bool {
	if !s.srv.userRevoked(p) {
		return false
	}
	s.srv.log.Info("session revoked", "session", s.id, "user", p.User)
	s.shutdown(protocol.CloseSessionRevoked)
	return true
}

// ForgetRevocation drops a revocation (its bucket entry was deleted or
// expired).
func (s *Server) ForgetRevocation(key string) { s.revoked.remove(key) }

// serveRevoke answers POST /revoke with a publisher credential and a body
// {"user":"alice"} (every session), {"user":"alice","contest":"c1"} or
// {"user":"alice","problem":"p1"}; "before" (Unix seconds) defaults to now.
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSONError(w, http.StatusMethodNotAllowed, protocol.ErrBadRequest, "", "use POST")
		return
	}
	if !s.publisherAllowed(r) {
		writeJSONError(w, http.StatusUnauthorized, protocol.ErrUnauthorized, "", s.publisherRefusal(r))
		return
	}
	if s.opts.Revocations == nil {
		writeJSONError(w, http.StatusNotFound, protocol.ErrNotFound, "", "revocation is not enabled on this server")
		return
	}
	var body struct {
		User    string `json:"user"`
		Contest string `json:"contest"`
		Problem string `json:"problem"`
		Before  int64  `json:"before"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeJSONError(w, http.StatusBadRequest, protocol.ErrBadRequest, "", "body must be {\"user\":...,\"contest\"|\"problem\":...}")
		return
	}
	rv := Revocation{User: body.User, Kind: RevokeUser}
	switch {
	case body.Contest != "" && body.Problem != "":
		writeJSONError(w, http.StatusBadRequest, protocol.ErrBadRequest, "", "name a contest or a problem, not both")
		return
	case body.Contest != "":
		rv.Kind, rv.Name = RevokeContest, body.Contest
	case body.Problem != "":
		rv.Kind, rv.Name = RevokeProblem, body.Problem
	}
	rv.Before = s.opts.Now()
	if body.Before > 0 {
		rv.Before = time.Unix(body.Before, 0)
	}
	if err := rv.Validate(); err != nil {
		writeJSONError(w, http.StatusBadRequest, protocol.ErrBadRequest, "", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := s.opts.Revocations.Revoke(ctx, rv); err != nil {
		s.log.Error("storing revocation", "user", rv.User, "kind", rv.Kind, "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, protocol.ErrInternal, "", "could not store the revocation")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]any{"key": rv.Key(), "before": rv.Before.Unix()})
}
