package broadcaster

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// errTokenRevoked refuses a token of a user whose sessions were revoked
// after the token was issued.
var errTokenRevoked = errors.New("token revoked")

// handleRaw processes one message read from a client: rate limit, decode,
// dispatch. Messages of one session are handled one at a time, in order
// (for WebSocket on a goroutine the reader starts and waits for: see
// handleOffStack).
func (s *session) handleRaw(b []byte, binary bool) {
	o := &s.srv.opts
	if !s.rate.allow(o.Now(), o.MessageRate, o.MessageBurst) {
		if s.rate.dropped == 1 {
			s.send(protocol.ErrorReply("", protocol.ErrRateLimited, "", "too many messages; this one was dropped"))
		}
		if s.rate.dropped > 2*o.MessageBurst {
			s.shutdown(protocol.CloseRateLimited)
		}
		return
	}
	if binary {
		s.bad("", "binary frames are not supported; send JSON text")
		return
	}
	m, err := protocol.DecodeClientMessage(b)
	if err != nil {
		s.bad(m.ID, err.Error())
		return
	}
	switch m.Type {
	case protocol.MsgPing:
		if m.ID == "" {
			s.sendFrame(&frame{data: protocol.PongReply})
		} else {
			s.send(protocol.Reply{Type: protocol.MsgPong, ID: m.ID})
		}
	case protocol.MsgAuth:
		s.authenticate(m.ID, m.Token)
	case protocol.MsgSubscribe:
		o := subOptions{patches: s.boardPatches, snapshot: m.Snapshot}
		if m.Boards != "" {
			o.patches = m.Boards == protocol.BoardsPatch
		}
		s.subscribe(m.ID, m.Channel, m.Since, m.Since != "", o)
	case protocol.MsgUnsubscribe:
		s.unsubscribe(m.ID, m.Channel)
	}
}

// bad answers a malformed message and closes the connection after too many.
func (s *session) bad(id, msg string) {
	s.badMessages++
	s.srv.stats.badMessages.Add(1)
	s.send(protocol.ErrorReply(id, protocol.ErrBadRequest, "", msg))
	if s.badMessages >= s.srv.opts.MaxBadMessages {
		s.shutdown(protocol.CloseProtocolViolation)
	}
}

