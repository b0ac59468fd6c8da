package broadcaster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/coder/websocket"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// This file holds the few exported hooks through which an adapter for
// another platform's protocol (broadcaster/legacy: omegaUp's deployed
// broadcaster) plugs into the engine without the engine learning that
// protocol: a WebSocket whose identity and subscriptions the adapter
// decided (Attach), the publisher check (PublisherAllowed) and revocations
// (Revoke). Events the adapter publishes go through Options.Bus like every
// other event.

// Attachment describes a WebSocket connection whose principal and channels
// an adapter decided itself, and which receives events in the adapter's
// encoding. The engine still owns the rest: the per-connection queue and
// its limits (slow consumers close with 4001), pacing and flushers,
// keepalive pings, revocations (4503) and graceful shutdown (4000).
type Attachment struct {
	// Principal is who the connection is (auth.NewPrincipal). Required.
	Principal *auth.Principal
	// Channels are subscribed at once and live: no history, no snapshot,
	// no replies. Each must be a user, contest, contest admin or problem
	// channel Principal may subscribe (the one policy, minus revocations).
	Channels []string
	// Subprotocol, when set, is negotiated if the client offers it.
	Subprotocol string
	// Encode returns the text message the client receives for one event,
	// given the channel it came on and its data (the publisher's JSON, byte
	// for byte); nil skips the event. Only the connection's writer calls
	// it, one event at a time in delivery order, so it may keep state for
	// the connection. Replies of the engine's protocol (subscribed, error,
	// unsubscribed, token_expired) are never sent, and messages the client
	// sends are read and ignored (rate limited as usual).
	Encode func(channel string, data []byte) []byte
}

// Errors Attach returns before the upgrade, when nothing has been written:
// the caller answers the request (broadcaster/legacy: 403 with a JSON body).
var (
	// ErrAttachRefused: the principal may not have one of the channels, or
	// its grants were revoked.
	ErrAttachRefused = errors.New("not allowed")
	// ErrAttachOrigin: the request's Origin is not allowed (Options.AllowedOrigins).
	ErrAttachOrigin = errors.New("origin not allowed")
)

// Attach upgrades r to a WebSocket connection described by a. A non-nil
// error means it refused before the upgrade and wrote nothing (ErrAttachRefused,
// ErrAttachOrigin, or a malformed Attachment). Once the upgrade is
// attempted it returns nil: a failed handshake has been answered by the
// WebSocket library, a node that is full or draining closes the connection
// with 4502 or 4000, and an accepted connection lives on by itself.
func (s *Server) Attach(w http.ResponseWriter, r *http.Request, a Attachment) error {
	if a.Principal == nil || a.Encode == nil || len(a.Channels) == 0 {
		return errors.New("broadcaster: Attach needs a principal, channels and an encoder")
	}
	if len(a.Channels) > s.opts.MaxSubscriptions {
		return fmt.Errorf("broadcaster: %d channels is over the %d-subscription limit", len(a.Channels), s.opts.MaxSubscriptions)
	}
	if !originAllowed(r, s.opts.AllowedOrigins) {
		s.stats.originRefused.Add(1)
		return ErrAttachOrigin
	}
	p := a.Principal
	if s.userRevoked(p) {
		return fmt.Errorf("%w: the user's sessions were revoked", ErrAttachRefused)
	}
	type planned struct {
		name string
		ch   protocol.Channel
		acc  auth.Access
	}
	var plan []planned
	seen := make(map[string]bool, len(a.Channels))
	for _, name := range a.Channels {
		ch, err := protocol.ParseChannel(name)
		if err != nil {
			return fmt.Errorf("broadcaster: Attach: %w", err)
		}
		if ch.Kind == protocol.KindScoreboard {
			return fmt.Errorf("broadcaster: Attach: scoreboard channels are not attachable")
		}
		acc := s.channelAccess(p, ch)
		if acc == auth.AccessNone {
			return fmt.Errorf("%w: %s", ErrAttachRefused, name)
		}
		if !seen[name] {
			seen[name] = true
			plan = append(plan, planned{name, ch, acc})
		}
	}

	// The client may act as soon as the handshake is answered, before the
	// subscriptions below are in the hub: what the node routes after this
	// position is caught up from history (catchUp), so an event published
	// right after the client connected is not missed.
	mark := s.stats.lastConsumed.Load()
	cw := &hijackingWriter{ResponseWriter: w}
	ao := &websocket.AcceptOptions{OriginPatterns: s.opts.AllowedOrigins, CompressionMode: websocket.CompressionDisabled}
	if a.Subprotocol != "" {
		ao.Subprotocols = []string{a.Subprotocol}
	}
	c, err := websocket.Accept(cw, r, ao)
	if err != nil {
		return nil // Accept has answered the request
	}
	if cw.br != nil && cw.br.Buffered() == 0 {
		cw.br.Reset(cw.raw) // as in serveEvents
	}
	if s.afterAccept != nil {
		s.afterAccept()
	}
	c.SetReadLimit(s.opts.MaxMessageSize)
	ws := &wsTransport{c: c, raw: cw.raw}
	ws.pace = s.opts.WritePace
	if ws.raw != nil {
		ws.raw.encode = attachedEncoder(a.Encode)
	}
	t := &attachedTransport{wsTransport: ws, enc: a.Encode}
	sess, refused := s.newSession(t, r.RemoteAddr)
	if sess == nil {
		c.Close(websocket.StatusCode(refused), refused.Reason())
		return nil
	}
	if len(s.flushers) > 0 && ws.raw != nil && ws.raw.sc != nil {
		sess.fl = s.flushers[sess.id%uint64(len(s.flushers))]
	}
	subs := make([]*subscription, 0, len(plan))
	reqs := make([]*catchUpReq, 0, len(plan))
	sess.mu.Lock()
	sess.principal = p
	sess.engaged = true
	sess.subs = make(map[string]*subscription, len(plan))
	for _, pl := range plan {
		sub := &subscription{
			sess: sess, st: &chanState{replaying: true, from: math.MaxUint64}, client: pl.name, route: pl.name,
			kind: pl.ch.Kind, access: pl.acc, principal: p, user: p.User, idx: [2]int{-1, -1},
		}
		sess.subs[pl.name] = sub
		subs = append(subs, sub)
		reqs = append(reqs, &catchUpReq{sub: sub, routeCh: pl.ch, after: mark, resume: true, attached: true})
	}
	sess.mu.Unlock()
	for _, sub := range subs {
		s.hub.add(sub)
	}
	sess.closeIfRevoked(p)
	if sess.isClosed() {
		for _, sub := range subs {
			s.hub.remove(sub)
		}
		return nil
	}
	go sess.catchUp(reqs)
	go t.readLoop(sess)
	return nil
}

