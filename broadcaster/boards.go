package broadcaster

import (
	"context"
	"runtime"
	"slices"

	"github.com/arenacast/arenacast/broadcaster/board"
	"github.com/arenacast/arenacast/protocol"
)

// boardPlan is what a catch-up does with one subscription's scoreboards
// (docs/protocol.md section 8): which board events of its history it keeps,
// and the fresh boards it sends instead of the others.
type boardPlan struct {
	active bool
	// patches: the subscription takes patches; memory: its history comes
	// from the node's recent log, where patches are in the delivered form.
	patches, memory bool
	// keyed: the views that are keyed boards on this node, with the id
	// from which their patches are in the recent log; freshAt: the views
	// whose history up to that id a fresh board replaces.
	keyed   map[string]keyedFrom
	freshAt map[string]uint64
	fresh   []*protocol.Event // the fresh boards, oldest first
}

// boardViewsFor reads the scoreboard views of every contest channel the
// catch-up serves (nil for the others, or when they are unavailable), and
// the node's position to read history up to: at least every view's
// version, and with no board event of those views between a version and
// the position, so that a fresh board and the history after it meet with
// nothing missing. The views are read again until that holds (a few
// times at most; the consumer moves on quickly).
func (s *session) boardViewsFor(ctx context.Context, reqs []*catchUpReq) ([]*boardViews, uint64) {
	views := make([]*boardViews, len(reqs))
	contest := false
	for _, rq := range reqs {
		contest = contest || rq.routeCh.Kind == protocol.KindContest
	}
	upTo := s.srv.stats.lastConsumed.Load()
	if !contest {
		return views, upTo
	}
	versions := func() []uint64 {
		var out []uint64
		for _, bv := range views {
			if bv != nil {
				for _, ev := range bv.snaps {
					out = append(out, ev.ID)
				}
			}
		}
		return out
	}
	var prev []uint64
	for try := 0; ; try++ {
		for i, rq := range reqs {
			if rq.routeCh.Kind != protocol.KindContest {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, historyTimeout)
			bv, err := s.srv.boardViews(sctx, rq.sub, rq.routeCh, upTo)
			cancel()
			if err != nil {
				// Shared by the channel's waiting subscribers: each goes on
				// without the channel's scoreboards, none searches again.
				s.srv.log.Warn("scoreboards unavailable", "session", s.id, "channel", rq.sub.route, "err", err)
				return views, upTo
			}
			views[i] = bv
		}
		now := versions()
		if len(now) == 0 || try > 0 && slices.Equal(now, prev) || try == 4 {
			return views, upTo // nothing to cover, or it held
		}
		prev = now
		// consume folds an event into its view just before the position
		// says it was routed: wait for the position to pass the versions.
		newest := slices.Max(append(now, 0))
		for spin := 0; s.srv.stats.lastConsumed.Load() < newest && spin < 1000; spin++ {
			runtime.Gosched()
		}
		upTo = max(upTo, s.srv.stats.lastConsumed.Load())
	}
}

// newBoardPlan decides, for a subscription to a contest channel, what its
// catch-up sends of the channel's scoreboards (bv nil: nothing is known;
// the history goes as it is, less patches a client could not apply):
//   - a subscribe without since: the snapshot (with patches: every view it
//     may see; with whole boards: the newest of them, as before keyed boards);
//   - a resume: the history's board patches when they are all in the recent
//     log and the subscription takes patches (and did not ask for a
//     snapshot); else, for each keyed view, one fresh board instead of its
//     history. Opaque scoreboards resume as every other event does.
func newBoardPlan(rq *catchUpReq, bv *boardViews, fromMemory bool) boardPlan {
	sub := rq.sub
	p := boardPlan{active: rq.routeCh.Kind == protocol.KindContest, patches: sub.patches, memory: fromMemory}
	if bv == nil {
		return p
	}
	p.keyed = bv.keyed
	if !rq.resume {
		if sub.patches {
			p.fresh = bv.snaps
		} else if ev := bv.newest(); ev != nil {
			p.fresh = []*protocol.Event{ev}
		}
		return p
	}
	for _, ev := range bv.snaps {
		kf, keyed := bv.keyed[ev.View]
		if !keyed {
			continue
		}
		// The history alone rebuilds the board when the recent log holds
		// every patch after since, and the whole board too if it came
		// after since.
		if sub.patches && fromMemory && !rq.snapshot && !rq.foreign && (kf.from <= rq.after || kf.whole) {
			continue // the patches after since are at hand
		}
		if p.freshAt == nil {
			p.freshAt = make(map[string]uint64)
		}
		p.freshAt[ev.View] = ev.ID
		if ev.ID > rq.after || rq.foreign {
			p.fresh = append(p.fresh, ev)
		}
	}
	return p
}

// keep reports whether a history event goes to the subscriber: every
// event but the board events a fresh board replaces, and patches that are
// not in the delivered form, or that the subscription does not take.
func (p *boardPlan) keep(ev *protocol.Event) bool {
	if !p.active || !protocol.BoardType(ev.Type) {
		return true
	}
	view := ev.ViewName()
	if at, ok := p.freshAt[view]; ok && ev.ID <= at {
		return false
	}
	if ev.Type == protocol.TypeScoreboardPatch {
		_, keyed := p.keyed[view]
		return p.patches && p.memory && keyed
	}
	return true
}

// annotate fills what the consumer fills on a board event read back from
// the stream: its view, and jitter_ms on an opaque scoreboard_update.
func (s *Server) annotate(ev *protocol.Event) {
	if !protocol.BoardType(ev.Type) {
		return
	}
	ev.View = ev.ViewName()
	if ev.Type == protocol.TypeScoreboardUpdate && !board.HasRowKey(ev.Data) {
		ev.JitterMS = s.jitterMS()
	}
}
