package broadcaster

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/arenacast/arenacast/protocol"
)

// historyTimeout bounds one read of history from the stream (a page, a
// snapshot search, the stream position), not a whole replay: a replay
// lasts as long as the client takes to drain it.
const historyTimeout = 30 * time.Second

// replayFetch is how many stored events one stream read takes (shared
// among the channels of one catch-up); the next read starts after the last
// one it passed.
const replayFetch = 1000

// maxReplayRounds bounds the rounds of a replay whose waiting live events
// outgrew the queue again and again: a client that cannot even keep up
// with the live rate is a slow consumer (4001), as it would be live.
const maxReplayRounds = 16

// errReplayGap: the stream discarded events a replay still had to send
// (its retention limits passed the replay's position).
var errReplayGap = errors.New("the stream discarded events this replay still had to send")

// historySource is one channel's history for a catch-up, read in pages:
// from the recent log (all at once: it is in memory already) or from the
// stream, replayFetch events per read.
type historySource struct {
	sub  *subscription
	ch   protocol.Channel // routing channel
	upTo uint64           // the history ends here; later events come live

	mem     []*protocol.Event // the recent log's answer, when fromMem
	fromMem bool
	fetch   int               // events per stream read
	cursor  uint64            // newest id read so far (or the resume position)
	buf     []*protocol.Event // read, visible to sub, not yet queued
	done    bool              // nothing left to read
	started bool              // a read happened: complete is known
	// complete: the history reaches back to the resume position (the
	// recovered flag); false for an id the stream does not know.
	complete bool

	// plan says which scoreboard events of the history go (boards.go);
	// fresh are the boards sent instead of the others, oldest first,
	// merged into the history by id. annotate fills what the consumer
	// fills on board events read back from the stream.
	plan     boardPlan
	fresh    []*protocol.Event
	annotate func(*protocol.Event)
}

// keep reports whether a history event goes to the subscriber.
func (h *historySource) keep(ev *protocol.Event) bool {
	return h.sub.sees(ev) && h.plan.keep(ev)
}

// head is the next event of the source: the older of its buffered
// history and its fresh boards (a fresh board before the event of its own
// id). nil: nothing buffered.
func (h *historySource) head() *protocol.Event {
	switch {
	case len(h.buf) == 0 && len(h.fresh) == 0:
		return nil
	case len(h.buf) == 0:
		return h.fresh[0]
	case len(h.fresh) == 0 || h.buf[0].ID < h.fresh[0].ID:
		return h.buf[0]
	}
	return h.fresh[0]
}

// headFresh reports whether the head is a fresh board.
func (h *historySource) headFresh() bool {
	return len(h.fresh) > 0 && (len(h.buf) == 0 || h.fresh[0].ID <= h.buf[0].ID)
}

// pop drops the head.
func (h *historySource) pop() {
	if h.headFresh() {
		h.fresh = h.fresh[1:]
		return
	}
	h.buf = h.buf[1:]
}

