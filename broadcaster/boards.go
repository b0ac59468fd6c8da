package broadcaster

import (
	"cmp"
	"context"
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
	after           uint64
	// keyed: the views that are keyed boards on this node, with the id
	// from which their patches are in the recent log; fresh: the views
	// whose history is replaced by a fresh board.
	keyed      map[string]uint64
	freshViews map[string]bool
	fresh      []*protocol.Event // the fresh boards, oldest first
}

// boardPlan decides, for a subscription to a contest channel, what its
// catch-up sends of the channel's scoreboards:
//   - a subscribe without since: the snapshot (with patches: every view it
//     may see; with whole boards: the newest of them, as before keyed boards);
//   - a resume: the history's board patches when they are all in the recent
//     log and the subscription takes patches (and did not ask for a
//     snapshot); else, for each keyed view, one fresh board instead of its
//     history. Opaque scoreboards resume as every other event does.
func (s *session) boardPlan(ctx context.Context, rq *catchUpReq, fromMemory bool, upTo uint64) (boardPlan, error) {
	sub := rq.sub
	p := boardPlan{active: true, patches: sub.patches, memory: fromMemory, after: rq.after}
	bv, err := s.srv.boardViews(ctx, sub, rq.routeCh, upTo)
	if err != nil {
		if !rq.resume {
			p.active = false // no snapshot; history as is
		}
		return p, err
	}
	p.keyed = bv.keyed
	if !rq.resume {
		if sub.patches {
			p.fresh = bv.snaps
		} else if ev := bv.newest(); ev != nil {
			p.fresh = []*protocol.Event{ev}
		}
		return p, nil
	}
	for _, ev := range bv.snaps {
		from, keyed := bv.keyed[ev.View]
		if !keyed {
			continue
		}
		if sub.patches && fromMemory && !rq.snapshot && from <= rq.after {
			continue // the patches after since are at hand
		}
		if p.freshViews == nil {
			p.freshViews = make(map[string]bool)
		}
		p.freshViews[ev.View] = true
		if ev.ID > rq.after {
			p.fresh = append(p.fresh, ev)
		}
	}
	return p, nil
}

// keep reports whether a history event goes to the subscriber: every
// event but the board events a fresh board replaces, and patches that are
// not in the delivered form, or that the subscription does not take.
func (p *boardPlan) keep(ev *protocol.Event) bool {
	if !p.active || !protocol.BoardType(ev.Type) {
		return true
	}
	view := ev.ViewName()
	if p.freshViews[view] {
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

// mergeCatchUp puts a channel's fresh boards, history and the live frames
// that waited (pending) into one id order for the queue, updating st.last:
// each id once (a fresh board before the event it was taken at), nothing at
// or below st.last, and no board event of a view older than its fresh
// board (the board has it folded in).
func mergeCatchUp(st *chanState, snaps, history, pending []*frame) []*frame {
	if len(snaps) == 0 {
		var out []*frame
		for _, list := range [][]*frame{history, pending} {
			for _, f := range list {
				if f.seq <= st.last {
					continue
				}
				st.last = f.seq
				out = append(out, f)
			}
		}
		return out
	}
	all := make([]*frame, 0, len(snaps)+len(history)+len(pending))
	all = append(all, snaps...)
	all = append(all, history...)
	all = append(all, pending...)
	slices.SortStableFunc(all, func(a, b *frame) int { return cmp.Compare(a.seq, b.seq) })
	boardAt := make(map[string]uint64, len(snaps))
	for _, f := range snaps {
		boardAt[f.coalesce] = max(boardAt[f.coalesce], f.seq)
	}
	out := all[:0]
	for _, f := range all {
		if f.seq <= st.last {
			continue
		}
		if at, ok := boardAt[f.coalesce]; ok && f.coalesce != "" && f.seq < at {
			continue
		}
		st.last = f.seq
		out = append(out, f)
	}
	return out
}