// attachedTransport is an attached connection's WebSocket: frames are
// encoded by the adapter's Encode (through rawConn.encode on the raw path).
type attachedTransport struct {
	*wsTransport
	enc func(channel string, data []byte) []byte
}

// write is wsTransport's, except on the fallback path without a rawConn,
// where each message goes through the library.
func (t *attachedTransport) write(frames []*frame) error {
	if t.raw != nil {
		return t.wsTransport.write(frames)
	}
	t.waitTurn()
	t.begin()
	defer t.end()
	for _, f := range frames {
		if m := attachedMessage(f, t.enc); m != nil {
			if err := t.c.Write(context.Background(), websocket.MessageText, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// readLoop reads and drops what the client sends (omegaUp's frontend
// sends "ping" every 30 s), closing a client that floods like any other
// (4005), until the connection ends.
func (t *attachedTransport) readLoop(sess *session) {
	o := &sess.srv.opts
	for {
		if _, _, err := t.c.Read(context.Background()); err != nil {
			sess.shutdown(closeGone)
			return
		}
		if !sess.rate.allow(o.Now(), o.MessageRate, o.MessageBurst, o.MessageBurst) && sess.rate.dropped > 2*o.MessageBurst {
			sess.shutdown(protocol.CloseRateLimited)
			return
		}
	}
}

// attachedEncoder is rawConn.encode for an attached connection: each
// event frame the adapter encodes becomes one text message; replies and
// skipped events leave nothing.
func attachedEncoder(enc func(string, []byte) []byte) func([]byte, []*frame, bool, func([]byte) error) ([]byte, error) {
	return func(b []byte, frames []*frame, _ bool, flush func([]byte) error) ([]byte, error) {
		for _, f := range frames {
			m := attachedMessage(f, enc)
			if m == nil {
				continue
			}
			b = appendTextMessage(b, m)
			if flush != nil && len(b) >= rawMax {
				if err := flush(b); err != nil {
					return b[:0], err
				}
				b = b[:0]
			}
		}
		return b, nil
	}
}

// attachedMessage is what an attached connection sends for f: nil for
// replies and comments, else the adapter's encoding of the event's data.
func attachedMessage(f *frame, enc func(string, []byte) []byte) []byte {
	if f == nil || f.seq == 0 || f.comment {
		return nil
	}
	d := deliveryData(f.data)
	if d == nil {
		return nil
	}
	return enc(f.channel, d)
}

var dataMember = []byte(`,"data":`)

// deliveryData returns the data member of an encoded delivery
// (protocol.AppendDelivery). The members before it are validated names and
// numbers, which contain no quotes, so the first `,"data":` starts it; it
// runs to the closing brace.
func deliveryData(b []byte) []byte {
	i := bytes.Index(b, dataMember)
	if i < 0 || len(b) < i+len(dataMember)+2 {
		return nil
	}
	return b[i+len(dataMember) : len(b)-1]
}

// PublisherAllowed reports whether r carries a publisher credential (the
// static publish key, or a token with the publish claim), as POST /publish
// requires; adapters with publish endpoints of their own use it.
func (s *Server) PublisherAllowed(r *http.Request) bool { return s.publisherAllowed(r) }

// Revoke stores r where every node sees it (Options.Revocations; each node,
// this one included, applies it as it watches the store), or without a
// store applies it on this node only. A zero Before means now.
func (s *Server) Revoke(ctx context.Context, r Revocation) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if r.Before.IsZero() {
		r.Before = s.opts.Now()
	}
	if s.opts.Revocations == nil {
		s.ApplyRevocation(r)
		return nil
	}
	return s.opts.Revocations.Revoke(ctx, r)
}
