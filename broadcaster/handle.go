package broadcaster

import (
	"context"
	"errors"
	"math"
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
	if !s.rate.allow(o.Now(), o.MessageRate, o.MessageBurst, o.MessageBurst+o.MaxSubscriptions) {
		if s.rate.dropped > 2*o.MessageBurst {
			s.shutdown(protocol.CloseRateLimited)
			return
		}
		s.send(droppedReply(b, binary))
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

// droppedReply is the rate_limited answer to a message dropped unread: it
// echoes the message's id and, for a subscribe or unsubscribe, its channel,
// so that the client knows what to send again. A message that does not
// decode is answered without either.
func droppedReply(b []byte, binary bool) protocol.Reply {
	what := "message"
	var m protocol.ClientMessage
	if !binary {
		if d, err := protocol.DecodeClientMessage(b); err == nil {
			m = d
			what = m.Type
		}
	}
	r := protocol.ErrorReply(m.ID, protocol.ErrRateLimited, "", "too many messages; this "+what+" was dropped: send it again later")
	if m.Type == protocol.MsgSubscribe || m.Type == protocol.MsgUnsubscribe {
		r.Channel = m.Channel
	}
	return r
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
	if s.closeIfRevoked(p) {
		return
	}

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
	// foreign: since is no id this server issued (garbage, another
	// deployment's): answered recovered:false with no history.
	foreign bool
	// attached: an adapter's connection (Server.Attach) catching up from
	// its handshake, not a client's resume: not counted as one.
	attached bool
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
	// A since that is no id of ours is treated like an id this stream
	// does not know: recovered:false, then live events (docs/protocol.md).
	var after uint64
	foreign := false
	if resume {
		if after, err = protocol.ParseID(since); err != nil {
			foreign = true
		}
	}
	s.mu.Lock()
	p := s.principal
	old := s.subs[name]
	n := len(s.subs)
	var recovered bool
	if old != nil && resume {
		recovered = !foreign && after >= old.st.from && after <= s.srv.stats.lastConsumed.Load()
	}
	s.mu.Unlock()
	if old != nil {
		s.send(protocol.SubscribedReply(id, name, resume, recovered))
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
	// from is known once the channel goes live or its history is read.
	sub.st = &chanState{replaying: resume || snapshot || hold, from: math.MaxUint64}

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
		s.mu.Lock()
		sub.st.from = s.srv.stats.lastConsumed.Load() // read after joining the hub
		s.mu.Unlock()
		s.send(protocol.SubscribedReply(id, name, false, false))
		s.mu.Lock()
		sub.st.presenceReady = true
		s.mu.Unlock()
		return nil
	}
	return &catchUpReq{sub: sub, routeCh: routeCh, id: id, after: after, resume: resume, foreign: foreign, snapshot: o.snapshot && resume}
}

// catchUp sends, for each request, the subscribed reply and then the
// history (resume) or the snapshot, then the live frames that arrived
// meanwhile, without duplicates, and switches the channels to live
// delivery. Every channel's history is read up to one stream position, and
// with several requests the frames of all channels are merged into one id
// order: an SSE client's Last-Event-ID is stream-wide, so the stream must
// never show an id before a smaller one it still owes.
//
// History goes into the bounded queue a page at a time, as the connection
// drains it (replay.go), so a backlog of any size inside the stream's
// history resumes; live frames wait behind it.
func (s *session) catchUp(reqs []*catchUpReq) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bus := s.srv.opts.Bus
	// The subscriptions are already in the hub, so every event the node
	// routes after upTo reaches pending; history covers the rest. The
	// node's own position is read without a round trip (after the
	// channels' scoreboards, whose versions it must cover: boards.go); the
	// stream's is fetched only when memory cannot answer.
	views, upTo := s.boardViewsFor(ctx, reqs)
	var lastErr error
	srcs := make([]*historySource, len(reqs))
	needStream := false
	for i, rq := range reqs {
		// Several channels (SSE) share the read size, so one stream's
		// buffers stay about one read's worth.
		h := &historySource{sub: rq.sub, ch: rq.routeCh, cursor: rq.after, fetch: max(replayFetch/len(reqs), 64), annotate: s.srv.annotate}
		if rq.resume && !rq.foreign {
			h.mem, h.fromMem = s.srv.recent.replay(rq.sub.route, rq.after, upTo)
			needStream = needStream || !h.fromMem
		}
		srcs[i] = h
	}
	if needStream {
		lctx, lcancel := context.WithTimeout(ctx, historyTimeout)
		if last, err := bus.LastID(lctx); err != nil {
			lastErr = err
		} else {
			upTo = max(upTo, last)
		}
		lcancel()
	}
	errs := make([]error, len(reqs))
	for i, rq := range reqs {
		h := srcs[i]
		h.upTo = upTo
		// A contest's scoreboards: which views get a fresh board instead
		// of their history (docs/protocol.md section 8).
		h.plan = newBoardPlan(rq, views[i], h.fromMem)
		h.fresh = h.plan.fresh
		err := lastErr
		switch {
		case rq.foreign:
			h.done = true // not an id of ours: nothing to replay, recovered:false
			err = nil
		case h.fromMem:
			err = h.fill(ctx, bus)
		case err != nil:
		case rq.resume:
			err = h.fill(ctx, bus)
		}
		if !rq.resume || err != nil {
			h.done = true
		}
		if err != nil {
			s.srv.log.Warn("history unavailable", "session", s.id, "channel", rq.sub.route, "err", err)
		}
		errs[i] = err
		s.send(protocol.SubscribedReply(rq.id, rq.sub.client, rq.resume, h.complete && err == nil))
		if err != nil {
			s.send(protocol.ErrorReply(rq.id, protocol.ErrInternal, rq.sub.client, "history is unavailable; refetch state"))
		}
	}
	s.mu.Lock()
	for i, rq := range reqs {
		st := rq.sub.st
		// Frames up to since are the client's already. An id past the
		// stream's end (unknown here) must not hold back the live events
		// that follow the recovered:false reply.
		if rq.resume && !rq.foreign && rq.after > st.last && (rq.after <= upTo || lastErr != nil) {
			st.last = rq.after
		}
		st.from = upTo
		st.presenceReady = true // its subscribed reply is queued; presence waits for the replay's end too
		if rq.resume && srcs[i].complete && errs[i] == nil {
			st.from = rq.after
		}
	}
	s.mu.Unlock()

	done := s.replayHistory(ctx, srcs, upTo)
	for i, rq := range reqs {
		if rq.resume && !rq.attached {
			s.srv.stats.countResume(done, srcs[i].complete, errs[i])
		}
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
