package broadcaster

import (
	"context"
	"errors"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// errTokenRevoked refuses a token of a user whose sessions were revoked
// after the token was issued.
var errTokenRevoked = errors.New("token revoked")

// handleRaw processes one message read from a client: rate limit, decode,
// dispatch. It runs on the session's reader goroutine only.
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
		s.subscribe(m.ID, m.Channel, m.Since, m.Since != "")
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
	if s.timers.authDeadline != nil {
		s.timers.authDeadline.Stop()
	}
	s.armExpiryLocked(p.Expires)
	var changed []*subscription
	for _, sub := range s.subs {
		if sub.kind != protocol.KindScoreboard {
			changed = append(changed, sub)
		}
	}
	s.mu.Unlock()

	// Replies are queued before anything else for the refreshed grants.
	s.send(protocol.Reply{Type: protocol.MsgAuthSuccess, ID: id, User: p.User, Expires: p.Expires.Unix()})
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

// armExpiryLocked (re)sets the token expiry warning and close timers.
func (s *session) armExpiryLocked(exp time.Time) {
	o := &s.srv.opts
	if s.timers.expiryWarn != nil {
		s.timers.expiryWarn.Stop()
	}
	if s.timers.expiryClose != nil {
		s.timers.expiryClose.Stop()
	}
	now := o.Now()
	warnIn := exp.Sub(now) - o.ExpiryWarning
	if warnIn < 0 {
		warnIn = 0
	}
	s.timers.expiryWarn = time.AfterFunc(warnIn, func() {
		s.send(protocol.ErrorReply("", protocol.ErrTokenExpired, "", "the token expires at "+exp.UTC().Format(time.RFC3339)+"; send a fresh auth"))
	})
	s.timers.expiryClose = time.AfterFunc(exp.Sub(now)+o.ExpiryGrace, func() {
		s.shutdown(protocol.CloseTokenExpired)
	})
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
func (s *session) subscribe(id, name, since string, resume bool) {
	ch, err := protocol.ParseChannel(name)
	if err != nil {
		code := protocol.ErrBadRequest
		if errors.Is(err, protocol.ErrUnknownChannel) {
			code = protocol.ErrNotFound
		}
		s.send(protocol.ErrorReply(id, code, name, err.Error()))
		return
	}
	var after uint64
	if resume {
		if after, err = protocol.ParseID(since); err != nil {
			s.send(protocol.ErrorReply(id, protocol.ErrBadRequest, name, "since: "+err.Error()))
			return
		}
	}
	s.mu.Lock()
	p := s.principal
	_, dup := s.subs[name]
	n := len(s.subs)
	s.mu.Unlock()
	if dup {
		s.send(protocol.SubscribedReply(id, name, false, false))
		return
	}
	if n >= s.srv.opts.MaxSubscriptions {
		s.send(protocol.ErrorReply(id, protocol.ErrLimitExceeded, name, "too many subscriptions on this connection"))
		return
	}
	sub := &subscription{sess: s, client: name, kind: ch.Kind, idx: [2]int{-1, -1}}
	if ch.Kind == protocol.KindScoreboard {
		contest, exp, err := s.srv.opts.Verifier.VerifyScoreboard(ch.Name)
		if err != nil {
			s.srv.stats.authFailed(err)
			s.send(protocol.ErrorReply(id, protocol.ErrUnauthorized, name, "invalid scoreboard token"))
			return
		}
		sub.access = auth.AccessScoreboard
		sub.route = protocol.Channel{Kind: protocol.KindContest, Name: contest}.String()
		sub.expires = exp.Unix()
	} else {
		if p == nil {
			s.send(protocol.ErrorReply(id, protocol.ErrUnauthorized, name, "authenticate first"))
			return
		}
		sub.access = s.srv.channelAccess(p, ch)
		if sub.access == auth.AccessNone {
			s.send(protocol.ErrorReply(id, protocol.ErrUnauthorized, name, "not allowed on this channel"))
			return
		}
		sub.route = name
		sub.principal = p
		sub.user = p.User
	}
	routeCh, _ := protocol.ParseChannel(sub.route)
	snapshot := !resume && (ch.Kind == protocol.KindContest || ch.Kind == protocol.KindScoreboard)
	sub.st = &chanState{replaying: resume || snapshot}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if _, dup := s.subs[name]; dup {
		s.mu.Unlock()
		s.send(protocol.SubscribedReply(id, name, false, false))
		return
	}
	if s.subs == nil {
		s.subs = make(map[string]*subscription)
	}
	s.subs[name] = sub
	s.engaged = true
	if s.timers.authDeadline != nil {
		s.timers.authDeadline.Stop()
	}
	s.mu.Unlock()

	s.srv.hub.add(sub)
	if s.isClosed() {
		s.srv.hub.remove(sub)
		return
	}
	if !sub.st.replaying {
		s.send(protocol.SubscribedReply(id, name, false, false))
		return
	}
	// History runs off the reader goroutine so a slow store never stalls
	// the connection's other messages; live frames wait in pending.
	go s.catchUp(sub, routeCh, id, after, resume)
}

// catchUp sends the subscribed reply, then the history (resume) or the
// snapshot, then the live frames that arrived meanwhile, in id order and
// without duplicates, and switches the channel to live delivery.
func (s *session) catchUp(sub *subscription, routeCh protocol.Channel, id string, after uint64, resume bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus := s.srv.opts.Bus
	upTo, err := bus.LastID(ctx)
	var history []*frame
	recovered := false
	if err == nil && resume {
		recovered, err = bus.Replay(ctx, routeCh, after, upTo, func(ev *protocol.Event) {
			if sub.sees(ev) {
				history = append(history, newEventFrame(ev, sub.client))
			}
		})
		s.srv.stats.countResume(recovered, err)
	} else if err == nil {
		var ev *protocol.Event
		ev, err = s.srv.snapshot(ctx, sub, routeCh, upTo)
		if ev != nil {
			history = append(history, newEventFrame(ev, sub.client))
		}
	}
	if err != nil {
		s.srv.log.Warn("history unavailable", "session", s.id, "channel", sub.route, "err", err)
		if !resume {
			err = nil // a missing snapshot is not worth an error reply
		}
	}

	if resume {
		s.send(protocol.SubscribedReply(id, sub.client, true, recovered && err == nil))
	} else {
		s.send(protocol.SubscribedReply(id, sub.client, false, false))
	}
	if err != nil {
		s.send(protocol.ErrorReply(id, protocol.ErrInternal, sub.client, "history is unavailable; refetch state"))
	}
	s.mu.Lock()
	st := sub.st
	if s.closed || st.ended {
		s.mu.Unlock()
		return
	}
	st.replaying = false
	if resume && after > st.last {
		st.last = after
	}
	pending := st.pending
	st.pending = nil
	var start, ok = false, true
	for _, list := range [][]*frame{history, pending} {
		for _, f := range list {
			if f.seq <= st.last {
				continue
			}
			st.last = f.seq
			var st1 bool
			if st1, ok = s.enqueueLocked(f); !ok {
				break
			}
			start = start || st1
		}
		if !ok {
			break
		}
	}
	s.mu.Unlock()
	if !ok {
		s.srv.stats.slowConsumers.Add(1)
		s.shutdown(protocol.CloseSlowConsumer)
		return
	}
	if start {
		go s.writeLoop()
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
