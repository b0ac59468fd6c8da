package broadcaster

import (
	"log/slog"
	"sync"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// transport is what a session needs from its connection: WebSocket or SSE.
type transport interface {
	// write sends frames in order. Only the holder of the session's wmu
	// calls it (its writer, or its closer), never concurrently.
	write(frames []*frame) error
	// close ends the connection with code. It is called once, from a
	// goroutine of its own, and may block until the peer is gone.
	close(code protocol.CloseCode)
	// name is "websocket" or "sse", for logs and metrics.
	name() string
}

// aborter is a transport that can be ended at once, with nothing sent,
// when its close does not finish within Options.CloseTimeout. (SSE left
// with net/http needs none: its writes carry a deadline.)
type aborter interface {
	abort()
}

// closeGone is the code recorded when the peer went away or a write failed;
// nothing is sent.
const closeGone protocol.CloseCode = 0

// session is one client connection, independent of its transport: its
// principal, its subscriptions and its bounded send queue.
//
// Delivery never waits on the network: push appends to the queue and, if
// no write is pending, hands the session to its flusher (a WebSocket on a
// socket; see flusher) or starts a writer goroutine, which drains the
// whole backlog per wake-up and exits when the queue is empty. An idle
// session has no goroutine of its own on the write side.
type session struct {
	srv    *Server
	t      transport
	id     uint64
	remote string // peer address, for logs

	// Owned by the reader goroutine (or the SSE handler).
	rate        tokenBucket
	badMessages int
	authFails   int
	// boardPatches is the connection's default for subscribes that do not
	// say how they take keyed scoreboards (?boards=patch). Set before the
	// first message is read.
	boardPatches bool

	wmu sync.Mutex // held by whoever writes to t: the writer, or the closer
	// fl writes this session's queue in rounds (a WebSocket, or an SSE
	// stream taken over from net/http, whose socket allows non-blocking
	// writes); nil: a writer goroutine per wake-up.
	fl *flusher

	mu sync.Mutex // guards the fields below
	// queue holds frames not yet handed to the transport; spare is a
	// drained queue kept for reuse.
	queue, spare []*frame
	queueBytes   int
	// boardIdx maps a coalesce key to the queue index of its frame.
	boardIdx map[string]int
	// holes counts the nil slots coalescing left in queue: they do not
	// count against QueueMessages.
	holes   int
	writing bool // a write is pending: the session is in its flusher's round or its writer runs
	// room, when set, is closed (and cleared) when the writer takes the
	// queue or the session closes: a replay waiting to queue its next
	// page waits on it (enqueuePaced).
	room      chan struct{}
	closed    bool
	closeCode protocol.CloseCode
	principal *auth.Principal
	engaged   bool                     // authenticated or subscribed at least once
	subs      map[string]*subscription // by client channel name
	timers    sessionTimers
}

// sessionTimers are the per-session deadlines; all guarded by session.mu.
// An idle authenticated connection holds one timer, not three: each is a
// heap object with its callback, kept for the connection's life.
type sessionTimers struct {
	// authDeadline closes with 4004 unless engaged; stopped and dropped
	// once the session is engaged.
	authDeadline *time.Timer
	// expiry sends token_expired, then is replaced by the timer that closes
	// with 4003 (see armExpiryLocked).
	expiry *time.Timer
}

// stopAuthDeadline stops the auth deadline and drops it (and the session
// its callback holds) for the garbage collector.
func (t *sessionTimers) stopAuthDeadline() {
	if t.authDeadline != nil {
		t.authDeadline.Stop()
		t.authDeadline = nil
	}
}

func (t *sessionTimers) stopAll() {
	t.stopAuthDeadline()
	if t.expiry != nil {
		t.expiry.Stop()
	}
}

// chanState is a session's delivery state for one client channel. It
// survives re-registration (token refresh) so ids never repeat. Guarded by
// session.mu.
type chanState struct {
	last      uint64   // newest event id queued for this channel
	replaying bool     // history is being fetched; live frames wait in pending
	pending   []*frame // live frames that arrived during replay
	// pendingBytes is the size of pending. Pending is bounded like the
	// queue: past its limits it is dropped and overflow set, and the
	// replay reads those events from history instead (replayHistory).
	pendingBytes int
	overflow     bool
	// from: every event after it that the subscriber may see has been or
	// will be queued on this connection (set when the channel goes live
	// or its history is known), for a repeated subscribe with since.
	from  uint64
	ended bool // unsubscribed: drop anything still arriving
	// presenceReady: the subscribed reply is queued, so presence events
	// (admin channels, no id) may follow; presenceSent: one has been.
	presenceReady, presenceSent bool
}

// subscription registers a session on a routing channel in the hub. It is
// immutable once added; a token refresh that changes access replaces it.
type subscription struct {
	sess      *session
	st        *chanState
	client    string // the channel name the client used
	route     string // the channel events are published to
	kind      protocol.Kind
	access    auth.Access
	principal *auth.Principal // nil for scoreboard-token holders
	user      string          // principal's user, for the hub's byUser index
	expires   int64           // unix seconds when the grant ends; 0 never
	patches   bool            // keyed scoreboards as patches (boards=patch), else whole boards
	idx       [2]int          // positions in hub lists; guarded by the hub shard lock
}

// sees applies the one visibility policy.
func (sub *subscription) sees(ev *protocol.Event) bool {
	return auth.CanSee(sub.access, sub.principal, ev)
}

// deliver queues f for the subscriber unless the grant has expired.
func (sub *subscription) deliver(f *frame, now int64) bool {
	if sub.expires != 0 && now >= sub.expires {
		sub.sess.srv.stats.drop(DropExpired, 1)
		go sub.sess.endSubscription(sub, protocol.ReasonExpired)
		return false
	}
	return sub.sess.push(sub.st, f)
}

// push queues an event frame for one channel, dropping ids already queued
// (so a seam between replay and live, or a refresh, never duplicates). It
// may run under a hub shard lock, so it never calls back into the hub: a
// session it overflows is finished on another goroutine.
func (s *session) push(st *chanState, f *frame) bool {
	s.mu.Lock()
	if s.closed || st.ended {
		s.mu.Unlock()
		return false
	}
	if f.seq != 0 {
		if st.replaying {
			if !st.overflow {
				o := &s.srv.opts
				if len(st.pending) >= o.QueueMessages || st.pendingBytes+len(f.data) > o.QueueBytes {
					// The replay reads these from history instead.
					st.overflow, st.pending, st.pendingBytes = true, nil, 0
				} else {
					st.pending = append(st.pending, f)
					st.pendingBytes += len(f.data)
				}
			}
			s.mu.Unlock()
			return true
		}
		if f.seq <= st.last {
			s.mu.Unlock()
			return false
		}
		st.last = f.seq
	}
	return s.enqueueAndUnlock(f)
}

// send queues a reply.
func (s *session) send(r protocol.Reply) {
	s.sendFrame(newReplyFrame(r))
}

func (s *session) sendFrame(f *frame) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.enqueueAndUnlock(f)
}

