package broadcaster

import (
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster/presence"
	"github.com/arenacast/arenacast/protocol"
)

// This file wires package presence into the node: the hub counts every
// subscription it registers (presenceGroup), the tracker's loop calls
// presenceTick every interval, which sends the presence event to the
// contests' admin channels, and GET /presence answers operators and
// contest admins.

// presenceGroup says which contest and group sub counts in, if any.
func presenceGroup(sub *subscription) (contest string, g presence.Group, ok bool) {
	switch sub.kind {
	case protocol.KindScoreboard:
		return strings.TrimPrefix(sub.route, "/contest/"), presence.Viewers, true
	case protocol.KindContest:
		if sub.access == auth.AccessAll {
			return strings.TrimPrefix(sub.route, "/contest/"), presence.Admins, true
		}
		return strings.TrimPrefix(sub.route, "/contest/"), presence.Contestants, true
	case protocol.KindContestAdmin:
		return strings.TrimSuffix(strings.TrimPrefix(sub.route, "/contest/"), "/admin"), presence.Admins, true
	}
	return "", 0, false
}

// presenceJoin and presenceLeave count sub in (out of) its group; the hub
// calls them as it registers and unregisters sub.
func (h *hub) presenceJoin(sub *subscription) {
	if h.presence == nil {
		return
	}
	if c, g, ok := presenceGroup(sub); ok {
		h.presence.Join(c, g, sub.sess.id, sub.user)
	}
}

func (h *hub) presenceLeave(sub *subscription) {
	if h.presence == nil {
		return
	}
	if c, g, ok := presenceGroup(sub); ok {
		h.presence.Leave(c, g, sub.sess.id, sub.user)
	}
}

// presenceBody is the data of a presence event and the body of GET
// /presence?contest=.
type presenceBody struct {
	Contest string `json:"contest"`
	presence.Totals
	// Nodes is how many nodes' counts are in the totals.
	Nodes int `json:"nodes"`
	// IntervalMS is how often the counts are recomputed.
	IntervalMS int64 `json:"interval_ms"`
}

// presenceEvent is the envelope of the presence event: an event without
// an id (docs/protocol.md section 10).
type presenceEvent struct {
	Type      string       `json:"type"`
	Channel   string       `json:"channel"`
	Timestamp int64        `json:"timestamp"`
	Data      presenceBody `json:"data"`
}

// presenceTick runs on the tracker's goroutine after every recomputation:
// for each contest this node has subscribers of, it sends the presence
// event to the admin channel's subscribers when the totals changed, every
// PresenceRepeat intervals anyway, and to a subscriber that has had none
// yet. presenceLast and presenceRound are owned by this goroutine.
func (s *Server) presenceTick(totals map[string]presence.Totals, nodes int) {
	s.presenceRound++
	repeat := s.presenceRound%uint64(s.opts.PresenceRepeat) == 0
	last := make(map[string]presence.Totals)
	now := s.opts.Now().Unix()
	for _, contest := range s.presence.Counter().Contests() {
		tot := totals[contest]
		prev, seen := s.presenceLast[contest]
		last[contest] = tot
		force := repeat || !seen || prev != tot
		route := protocol.Channel{Kind: protocol.KindContestAdmin, Name: contest}.String()
		s.hub.deliverPresence(route, force, func() *frame {
			b, _ := json.Marshal(presenceEvent{
				Type: protocol.TypePresence, Channel: route, Timestamp: now,
				Data: presenceBody{Contest: contest, Totals: tot, Nodes: nodes, IntervalMS: s.presence.Interval().Milliseconds()},
			})
			return &frame{data: b, typ: protocol.TypePresence, channel: route}
		})
	}
	s.presenceLast = last
}

