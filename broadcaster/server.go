// Package broadcaster is Arenacast's engine: it consumes events from a Bus,
// routes each to the sessions subscribed to its channel that may see it, and
// serves clients over WebSocket and Server-Sent Events on GET /events/, plus
// the HTTP publish endpoint.
package broadcaster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arenacast/arenacast/broadcaster/presence"
	"github.com/arenacast/arenacast/protocol"
)

// Server is one broadcaster node. Create it with New, mount Handler, and
// call Run to consume events; Shutdown closes every client.
type Server struct {
	opts Options // static after New
	log  *slog.Logger
	hub  *hub

	stats Stats

	nextID atomic.Uint64
	nconns atomic.Int64
	// closing counts sessions whose transport close (the close frame or
	// event that tells the client to reconnect) is still being written;
	// Shutdown waits for it too.
	closing  atomic.Int64
	draining atomic.Bool

	// flushers write sessions on sockets in rounds (flusher); set in New.
	flushers []*flusher
	// afterAccept, when set (tests only), runs in Attach between the
	// handshake's answer and the subscriptions going live.
	afterAccept func()

	mu       sync.Mutex // guards sessions
	sessions map[*session]struct{}

	revoked revocations // revocations in force, fed by ApplyRevocation

	// scratch holds *publishScratch: POST /publish requests' working
	// memory (body, batch), reused by the next request once one is
	// answered.
	scratch sync.Pool

	snaps *snapshotCache
	// throttle spaces scoreboard updates (Options.ScoreboardMinInterval);
	// nil when off.
	throttle *boardThrottle
	// startID is the position the consumer started after (Run's stream
	// position minus the warm-up); the snapshot cache and the recent log
	// are complete for events after it. warmUntil is the stream position
	// when Run began: events up to it are history, not live.
	startID   atomic.Uint64
	warmUntil atomic.Uint64
	readyOnce sync.Once
	recent    *recentLog
	ready     chan struct{} // closed when Run consumes
	// position is the newest stream position the consumer passed (an
	// event or a malformed message); owned by the consumer goroutine.
	position uint64
	// progress is position and when it last moved, for readiness
	// (consumerStalled); written by the consumer goroutine.
	progress struct {
		pos atomic.Uint64
		at  atomic.Int64 // unix nanoseconds
	}
	// presence counts subscribers per contest across nodes; nil when off.
	// presenceLast and presenceRound are owned by its loop (presenceTick).
	presence      *presence.Tracker
	presenceLast  map[string]presence.Totals
	presenceRound uint64
}

// New checks opts and returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Verifier == nil {
		return nil, errors.New("broadcaster: Options.Verifier is required")
	}
	if opts.Bus == nil {
		return nil, errors.New("broadcaster: Options.Bus is required")
	}
	o := opts.withDefaults()
	for _, p := range o.AllowedOrigins {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("broadcaster: allowed origin pattern %q: %w", p, err)
		}
	}
	srv := &Server{
		opts:     o,
		log:      o.Logger,
		hub:      newHub(),
		sessions: make(map[*session]struct{}),
		recent:   newRecentLog(o.RecentEvents, o.RecentBytes),
		ready:    make(chan struct{}),
	}
	if o.PresenceInterval > 0 {
		srv.presence = presence.NewTracker(presence.Config{Link: o.PresenceLink, Interval: o.PresenceInterval, Logger: o.Logger, Now: o.Now})
		srv.hub.presence = srv.presence.Counter()
	}
	srv.snaps = newSnapshotCache(o.SnapshotBytes, srv.startID.Load, srv.hub.has)
	srv.recent.maxRoutes, srv.recent.now, srv.recent.evicted = o.ChannelStateMax, o.Now, srv.stats.evictionsOf(StateRecent)
	srv.snaps.maxRoutes, srv.snaps.now, srv.snaps.evicted = o.ChannelStateMax, o.Now, srv.stats.evictionsOf(StateSnapshot)
	for range runtime.GOMAXPROCS(0) {
		srv.flushers = append(srv.flushers, newFlusher(o.WritePace))
	}
	if o.ScoreboardMinInterval > 0 {
		srv.throttle = newBoardThrottle(o.ScoreboardMinInterval, srv.dispatch)
		srv.throttle.evicted = srv.stats.evictionsOf(StateThrottle)
	}
	return srv, nil
}