// enqueueAndUnlock queues f, releases mu, and starts the writer if needed.
// A full queue closes the session as a slow consumer.
func (s *session) enqueueAndUnlock(f *frame) bool {
	start, ok := s.enqueueLocked(f)
	if !ok {
		subs := s.beginCloseLocked(protocol.CloseSlowConsumer, false)
		s.mu.Unlock()
		s.srv.stats.slowConsumers.Add(1)
		go s.finishClose(subs, protocol.CloseSlowConsumer, nil)
		return false
	}
	s.mu.Unlock()
	if start {
		s.startWriter()
	}
	return true
}

// startWriter hands the session to its flusher, or starts its writer
// goroutine, after its queue got frames with no write pending (writing was
// false and the caller set it).
func (s *session) startWriter() {
	if s.fl != nil {
		s.fl.add(s)
	} else {
		go s.writeLoop()
	}
}

// enqueueLocked appends f, or replaces a queued frame it supersedes. It
// reports whether a writer must be started and false in ok when the queue is
// full (the caller closes the session as a slow consumer).
//
// A superseded scoreboard_update is removed from its place and the newer
// one appended, so ids within a channel stay increasing on the wire.
//
// A scoreboard_patch is folded into a queued patch of its view (the fold
// takes the older's place at the end of the queue); behind a queued whole
// board it queues as it is.
func (s *session) enqueueLocked(f *frame) (start, ok bool) {
	if f.coalesce != "" {
		if i, found := s.boardIdx[f.coalesce]; found {
			old := s.queue[i]
			replace := f.ev == nil // a whole board supersedes what is queued
			if f.ev != nil && old.ev != nil {
				if folded := foldFrames(old, f); folded != nil {
					f, replace = folded, true
					s.srv.stats.boardFolds.Add(1)
				}
			}
			if replace {
				s.queueBytes -= len(old.data)
				s.queue[i] = nil // a hole the writer skips
				s.holes++
				delete(s.boardIdx, f.coalesce)
				s.srv.stats.coalesced.Add(1)
				s.srv.stats.drop(DropCoalesced, 1)
			}
		}
	}
	if s.holes > 64 && 2*s.holes > len(s.queue) {
		s.compactQueueLocked()
	}
	if len(s.queue)-s.holes >= s.srv.opts.QueueMessages || s.queueBytes+len(f.data) > s.srv.opts.QueueBytes {
		return false, false
	}
	if f.coalesce != "" {
		if s.boardIdx == nil {
			s.boardIdx = make(map[string]int)
		}
		s.boardIdx[f.coalesce] = len(s.queue)
	}
	if s.queue == nil && s.spare != nil {
		s.queue, s.spare = s.spare, nil
	}
	s.queue = append(s.queue, f)
	s.queueBytes += len(f.data)
	if s.writing {
		return false, true
	}
	s.writing = true
	return true, true
}