// deliverPresence queues the frame mk makes (once, if anyone gets it) to
// the live subscribers of the admin channel route: all of them when force
// is set, else those that have had no presence event yet.
func (h *hub) deliverPresence(route string, force bool, mk func() *frame) {
	sh := h.shard(route)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	r := sh.routes[route]
	if r == nil {
		return
	}
	var f *frame
	for _, sub := range r.all.s {
		if sub.kind != protocol.KindContestAdmin {
			continue
		}
		if f == nil {
			f = mk()
		}
		sub.sess.pushPresence(sub.st, f, force)
	}
}

// pushPresence queues a presence frame for a channel once its subscribed
// reply is queued (presenceReady), not during a replay, and, unless force,
// only if the channel has had none yet. It may run under a hub shard lock,
// like push.
func (s *session) pushPresence(st *chanState, f *frame, force bool) {
	s.mu.Lock()
	if s.closed || st.ended || st.replaying || !st.presenceReady || st.from == math.MaxUint64 || (!force && st.presenceSent) {
		s.mu.Unlock()
		return
	}
	st.presenceSent = true
	s.enqueueAndUnlock(f)
}

// servePresence answers GET /presence?contest=<alias> with that contest's
// totals (presenceBody) to a publisher credential or a token of an admin of
// the contest, and GET /presence (every contest) to a publisher credential
// only. Deny by default: no credential is 401, a valid token that does not
// administer the contest 403.
func (s *Server) servePresence(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSONError(w, http.StatusMethodNotAllowed, protocol.ErrBadRequest, "", "use GET")
		return
	}
	if s.presence == nil {
		writeJSONError(w, http.StatusNotFound, protocol.ErrNotFound, "", "presence is off on this node (--presence-interval)")
		return
	}
	contest, named := r.URL.Query()["contest"]
	if named && (len(contest) != 1 || !protocol.ValidName(contest[0])) {
		writeJSONError(w, http.StatusBadRequest, protocol.ErrBadRequest, "", "contest= must name one contest alias")
		return
	}
	operator := s.publisherAllowed(r)
	if !operator {
		tok, ok := bearer(r)
		if !ok {
			writeJSONError(w, http.StatusUnauthorized, protocol.ErrUnauthorized, "", `a credential is required: Authorization: Bearer <the publish key, a token with "publish":true, or a token of an admin of the contest>`)
			return
		}
		p, err := s.opts.Verifier.Verify(tok)
		if err == nil && s.userRevoked(p) {
			err = errTokenRevoked
		}
		if err != nil {
			writeJSONError(w, http.StatusUnauthorized, protocol.ErrUnauthorized, "", "the credential was refused: "+err.Error())
			return
		}
		if !named {
			writeJSONError(w, http.StatusForbidden, protocol.ErrUnauthorized, "", "every contest's presence needs a publisher credential; name a contest you administer with contest=")
			return
		}
		if s.channelAccess(p, protocol.Channel{Kind: protocol.KindContestAdmin, Name: contest[0]}) == auth.AccessNone {
			writeJSONError(w, http.StatusForbidden, protocol.ErrUnauthorized, "", "not an admin of this contest")
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	interval := s.presence.Interval().Milliseconds()
	if named {
		tot, nodes, at := s.presence.Totals(contest[0])
		json.NewEncoder(w).Encode(struct {
			presenceBody
			At int64 `json:"at"`
		}{presenceBody{Contest: contest[0], Totals: tot, Nodes: nodes, IntervalMS: interval}, unixOrZero(at)})
		return
	}
	all, nodes, at := s.presence.All()
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	type row struct {
		Contest string `json:"contest"`
		presence.Totals
	}
	rows := make([]row, 0, len(names))
	for _, n := range names {
		rows = append(rows, row{n, all[n]})
	}
	json.NewEncoder(w).Encode(struct {
		Contests   []row `json:"contests"`
		Nodes      int   `json:"nodes"`
		IntervalMS int64 `json:"interval_ms"`
		At         int64 `json:"at"`
	}{rows, nodes, interval, unixOrZero(at)})
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