// Handler serves GET /events/ (WebSocket, or SSE for Accept:
// text/event-stream), POST /events/ticket, POST /publish, POST /revoke,
// GET /presence, /healthz,
// /readyz, and GET / (a short JSON naming those endpoints).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/events/", s.serveEvents)
	mux.HandleFunc("/events", s.serveEvents)
	mux.HandleFunc("/events/ticket", s.serveTicket)
	mux.HandleFunc("/publish", s.servePublish)
	mux.HandleFunc("/revoke", s.serveRevoke)
	mux.HandleFunc("/presence", s.servePresence)
	mux.HandleFunc("/healthz", s.serveHealthz)
	mux.HandleFunc("/readyz", s.serveReadyz)
	mux.HandleFunc("/{$}", s.serveIndex)
	return mux
}

// Ready is closed once Run consumes the stream.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Run consumes the bus and keeps connections alive until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	s.startRings()
	defer s.stopRings()
	last, err := s.startPosition(ctx)
	if err != nil {
		return nil // ctx ended while NATS was away
	}
	// Warm up: read the newest WarmEvents stored events into the recent
	// log and the snapshot cache without dispatching them, so that
	// clients reconnecting after a restart resume from memory. The node is
	// ready (and the HTTP side opens) once it has routed up to last.
	warmFrom := last - min(last, uint64(s.opts.WarmEvents))
	s.startID.Store(warmFrom)
	s.warmUntil.Store(last)
	s.position = warmFrom
	s.progress.pos.Store(warmFrom)
	s.progress.at.Store(time.Now().UnixNano())
	s.recent.start(warmFrom + 1)
	if warmFrom == last {
		s.warmed(last)
	}
	go s.keepalive(ctx)
	if s.presence != nil {
		go s.presence.Run(ctx, s.presenceTick)
	}
	go s.watchWrites(ctx)
	go s.sweepLoop(ctx)
	err = s.opts.Bus.Consume(ctx, warmFrom, s.route, func(subject string, seq uint64, err error) {
		s.stats.eventsBad.Add(1)
		s.log.Warn("skipping malformed event", "subject", subject, "id", seq, "err", err)
		if seq != 0 {
			s.passed(seq)
			s.skipped(seq)
		} else {
			s.warmed(seq)
		}
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// startPosition reads the stream's position for Run. The bus was opened
// (its stream exists) just before, so a failure here is NATS going away in
// between: it retries with backoff (250 ms doubling to 5 s, a warning each
// time) until it succeeds or ctx ends (then it returns ctx's error). The node
// is not ready meanwhile.
func (s *Server) startPosition(ctx context.Context) (uint64, error) {
	wait := 250 * time.Millisecond
	for {
		last, err := s.opts.Bus.LastID(ctx)
		if err == nil {
			return last, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		s.log.Warn("reading the stream position failed; retrying", "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// route takes one event off the stream.
func (s *Server) route(ev *protocol.Event) {
	s.stats.eventsConsumed.Add(1)
	s.passed(ev.ID)
	ev.StampStored = s.opts.DebugStoredTime
	// A board event is folded into its view first: a patch leaves in the
	// delivered form, and one that does not apply is not delivered at all.
	if protocol.BoardType(ev.Type) {
		if err := s.snaps.consume(ev, s.jitterMS()); err != nil {
			if errors.Is(err, errBoardUnknown) {
				s.stats.boardsUnknown.Add(1)
			} else {
				s.stats.eventsBad.Add(1)
				s.stats.boardsRefused.Add(1)
				s.log.Warn("skipping a scoreboard event that does not fit its board", "channel", ev.Channel, "id", ev.ID, "err", err)
			}
			s.skipped(ev.ID)
			return
		}
	}
	// Order matters for catchUp: an event is in the recent log before the
	// position says it was routed, and dispatched after.
	s.recent.add(ev)
	s.stats.lastConsumed.Store(ev.ID)
	if ev.ID <= s.warmUntil.Load() {
		s.warmed(ev.ID) // history from before this node started: no live delivery
		return
	}
	if s.throttle != nil {
		s.throttle.route(ev, time.Now())
		return
	}
	s.dispatch(ev)
}

// skipped notes a stream position the consumer passed without routing
// an event (malformed, or a scoreboard event that did not fit): the recent
// log stays complete across it, and it counts as consumed (the lag a
// scrape reports must not stay one behind it) and towards readiness.
func (s *Server) skipped(id uint64) {
	s.recent.skip(id)
	s.stats.lastConsumed.Store(id)
	s.warmed(id)
}

// jitterMS is the refetch spread sent with opaque scoreboard updates.
func (s *Server) jitterMS() int { return int(s.opts.ScoreboardRefetchSpread / time.Millisecond) }

// passed notes that the consumer reached stream position id. Positions are
// contiguous, so a jump means the stream discarded events (retention
// limits) before this node read them; after warmUntil those were live
// events its clients never got, which is counted and logged. Called from
// the consumer goroutine only.
func (s *Server) passed(id uint64) {
	from := max(s.position, s.warmUntil.Load())
	if id > s.position {
		s.position = id
		s.progress.pos.Store(id)
		s.progress.at.Store(time.Now().UnixNano())
	}
	if id > from+1 {
		s.stats.positionsSkipped.Add(id - from - 1)
		s.log.Warn("the stream discarded events before this node read them; its clients missed them (raise --history-max-*?)",
			"first", from+1, "last", id-1)
	}
}

// warmed notes that the consumer passed id; reaching the stream position
// Run started at makes the node ready.
func (s *Server) warmed(id uint64) {
	if id >= s.warmUntil.Load() {
		s.readyOnce.Do(func() { close(s.ready) })
	}
}

// dispatch delivers one event to the hub.
func (s *Server) dispatch(ev *protocol.Event) {
	var full func() *protocol.Event
	if ev.Type == protocol.TypeScoreboardPatch {
		full = func() *protocol.Event { return s.snaps.boardAt(ev.Channel, ev.View, ev.ID) }
	}
	n := s.hub.dispatch(ev, s.opts.Now().Unix(), full)
	s.stats.deliveries.Add(uint64(n))
}

// newSession registers a connection. When it cannot, it returns nil and
// the close code that says why: 4000 while draining (reconnect, to another
// node), 4502 when the node is full.
func (s *Server) newSession(t transport, remote string) (*session, protocol.CloseCode) {
	refuse := protocol.CloseCode(0)
	switch {
	case s.draining.Load():
		refuse = protocol.CloseServerShutdown
	case s.nconns.Add(1) > int64(s.opts.MaxConnections):
		s.nconns.Add(-1)
		refuse = protocol.CloseConnectionLimit
	}
	if refuse != 0 {
		s.log.Warn("connection refused", "transport", t.name(), "remote", remote, "reason", refuse.Reason())
		return nil, refuse
	}
	sess := &session{srv: s, t: t, id: s.nextID.Add(1), remote: remote}
	// draining is checked again under mu: Shutdown sets it before it takes
	// its list of sessions under mu, so a session is either in that list
	// or refused here, never missed by both.
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		s.nconns.Add(-1)
		s.log.Warn("connection refused", "transport", t.name(), "remote", remote, "reason", protocol.CloseServerShutdown.Reason())
		return nil, protocol.CloseServerShutdown
	}
	s.sessions[sess] = struct{}{}
	s.mu.Unlock()
	s.log.Debug("connection open", "session", sess)
	s.stats.connections.Add(1)
	s.stats.open[transportIndex(t.name())].Add(1)
	return sess, 0
}

// sessionGone unregisters a closed session.
func (s *Server) sessionGone(sess *session, code protocol.CloseCode) {
	s.mu.Lock()
	_, ok := s.sessions[sess]
	delete(s.sessions, sess)
	s.mu.Unlock()
	if ok {
		s.log.Debug("connection closed", "session", sess, "code", int(code), "reason", code.Reason())
		s.nconns.Add(-1)
		s.stats.open[transportIndex(sess.t.name())].Add(-1)
		s.stats.countClose(code)
	}
}

func (s *Server) snapshotSessions() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		out = append(out, sess)
	}
	return out
}

// Connections returns the number of open client connections.
func (s *Server) Connections() int { return int(s.nconns.Load()) }

// startRings gives each flusher an io_uring (Options.IOUringEntries),
// logging once where the system has none.
func (s *Server) startRings() {
	if s.opts.IOUringEntries <= 0 {
		return
	}
	for _, f := range s.flushers {
		if err := f.startRing(s.opts.IOUringEntries); err != nil {
			s.log.Info("writing a system call per connection", "reason", err)
			return
		}
	}
	s.log.Debug("writing connections through io_uring", "flushers", len(s.flushers), "entries", s.opts.IOUringEntries)
}

// stopRings releases the flushers' rings once Run ends.
func (s *Server) stopRings() {
	for _, f := range s.flushers {
		f.stopRing()
	}
}

// Shutdown refuses new connections and closes every session with 4000
// ("server shutdown"), spreading the closes over spread so that clients do
// not all reconnect at once; it returns when all are closed (their close
// frames written) or ctx ends.
func (s *Server) Shutdown(ctx context.Context, spread time.Duration) error {
	s.draining.Store(true)
	sessions := s.snapshotSessions()
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i, sess := range sessions {
		// Session i closes at start + spread*i/n. Closing by schedule, not
		// by pauses between closes, keeps the window: a pause that
		// overshoots (thousands of sub-millisecond pauses do) is made up
		// by closing the sessions already due at once.
		due := start.Add(spread * time.Duration(i) / time.Duration(len(sessions)))
		if d := time.Until(due); d > time.Millisecond && ctx.Err() == nil {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		sess.shutdown(protocol.CloseServerShutdown)
	}
	for s.nconns.Load() > 0 || s.closing.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// keepalive pings WebSocket sessions, spreading the pings over the
// interval so no burst of goroutines or timers builds up.
func (s *Server) keepalive(ctx context.Context) {
	interval := s.opts.PingInterval
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sessions := s.snapshotSessions()
		if len(sessions) == 0 {
			continue
		}
		const tick = 10 * time.Millisecond
		perTick := len(sessions)*int(tick)/int(interval) + 1
		for i, sess := range sessions {
			if p, ok := sess.t.(pinger); ok {
				go p.ping(sess, s.opts.PongTimeout)
			}
			if (i+1)%perTick == 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(tick):
				}
			}
		}
	}
}

// watchWrites closes connections whose write has been blocked for longer
// than WriteTimeout (a peer that stopped reading), checking every tenth of
// it. One sweep over the sessions replaces a timer armed and stopped
// around every write, which cost ~5% of the CPU under fan-out load
// (docs/benchmarks.md); a stall is caught within 1.1 WriteTimeout.
func (s *Server) watchWrites(ctx context.Context) {
	t := time.NewTicker(max(s.opts.WriteTimeout/10, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		deadline := time.Now().Add(-s.opts.WriteTimeout).UnixNano()
		for _, sess := range s.snapshotSessions() {
			if w, ok := sess.t.(stallWatcher); ok && w.stalled(deadline) {
				s.stats.writeTimeouts.Add(1)
				s.log.Info("write timed out", "session", sess)
			}
		}
	}
}

// stallWatcher is a transport whose blocked writes the server's write
// watch ends (SSE left with net/http uses the connection's write deadline
// instead).
type stallWatcher interface {
	stalled(deadline int64) bool
}

// pinger is a transport with a keepalive probe of its own.
type pinger interface {
	ping(sess *session, timeout time.Duration)
}