// writeLoop drains the queue to the transport until it is empty. wmu is
// held from taking a batch until it is written, so a closing session
// flushes its last frames after the batch in flight, never during or
// before it: a close takes what the writer has not taken (shutdown), and
// the wire keeps queue order.
func (s *session) writeLoop() {
	for {
		s.wmu.Lock()
		batch := s.takeBatch()
		if batch == nil {
			s.wmu.Unlock()
			return
		}
		err := s.t.write(batch)
		s.wmu.Unlock()
		s.wrote(batch)
		if err != nil {
			s.shutdown(closeGone)
			return
		}
	}
}

// takeBatch takes the queue for a write; the caller holds wmu. It returns
// nil, and clears writing, when the session is closed or has nothing
// queued: whoever was writing stops.
func (s *session) takeBatch() []*frame {
	s.mu.Lock()
	if s.closed || len(s.queue) == 0 {
		s.writing = false
		s.mu.Unlock()
		return nil
	}
	batch := s.queue
	s.queue = nil
	s.queueBytes = 0
	s.holes = 0
	clear(s.boardIdx)
	s.wakeRoomLocked()
	s.mu.Unlock()
	return compact(batch) // outside mu: the queue is the writer's now
}

// wrote accounts for a written batch and recycles it.
func (s *session) wrote(batch []*frame) {
	s.account(batch, 0)
	if cap(batch) <= 256 {
		s.mu.Lock()
		s.spare = batch[:0]
		s.mu.Unlock()
	}
}

// account counts a written batch, records its latency (at now, unix nanos;
// 0: read the clock) and clears it for reuse.
func (s *session) account(batch []*frame, now int64) {
	s.observeLatency(batch, now)
	s.srv.stats.framesWritten.Add(uint64(len(batch)))
	clear(batch)
}

// observeLatency records the publish-to-write latency of the oldest event
// frame of a written batch: one histogram add per write, not per frame,
// and at most one clock read (none when the flusher passes its own).
func (s *session) observeLatency(batch []*frame, now int64) {
	for _, f := range batch {
		if f != nil && f.stored != 0 {
			if now < f.stored { // 0, or a clock read before this frame was stored
				now = time.Now().UnixNano()
			}
			s.srv.stats.latency.observe(time.Duration(now - f.stored))
			return
		}
	}
}

