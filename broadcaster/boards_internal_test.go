package broadcaster

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"testing"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster/board"
	"github.com/arenacast/arenacast/protocol"
)

// TestSlowViewerFolding: patches that wait in a queue fold into one (the
// first's base, the last's id) that builds the same board as the patches
// one by one; a patch the fold cannot take exactly queues on its own; and
// a whole board replaces the newest queued frame of its view.
func TestSlowViewerFolding(t *testing.T) {
	srv := &Server{opts: Options{}.withDefaults(), log: slog.New(slog.DiscardHandler), hub: newHub()}
	srv.snaps = newSnapshotCache(0, srv.startID.Load, nil)
	// writing: no writer runs, so everything stays queued (a reader that
	// does not keep up).
	s := &session{srv: srv, writing: true, t: closedTransport{}}
	sub := &subscription{sess: s, st: &chanState{}, client: "/contest/c1", route: "/contest/c1", access: auth.AccessAll, patches: true}

	start := `{"row_key":"team","rows":[{"team":"a"},{"team":"b"},{"team":"c"},{"team":"d"}]}`
	id := uint64(1)
	consume := func(typ, data string) *protocol.Event {
		t.Helper()
		ev := &protocol.Event{Type: typ, Channel: "/contest/c1", Public: true, Data: json.RawMessage(data), ID: id}
		id++
		if err := srv.snaps.consume(ev, 0); err != nil {
			t.Fatalf("consume %s: %v", data, err)
		}
		return ev
	}
	consume(protocol.TypeScoreboardUpdate, start)
	viewer, _ := board.NewReplica([]byte(start), 1)
	node := func() []byte { return srv.snaps.boardAt("/contest/c1", "public", id-1).Data }

	for i := range 10 {
		ev := consume(protocol.TypeScoreboardPatch, fmt.Sprintf(`{"rows":{"b":{"n":%d}},"positions":{"%c":0}}`, i, 'a'+i%4))
		sub.deliver(newEventFrame(ev, sub.client), 0)
	}
	if n := len(queued(s)); n != 1 {
		t.Fatalf("%d frames queued, want the 10 patches folded into 1", n)
	}
	f := queued(s)[0]
	if f.seq != 11 || f.ev.Base != 1 {
		t.Fatalf("folded patch id %d base %d, want 11 and 1", f.seq, f.ev.Base)
	}
	if ok, err := viewer.Patch(f.ev.Data, f.seq, f.ev.Base); !ok || err != nil {
		t.Fatal(ok, err)
	}
	assertSameJSON(t, viewer.Encode(), node())

	// A removal after moves cannot fold: it queues behind.
	ev := consume(protocol.TypeScoreboardPatch, `{"rows":{"d":null}}`)
	sub.deliver(newEventFrame(ev, sub.client), 0)
	if n := len(queued(s)); n != 2 {
		t.Fatalf("%d frames queued, want 2", n)
	}
	// A whole board replaces the newest queued frame of its view (the
	// patch that could not fold); the fold before it stays.
	whole := consume(protocol.TypeScoreboardUpdate, start)
	sub.deliver(newEventFrame(whole, sub.client), 0)
	if q := queued(s); len(q) != 2 || q[0].seq != 11 || q[1].seq != whole.ID {
		t.Fatalf("queue %v, want the fold and the whole board", q)
	}
	if srv.stats.boardFolds.Load() != 9 {
		t.Fatalf("%d folds counted, want 9", srv.stats.boardFolds.Load())
	}
}

func assertSameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	json.Unmarshal(got, &g)
	json.Unmarshal(want, &w)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

// queued is the session's queue without coalescing's holes (compact
// works in place, so it gets a copy).
func queued(s *session) []*frame { return compact(append([]*frame(nil), s.queue...)) }