// fill reads the next page of history into buf. After the first read,
// a page whose start the stream no longer holds is errReplayGap.
func (h *historySource) fill(ctx context.Context, bus Bus) error {
	if h.done {
		return nil
	}
	if h.fromMem {
		for _, ev := range h.mem {
			if h.keep(ev) {
				h.buf = append(h.buf, ev)
			}
		}
		h.mem, h.done, h.started, h.complete = nil, true, true, true
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	n := 0
	last := h.cursor
	complete, err := bus.Replay(ctx, h.ch, h.cursor, h.upTo, func(ev *protocol.Event) bool {
		n++
		last = ev.ID
		if h.annotate != nil {
			h.annotate(ev)
		}
		if h.keep(ev) {
			h.buf = append(h.buf, ev)
		}
		return n < h.fetch
	})
	if err != nil {
		return err
	}
	if !h.started {
		h.started, h.complete = true, complete
	} else if !complete {
		return errReplayGap
	}
	h.cursor = max(h.cursor, last)
	if n < h.fetch || h.cursor >= h.upTo {
		h.done = true
	}
	return nil
}

// pageItem is a frame of a replay page and the channel state it advances.
type pageItem struct {
	st *chanState
	f  *frame
}

// replayHistory sends the sources' history, merged into one id order, a
// page at a time as the connection drains its queue, then the live frames
// that arrived meanwhile, and switches the channels to live delivery. A
// channel whose waiting live frames outgrew the queue's limits drops them
// and reads them from history too, in a next round up to the node's
// position then. It reports whether the replay completed; when it did
// not, the session is closed (or was already): a replay that cannot go
// on closes with 4001 and the client resumes from the last id it got.
func (s *session) replayHistory(ctx context.Context, srcs []*historySource, upTo uint64) bool {
	o := &s.srv.opts
	pageMsgs := max(min(o.QueueMessages/2, replayFetch), 1)
	pageBytes := max(o.QueueBytes/2, 1)
	bus := o.Bus
	for round := 1; ; round++ {
		for {
			page, err := nextPage(ctx, bus, srcs, pageMsgs, pageBytes)
			if err != nil {
				s.srv.log.Warn("replay cannot go on", "session", s.id, "err", err)
				s.srv.stats.slowConsumers.Add(1)
				s.shutdown(protocol.CloseSlowConsumer)
				return false
			}
			if len(page) == 0 {
				break
			}
			if !s.enqueuePaced(page) {
				return false
			}
		}
		next, live, ok := s.finishReplay(srcs, pageMsgs, pageBytes)
		if !ok {
			return false
		}
		if live {
			return true
		}
		if round >= maxReplayRounds {
			s.srv.log.Info("replay never caught up with the live events", "session", s.id)
			s.srv.stats.slowConsumers.Add(1)
			s.shutdown(protocol.CloseSlowConsumer)
			return false
		}
		// Another round: (upTo, next] from memory, else the stream.
		for _, h := range srcs {
			s.mu.Lock()
			ended := h.sub.st.ended
			s.mu.Unlock()
			if ended {
				h.buf, h.mem, h.done, h.fresh = nil, nil, true, nil
				continue
			}
			h.buf, h.mem, h.done, h.fresh = nil, nil, false, nil
			h.cursor, h.upTo = upTo, next
			h.mem, h.fromMem = s.srv.recent.replay(h.sub.route, upTo, next)
			h.started = true // a gap in this round is a gap, not recovered:false
		}
		upTo = next
	}
}

// nextPage takes the next page of history: the oldest buffered events of
// all sources, reading more as buffers empty, up to pageMsgs frames and
// pageBytes bytes (at least one frame). Empty: the history is done.
func nextPage(ctx context.Context, bus Bus, srcs []*historySource, pageMsgs, pageBytes int) ([]pageItem, error) {
	var page []pageItem
	size := 0
	for len(page) < pageMsgs {
		var best *historySource
		for _, h := range srcs {
			for len(h.buf) == 0 && !h.done {
				if err := h.fill(ctx, bus); err != nil {
					return nil, err
				}
			}
			if ev := h.head(); ev != nil && (best == nil || ev.ID < best.head().ID) {
				best = h
			}
		}
		if best == nil {
			break
		}
		newFrame := newEventFrame
		if best.headFresh() {
			newFrame = newSnapshotFrame // a stored board, marked (section 6)
		}
		f := newFrame(best.head(), best.sub.client)
		if len(page) > 0 && size+len(f.data) > pageBytes {
			break
		}
		best.pop()
		page = append(page, pageItem{st: best.sub.st, f: f})
		size += len(f.data)
	}
	return page, nil
}

// enqueuePaced queues a page of frames once the queue has room for it
// (or is empty), skipping ids already queued and channels that ended. It
// waits for the writer to take the queue, never for longer than the
// session lives: a peer that stops reading is closed by the write watch,
// which wakes it. It reports false when the session is closed.
func (s *session) enqueuePaced(page []pageItem) bool {
	o := &s.srv.opts
	size := 0
	for _, it := range page {
		size += len(it.f.data)
	}
	s.mu.Lock()
	for !s.closed {
		used := len(s.queue) - s.holes
		// At most half the queue holds history, so that live frames
		// arriving as the replay ends still have room (a queue the
		// replay filled to the brim would close on the next live one).
		if used == 0 || (used+len(page) <= o.QueueMessages/2 && s.queueBytes+size <= o.QueueBytes/2) {
			break
		}
		if s.room == nil {
			s.room = make(chan struct{})
		}
		room := s.room
		s.mu.Unlock()
		<-room
		s.mu.Lock()
	}
	if s.closed {
		s.mu.Unlock()
		return false
	}
	start := false
	for _, it := range page {
		if it.st.ended || it.f.seq <= it.st.last {
			continue
		}
		it.st.last = it.f.seq
		st1, ok := s.enqueueLocked(it.f)
		if !ok {
			// A frame larger than the whole queue: as for a live one.
			subs := s.beginCloseLocked(protocol.CloseSlowConsumer, false)
			s.mu.Unlock()
			s.srv.stats.slowConsumers.Add(1)
			s.finishClose(subs, protocol.CloseSlowConsumer, nil)
			return false
		}
		start = start || st1
	}
	s.mu.Unlock()
	if start {
		s.startWriter()
	}
	return true
}

// finishReplay queues the live frames that waited during the replay and
// switches the channels to live delivery once none is waiting. When one
// of them outgrew the queue's limits and dropped its live frames (push),
// it reports live false and the position up to which the next round must
// read history instead; the waiting frames are dropped then and later
// ones wait again. ok is false when the session closed.
func (s *session) finishReplay(srcs []*historySource, pageMsgs, pageBytes int) (next uint64, live, ok bool) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return 0, false, false
		}
		overflow := false
		for _, h := range srcs {
			overflow = overflow || (h.sub.st.overflow && !h.sub.st.ended)
		}
		if overflow {
			// Read the position under mu: every frame dropped so far was
			// routed, so it is at most the position, and every frame
			// pushed from now on waits in pending.
			next = s.srv.stats.lastConsumed.Load()
			for _, h := range srcs {
				st := h.sub.st
				st.overflow, st.pending, st.pendingBytes = false, nil, 0
			}
			s.mu.Unlock()
			return next, false, true
		}
		var waiting []pageItem
		size := 0
		for _, h := range srcs {
			st := h.sub.st
			for _, f := range st.pending {
				if !st.ended && f.seq > st.last {
					waiting = append(waiting, pageItem{st: st, f: f})
					size += len(f.data)
				}
			}
			st.pending, st.pendingBytes = nil, 0
		}
		if len(srcs) > 1 {
			slices.SortStableFunc(waiting, func(a, b pageItem) int { return cmp.Compare(a.f.seq, b.f.seq) })
		}
		o := &s.srv.opts
		used := len(s.queue) - s.holes
		if used+len(waiting) <= o.QueueMessages && s.queueBytes+size <= o.QueueBytes {
			start := false
			for _, it := range waiting {
				if it.f.seq <= it.st.last {
					continue
				}
				it.st.last = it.f.seq
				st1, _ := s.enqueueLocked(it.f) // fits: checked above
				start = start || st1
			}
			for _, h := range srcs {
				h.sub.st.replaying = false
			}
			s.mu.Unlock()
			if start {
				s.startWriter()
			}
			return 0, true, true
		}
		s.mu.Unlock()
		// Too many to queue at once: page them in; newer live frames
		// wait meanwhile, and the loop takes them next.
		for len(waiting) > 0 {
			n, b := 0, 0
			for n < len(waiting) && n < pageMsgs && (n == 0 || b+len(waiting[n].f.data) <= pageBytes) {
				b += len(waiting[n].f.data)
				n++
			}
			if !s.enqueuePaced(waiting[:n]) {
				return 0, false, false
			}
			waiting = waiting[n:]
		}
	}
}