// compactQueueLocked drops the queue's holes so that a reader stalled
// under a stream of scoreboard updates does not grow it without bound.
func (s *session) compactQueueLocked() {
	kept := compact(s.queue)
	clear(s.queue[len(kept):])
	s.queue = kept
	s.holes = 0
	clear(s.boardIdx)
	for i, f := range s.queue {
		if f.coalesce != "" {
			s.boardIdx[f.coalesce] = i
		}
	}
}

// compact drops the holes coalescing left, in place.
func compact(batch []*frame) []*frame {
	out := batch[:0]
	for _, f := range batch {
		if f != nil {
			out = append(out, f)
		}
	}
	return out
}

// shutdown closes the session once: it leaves the hub and closes the
// transport with code (closeGone: the peer is already gone). For policy
// closes, replies still queued (the error that explains the close) are
// written first. It must not be called under a hub lock.
func (s *session) shutdown(code protocol.CloseCode) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	flush := code != closeGone && code != protocol.CloseSlowConsumer
	var pending []*frame
	if flush {
		pending = append(pending, s.queue...)
	}
	subs := s.beginCloseLocked(code, flush)
	s.mu.Unlock()
	s.finishClose(subs, code, pending)
}

// beginCloseLocked marks the session closed and takes what finishClose
// needs. Called with mu held.
func (s *session) beginCloseLocked(code protocol.CloseCode, flush bool) map[string]*subscription {
	if n := countEvents(s.queue); n > 0 && !flush {
		if code == protocol.CloseSlowConsumer {
			s.srv.stats.drop(DropSlowConsumer, n)
		} else {
			s.srv.stats.drop(DropClosed, n)
		}
	}
	s.closed = true
	s.closeCode = code
	subs := s.subs
	s.subs = nil
	clear(s.queue)
	s.queue = nil
	s.holes = 0
	s.spare = nil
	s.timers.stopAll()
	s.wakeRoomLocked()
	return subs
}

// wakeRoomLocked wakes a replay waiting for room in the queue.
func (s *session) wakeRoomLocked() {
	if s.room != nil {
		close(s.room)
		s.room = nil
	}
}

// countEvents counts the event frames (not replies) in a queue.
func countEvents(q []*frame) int {
	n := 0
	for _, f := range q {
		if f != nil && f.seq != 0 {
			n++
		}
	}
	return n
}

// finishClose leaves the hub, flushes pending, and closes the transport.
func (s *session) finishClose(subs map[string]*subscription, code protocol.CloseCode, pending []*frame) {
	// Counted before the session leaves the node's count, so a shutdown
	// never sees both at zero while a close is still to be written.
	s.srv.closing.Add(1)
	for _, sub := range subs {
		s.srv.hub.remove(sub)
	}
	s.srv.sessionGone(s, code)
	go func() {
		defer s.srv.closing.Add(-1)
		// The write watch no longer sees this session, and a peer that
		// stopped reading blocks the writer (holding wmu) and the close
		// frame behind it: the close carries its own deadline.
		if a, ok := s.t.(aborter); ok {
			stop := time.AfterFunc(s.srv.opts.CloseTimeout, a.abort)
			defer stop.Stop()
		}
		// A policy close waits for a write in flight (the writer may hold
		// the reply that explains the close) and sends what was queued;
		// a slow consumer or a gone peer is closed at once.
		if code != closeGone && code != protocol.CloseSlowConsumer {
			s.wmu.Lock()
			if pending = compact(pending); len(pending) > 0 {
				s.t.write(pending)
			}
			s.wmu.Unlock()
		}
		s.t.close(code)
	}()
}

// LogValue logs a session as fields; never its token.
func (s *session) LogValue() slog.Value {
	s.mu.Lock()
	user := ""
	if s.principal != nil {
		user = s.principal.User
	}
	s.mu.Unlock()
	return slog.GroupValue(
		slog.Uint64("id", s.id),
		slog.String("transport", s.t.name()),
		slog.String("remote", s.remote),
		slog.String("user", user),
	)
}