// authenticate verifies a token and installs (or refreshes) the principal.
func (s *session) authenticate(id, token string) {
	p, err := s.srv.opts.Verifier.Verify(token)
	if err == nil && s.srv.userRevoked(p) {
		err = errTokenRevoked
	}
	if err != nil {
		s.authFails++
		s.srv.stats.authFailed(err)
		code := protocol.ErrUnauthorized
		if auth.ReasonOf(err) == auth.ReasonExpired {
			code = protocol.ErrTokenExpired
		}
		s.send(protocol.ErrorReply(id, code, "", "authentication failed: "+err.Error()))
		if s.authFails >= s.srv.opts.MaxAuthFailures {
			s.shutdown(protocol.CloseAuthFailed)
		}
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	prev := s.principal
	if prev != nil && prev.User != p.User {
		s.mu.Unlock()
		s.send(protocol.ErrorReply(id, protocol.ErrUnauthorized, "", "a refreshed token must name the same user"))
		s.shutdown(protocol.CloseAuthFailed)
		return
	}
	s.principal = p
	s.engaged = true
	s.disarmExpiryLocked() // the old token's deadline; the new one is armed below
	s.timers.stopAuthDeadline()
	var changed []*subscription
	for _, sub := range s.subs {
		if sub.kind != protocol.KindScoreboard {
			changed = append(changed, sub)
		}
	}
	s.mu.Unlock()

	// Replies are queued before anything else for the refreshed grants.
	s.send(protocol.Reply{Type: protocol.MsgAuthSuccess, ID: id, User: p.User, Expires: p.Expires.Unix()})
	// Armed after auth_success is queued, so a token that is already inside
	// the warning window gets its token_expired after, not before, it.
	s.mu.Lock()
	if !s.closed {
		s.armExpiryLocked(p.Expires)
	}
	s.mu.Unlock()
	for _, old := range changed {
		ch, _ := protocol.ParseChannel(old.client)
		acc := s.srv.channelAccess(p, ch)
		if acc == old.access {
			continue
		}
		if acc == auth.AccessNone {
			s.endSubscription(old, protocol.ReasonRevoked)
			continue
		}
		s.replaceSubscription(old, acc, p)
	}
}

// armExpiryLocked (re)sets the token expiry deadline: one timer sends the
// token_expired warning and then arms the one that closes with 4003, at
// ExpiryGrace after exp, timed from now as before. A refresh (or the close)
// replaces or stops the timer; a warning already running then arms nothing.
func (s *session) armExpiryLocked(exp time.Time) {
	o := &s.srv.opts
	s.disarmExpiryLocked()
	armed := time.Now()
	now := o.Now()
	warnIn := max(exp.Sub(now)-o.ExpiryWarning, 0)
	closeIn := exp.Sub(now) + o.ExpiryGrace
	// Each callback checks, under mu, that its timer is still the armed
	// one: a fresh auth that raced with it (Stop too late) replaced it,
	// and the old token's warning or close must not follow the new one.
	// The timers are assigned under mu before a callback can take it.
	var warn, closer *time.Timer
	warn = time.AfterFunc(warnIn, func() {
		s.mu.Lock()
		if s.closed || s.timers.expiry != warn {
			s.mu.Unlock()
			return
		}
		closer = time.AfterFunc(closeIn-time.Since(armed), func() {
			s.mu.Lock()
			current := !s.closed && s.timers.expiry == closer
			s.mu.Unlock()
			if current {
				s.shutdown(protocol.CloseTokenExpired)
			}
		})
		s.timers.expiry = closer
		s.enqueueAndUnlock(newReplyFrame(protocol.ErrorReply("", protocol.ErrTokenExpired, "", "the token expires at "+exp.UTC().Format(time.RFC3339)+"; send a fresh auth")))
	})
	s.timers.expiry = warn
}

// disarmExpiryLocked stops the token deadline and forgets its timer, so
// that a callback which already fired and waits for mu finds itself
// replaced and does nothing: a fresh auth unlocks mu between dropping the
// old deadline and arming the new one (auth_success is queued in between).
func (s *session) disarmExpiryLocked() {
	if s.timers.expiry != nil {
		s.timers.expiry.Stop()
		s.timers.expiry = nil
	}
}

// replaceSubscription registers a copy of old with new access, then drops
// old. The shared chanState keeps ids from repeating across the swap.
func (s *session) replaceSubscription(old *subscription, acc auth.Access, p *auth.Principal) {
	nsub := *old
	nsub.access = acc
	nsub.principal = p
	nsub.idx = [2]int{-1, -1}
	s.mu.Lock()
	if s.closed || s.subs[old.client] != old {
		s.mu.Unlock()
		return
	}
	s.subs[old.client] = &nsub
	s.mu.Unlock()
	s.srv.hub.add(&nsub)
	s.srv.hub.remove(old)
	if s.isClosed() {
		s.srv.hub.remove(&nsub)
	}
}

// subscribe authorizes a channel and registers the session on it. With
// resume, it replays history after since before going live.
func (s *session) subscribe(id, name, since string, resume bool, o subOptions) {
	if req := s.register(id, name, since, resume, false, o); req != nil {
		// History runs off the reader goroutine so a slow store never
		// stalls the connection's other messages; live frames wait in
		// pending.
		go s.catchUp([]*catchUpReq{req})
	}
}

// subOptions are a subscribe's choices beyond its channel and since.
type subOptions struct {
	patches  bool // keyed scoreboards as patches (boards=patch)
	snapshot bool // with since: fresh boards instead of board patches
}

// catchUpReq is a registered subscription whose history (resume) or
// snapshot is still to be sent; until then its live frames wait in pending.
type catchUpReq struct {
	sub     *subscription
	routeCh protocol.Channel
	id      string // the subscribe message's id, echoed on the reply
	after   uint64
	resume  bool
	// snapshot: fresh boards instead of the board patches after after
	// (subscribe's "snapshot":true).
	snapshot bool
}

// register does the work of subscribe up to the history: it answers
// refusals and duplicates itself and returns nil, or registers the
// subscription and returns what catchUp must do for it. A subscription
// that needs neither history nor snapshot goes live at once (and register
// returns nil) unless hold is set: then it waits for catchUp too, so that
// catchUp can merge several channels into one id order (SSE).
func (s *session) register(id, name, since string, resume, hold bool, o subOptions) *catchUpReq {
	ch, err := protocol.ParseChannel(name)
	if err != nil {
		code := protocol.ErrBadRequest
		if errors.Is(err, protocol.ErrUnknownChannel) {
			code = protocol.ErrNotFound
		}
		s.send(protocol.ErrorReply(id, code, name, err.Error()))
		return nil
	}
	var after uint64
	if resume {
		if after, err = protocol.ParseID(since); err != nil {
			s.send(protocol.ErrorReply(id, protocol.ErrBadRequest, name, "since: "+err.Error()))
			return nil
		}
	}
	s.mu.Lock()
	p := s.principal
	_, dup := s.subs[name]
	n := len(s.subs)
	s.mu.Unlock()
	if dup {
		s.send(protocol.SubscribedReply(id, name, false, false))
		return nil
	}
	if n >= s.srv.opts.MaxSubscriptions {
		s.send(protocol.ErrorReply(id, protocol.ErrLimitExceeded, name, "too many subscriptions on this connection"))
		return nil
	}
	sub := &subscription{sess: s, client: name, kind: ch.Kind, idx: [2]int{-1, -1}, patches: o.patches}
	if ch.Kind == protocol.KindScoreboard {
		contest, exp, err := s.srv.opts.Verifier.VerifyScoreboard(ch.Name)
		if err != nil {
			s.srv.stats.authFailed(err)
			s.send(protocol.ErrorReply(id, protocol.ErrUnauthorized, name, "invalid scoreboard token"))
			return nil
		}
		sub.access = auth.AccessScoreboard
		sub.route = protocol.Channel{Kind: protocol.KindContest, Name: contest}.String()
		sub.expires = exp.Unix()
	} else {
		if p == nil {
			s.send(protocol.ErrorReply(id, protocol.ErrUnauthorized, name, "authenticate first"))
			return nil
		}
		sub.access = s.srv.channelAccess(p, ch)
		if sub.access == auth.AccessNone {
			s.send(protocol.ErrorReply(id, protocol.ErrUnauthorized, name, "not allowed on this channel"))
			return nil
		}
		sub.route = name
		sub.principal = p
		sub.user = p.User
	}
	routeCh, _ := protocol.ParseChannel(sub.route)
	snapshot := !resume && (ch.Kind == protocol.KindContest || ch.Kind == protocol.KindScoreboard)
	sub.st = &chanState{replaying: resume || snapshot || hold}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	if _, dup := s.subs[name]; dup {
		s.mu.Unlock()
		s.send(protocol.SubscribedReply(id, name, false, false))
		return nil
	}
	if s.subs == nil {
		s.subs = make(map[string]*subscription)
	}
	s.subs[name] = sub
	s.engaged = true
	s.timers.stopAuthDeadline()
	s.mu.Unlock()

	s.srv.hub.add(sub)
	if s.isClosed() {
		s.srv.hub.remove(sub)
		return nil
	}
	if !sub.st.replaying {
		s.send(protocol.SubscribedReply(id, name, false, false))
		return nil
	}
	return &catchUpReq{sub: sub, routeCh: routeCh, id: id, after: after, resume: resume, snapshot: o.snapshot && resume}
}

// catchUp sends, for each request, the subscribed reply and then the
// history (resume) or the snapshot, then the live frames that arrived
// meanwhile, without duplicates, and switches the channels to live
// delivery. Every channel's history is read up to one stream position, and
// with several requests the frames of all channels are merged into one id
// order: an SSE client's Last-Event-ID is stream-wide, so the stream must
// never show an id before a smaller one it still owes.
func (s *session) catchUp(reqs []*catchUpReq) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus := s.srv.opts.Bus
	// The subscriptions are already in the hub, so every event the node
	// routes after upTo reaches pending; history covers the rest. The
	// node's own position is read without a round trip; the stream's is
	// fetched only when memory cannot answer.
	upTo := s.srv.stats.lastConsumed.Load()
	var lastErr error
	memory := make([][]*protocol.Event, len(reqs))
	fromMemory := make([]bool, len(reqs))
	needStream := false
	for i, rq := range reqs {
		if rq.resume {
			memory[i], fromMemory[i] = s.srv.recent.replay(rq.sub.route, rq.after, upTo)
			needStream = needStream || !fromMemory[i]
		}
	}
	if needStream {
		upTo, lastErr = bus.LastID(ctx)
	}
	type result struct {
		history   []*frame
		snaps     []*frame // fresh boards, merged into history by id
		recovered bool
		err       error
	}
	results := make([]result, len(reqs))
	for i, rq := range reqs {
		r := &results[i]
		sub := rq.sub
		r.err = lastErr
		// A contest's scoreboards: which views get a fresh board instead of
		// their history (docs/protocol.md section 8).
		var boards boardPlan
		if rq.routeCh.Kind == protocol.KindContest && lastErr == nil {
			var err error
			if boards, err = s.boardPlan(ctx, rq, fromMemory[i], upTo); err != nil {
				s.srv.log.Warn("scoreboards unavailable", "session", s.id, "channel", sub.route, "err", err)
			}
		}
		keep := func(ev *protocol.Event) bool { return sub.sees(ev) && boards.keep(ev) }
		switch {
		case fromMemory[i]:
			for _, ev := range memory[i] {
				if keep(ev) {
					r.history = append(r.history, newEventFrame(ev, sub.client))
				}
			}
			r.recovered = true
			s.srv.stats.countResume(true, nil)
		case r.err != nil:
		case rq.resume:
			r.recovered, r.err = bus.Replay(ctx, rq.routeCh, rq.after, upTo, func(ev *protocol.Event) {
				s.srv.annotate(ev)
				if keep(ev) {
					r.history = append(r.history, newEventFrame(ev, sub.client))
				}
			})
			s.srv.stats.countResume(r.recovered, r.err)
		}
		for _, ev := range boards.fresh {
			r.snaps = append(r.snaps, newEventFrame(ev, sub.client))
		}
		if r.err != nil {
			s.srv.log.Warn("history unavailable", "session", s.id, "channel", sub.route, "err", r.err)
			if !rq.resume {
				r.err = nil // a missing snapshot is not worth an error reply
			}
		}
		s.send(protocol.SubscribedReply(rq.id, sub.client, rq.resume, r.recovered && r.err == nil))
		if r.err != nil {
			s.send(protocol.ErrorReply(rq.id, protocol.ErrInternal, sub.client, "history is unavailable; refetch state"))
		}
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	var out []*frame
	for i, rq := range reqs {
		st := rq.sub.st
		if st.ended {
			continue
		}
		st.replaying = false
		// An id past the stream's end (unknown here) must not hold back
		// the live events that follow the recovered:false reply.
		if rq.resume && rq.after > st.last && (rq.after <= upTo || lastErr != nil) {
			st.last = rq.after
		}
		out = append(out, mergeCatchUp(st, results[i].snaps, results[i].history, st.pending)...)
		st.pending = nil
	}
	if len(reqs) > 1 {
		slices.SortStableFunc(out, func(a, b *frame) int { return cmp.Compare(a.seq, b.seq) })
	}
	var start, ok = false, true
	for _, f := range out {
		var st1 bool
		if st1, ok = s.enqueueLocked(f); !ok {
			break
		}
		start = start || st1
	}
	s.mu.Unlock()
	if !ok {
		s.srv.stats.slowConsumers.Add(1)
		s.shutdown(protocol.CloseSlowConsumer)
		return
	}
	if start {
		s.startWriter()
	}
}

// unsubscribe ends a subscription at the client's request.
func (s *session) unsubscribe(id, name string) {
	s.mu.Lock()
	sub := s.subs[name]
	if sub != nil {
		delete(s.subs, name)
		sub.st.ended = true
	}
	s.mu.Unlock()
	if sub != nil {
		s.srv.hub.remove(sub)
	}
	s.send(protocol.Reply{Type: protocol.MsgUnsubscribed, ID: id, Channel: name, Reason: protocol.ReasonRequested})
}