// isClosed reports whether shutdown ran.
func (s *session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// endSubscription removes sub (if it is still the registered one) and tells
// the client why.
func (s *session) endSubscription(sub *subscription, reason string) {
	s.mu.Lock()
	if s.closed || s.subs[sub.client] != sub {
		s.mu.Unlock()
		return
	}
	delete(s.subs, sub.client)
	sub.st.ended = true
	s.mu.Unlock()
	s.srv.hub.remove(sub)
	s.send(protocol.Reply{Type: protocol.MsgUnsubscribed, Channel: sub.client, Reason: reason})
}

// tokenBucket limits client messages; owned by the reader goroutine.
type tokenBucket struct {
	tokens  float64
	last    time.Time
	dropped int // messages dropped since the last accepted one
}

// allow reports whether one more message fits the rate. The bucket opens
// with max(burst, opening) tokens, so that a reconnecting client's auth and
// all its subscribes fit at once, and refills at rate up to burst.
func (b *tokenBucket) allow(now time.Time, rate float64, burst, opening int) bool {
	if b.last.IsZero() {
		b.tokens = float64(max(burst, opening))
	} else if b.tokens < float64(burst) {
		b.tokens = min(b.tokens+now.Sub(b.last).Seconds()*rate, float64(burst))
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		b.dropped = 0
		return true
	}
	b.dropped++
	return false
}

// nonBlockingWriter is a transport the flusher can write: one
// non-blocking attempt, and a finish for what the socket did not take.
type nonBlockingWriter interface {
	// tryWrite writes frames without waiting; a non-nil finish writes
	// the rest and must be called, through finishWrite.
	tryWrite(frames []*frame) (finish func() error, err error)
	// finishWrite runs finish under the server's write watch.
	finishWrite(finish func() error) error
}

// ringWriter is a nonBlockingWriter whose writes a flusher can batch into
// one io_uring submission (flusher.stage): a socket, an encoding, and the
// pacing state a completed write updates.
type ringWriter interface {
	nonBlockingWriter
	// ringTarget returns the connection and whether frames are packed
	// (?batch=1); raw is nil when the transport has none.
	ringTarget() (raw *rawConn, pack bool, pw *pacedWriter)
}

// flushOnce writes s's queue for the flusher f: at once if the socket
// takes it all, else on a goroutine of s's own, which then goes on as
// writeLoop. Sessions that still have frames queued go to f's next round.
// Nothing here waits for one connection: a failed write is closed on a
// goroutine of its own (leaving the hub waits for a fan-out in progress).
// now (unix nanos) is the flusher's clock, read once per few sessions,
// for the latency histogram.
func (s *session) flushOnce(f *flusher, now int64) {
	batch := s.beginFlush()
	if batch == nil {
		return
	}
	t := s.t.(nonBlockingWriter)
	finish, err := t.tryWrite(batch)
	s.endFlush(f, t, batch, finish, err, now)
}

// beginFlush takes s's queue for a flusher's write, or returns nil: a
// closer holds wmu, or nothing is queued. With a batch, the caller holds
// wmu and ends the write with endFlush.
func (s *session) beginFlush() []*frame {
	if !s.wmu.TryLock() {
		return nil // a closer holds wmu: the session is closed
	}
	batch := s.takeBatch()
	if batch == nil {
		s.wmu.Unlock()
	}
	return batch
}

// endFlush completes a flusher's write of batch through t: finish (non-nil:
// the socket did not take it all) runs on a goroutine of s's own, which
// goes on as writeLoop; err closes s; otherwise s goes to f's next round if
// frames were queued meanwhile. It releases wmu.
func (s *session) endFlush(f *flusher, t nonBlockingWriter, batch []*frame, finish func() error, err error, now int64) {
	if finish != nil {
		go func() {
			err := t.finishWrite(finish)
			s.wmu.Unlock()
			s.wrote(batch)
			if err != nil {
				s.shutdown(closeGone)
				return
			}
			s.writeLoop()
		}()
		return
	}
	s.wmu.Unlock()
	s.account(batch, now)
	if err != nil {
		go s.shutdown(closeGone)
		return
	}
	// One lock for recycling the batch and deciding the next round.
	s.mu.Lock()
	if cap(batch) <= 256 && !s.closed {
		s.spare = batch[:0]
	}
	more := !s.closed && len(s.queue) > 0
	if !more {
		s.writing = false
	}
	s.mu.Unlock()
	if more {
		f.add(s)
	}
}
