package demo

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/arenacast/arenacast/broadcaster/natsbus"
	"github.com/arenacast/arenacast/protocol"
)

// waitFor bounds every wait: generous for a busy 2-core machine under -race.
const waitFor = 30 * time.Second

// recorder is a Publisher that keeps the first n events, then cancels.
type recorder struct {
	mu     sync.Mutex
	events []protocol.Event
	n      int
	cancel context.CancelFunc
}

func (r *recorder) Publish(_ context.Context, ev *protocol.Event) (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) < r.n {
		r.events = append(r.events, *ev)
		if len(r.events) == r.n {
			r.cancel()
		}
	}
	return uint64(len(r.events)), nil
}

// record runs a simulator on the fake clock of a synctest bubble until it
// published n events.
func record(t *testing.T, o Options, n int) []protocol.Event {
	t.Helper()
	var got []protocol.Event
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := &recorder{n: n, cancel: cancel}
		o.Bus = r
		sim, err := NewSimulator(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := sim.Run(ctx); err != nil {
			t.Fatal(err)
		}
		got = r.events
	})
	if len(got) != n {
		t.Fatalf("got %d events, want %d", len(got), n)
	}
	return got
}

func TestSimulatorIsDeterministic(t *testing.T) {
	// A whole round and the start of the next: a round is at most 300
	// minutes, with a submission about every minute.
	const n = 800
	a := record(t, Options{Seed: 7}, n)
	b := record(t, Options{Seed: 7}, n)
	c := record(t, Options{Seed: 8}, n)
	same := func(x, y []protocol.Event) bool {
		return slices.EqualFunc(x, y, func(p, q protocol.Event) bool {
			return p.Type == q.Type && p.Channel == q.Channel && p.User == q.User && p.Public == q.Public && string(p.Data) == string(q.Data)
		})
	}
	if !same(a, b) {
		t.Error("the same seed published different events")
	}
	if same(a, c) {
		t.Error("different seeds published the same events")
	}
	var rounds []int
	for _, ev := range a {
		if ev.Type == protocol.TypeContestUpdate {
			var d contestData
			mustUnmarshal(t, ev.Data, &d)
			if d.Event == "started" {
				rounds = append(rounds, d.Round)
			}
		}
	}
	if len(rounds) < 2 || rounds[0] != 1 || rounds[1] != 2 {
		t.Errorf("rounds started: %v, want 1, 2, ...", rounds)
	}
}

func TestSimulatorKeepsTime(t *testing.T) {
	// With the default tick (1 s), the first events come within seconds of
	// real time: the demo page shows movement within a minute.
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := &recorder{n: 1 << 30, cancel: cancel}
		sim, err := NewSimulator(Options{Bus: r, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			sim.Run(ctx)
		}()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		r.mu.Lock()
		evs := slices.Clone(r.events)
		r.mu.Unlock()
		cancel()
		<-done
		count := map[string]int{}
		for _, ev := range evs {
			count[ev.Type]++
		}
		// Everyone submitted at least once, and most were judged.
		if count[protocol.TypeRunUpdate] < 2*len(contestants) || count[protocol.TypeRunUpdate] > 90 {
			t.Errorf("%d run updates in 30 s", count[protocol.TypeRunUpdate])
		}
		if count[protocol.TypeScoreboardUpdate] != 1 || count[protocol.TypeScoreboardPatch] < 3 {
			t.Errorf("%d scoreboard updates and %d patches in 30 s, want one board and then it moving",
				count[protocol.TypeScoreboardUpdate], count[protocol.TypeScoreboardPatch])
		}
	})
}

// TestSimulatorOnNATS runs the simulator fast on a real embedded NATS and
// checks what it stored: valid events of the four types and patches,
// private runs owned by their contestant, a public keyed board per round
// and public patches that keep it equal to the judged runs, ranked.
func TestSimulatorOnNATS(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	bus, err := natsbus.Open(ctx, natsbus.Config{DataDir: t.TempDir(), MaxAge: time.Hour})
	if err != nil {
		t.Fatalf("natsbus.Open: %v", err)
	}
	defer bus.Close()
	sim, err := NewSimulator(Options{Bus: bus, Seed: 42, Tick: 2 * time.Millisecond, Length: 60})
	if err != nil {
		t.Fatal(err)
	}
	simCtx, stopSim := context.WithCancel(ctx)
	simDone := make(chan error, 1)
	go func() { simDone <- sim.Run(simCtx) }()

	// Consume what the stream stored until a round ended and the next
	// started, with every type seen.
	var (
		got      []*protocol.Event
		types    = map[string]int{}
		started  int
		consumed = make(chan struct{})
	)
	consumeCtx, stopConsume := context.WithCancel(ctx)
	go func() {
		defer close(consumed)
		bus.Consume(consumeCtx, 0, func(ev *protocol.Event) {
			got = append(got, ev)
			types[ev.Type]++
			if ev.Type == protocol.TypeContestUpdate && json.Valid(ev.Data) {
				var d contestData
				json.Unmarshal(ev.Data, &d)
				if d.Event == "started" {
					started++
				}
			}
			if started >= 2 && types[protocol.TypeClarification] > 0 && types[protocol.TypeScoreboardUpdate] >= 2 {
				stopConsume()
			}
		}, func(subject string, _ uint64, err error) {
			t.Errorf("malformed event on %s: %v", subject, err)
		})
	}()
	<-consumed
	stopSim()
	if err := <-simDone; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("timed out; saw %v", types)
	}
	for _, typ := range []string{protocol.TypeRunUpdate, protocol.TypeScoreboardUpdate, protocol.TypeScoreboardPatch, protocol.TypeClarification, protocol.TypeContestUpdate} {
		if types[typ] == 0 {
			t.Errorf("no %s among %v", typ, types)
		}
	}

	submitted := map[string]string{} // guid -> user
	var (
		board  *foldedBoard
		judged map[string]*standing // the round's results, rebuilt from the run updates
		boards int
	)
	for i, ev := range got {
		if ev.Channel != "/contest/demo" {
			t.Fatalf("event %d on %s", i, ev.Channel)
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		switch ev.Type {
		case protocol.TypeRunUpdate:
			var d runData
			mustUnmarshal(t, ev.Data, &d)
			if ev.Public || ev.User == "" || ev.User != d.Username {
				t.Fatalf("run %d must be private and owned by its contestant: public=%v user=%q data=%s", i, ev.Public, ev.User, ev.Data)
			}
			switch d.Status {
			case "new":
				submitted[d.GUID] = d.Username
			case "ready":
				if submitted[d.GUID] != d.Username {
					t.Fatalf("run %s judged before it was submitted", d.GUID)
				}
				if !slices.Contains([]string{"AC", "WA", "TLE"}, d.Verdict) || d.Score == nil || (*d.Score == 1) != (d.Verdict == "AC") {
					t.Fatalf("bad verdict: %s", ev.Data)
				}
				if judged != nil {
					judged[d.Username].judge(d)
				}
			default:
				t.Fatalf("bad status: %s", ev.Data)
			}
		case protocol.TypeScoreboardUpdate:
			if !ev.Public || ev.User != "" {
				t.Fatalf("scoreboard %d must be public with no owner", i)
			}
			board = newFoldedBoard(t, ev.Data)
			boards++
			judged = map[string]*standing{}
			for _, name := range contestants {
				judged[name] = &standing{name: name, cells: make([]cell, len(problems))}
			}
			board.check(t, i, judged)
		case protocol.TypeScoreboardPatch:
			if !ev.Public || ev.User != "" {
				t.Fatalf("patch %d must be public with no owner", i)
			}
			if board == nil {
				t.Fatalf("patch %d before any board", i)
			}
			board.apply(t, i, ev.Data)
			board.check(t, i, judged)
		case protocol.TypeClarification, protocol.TypeContestUpdate:
			if !ev.Public || ev.User != "" {
				t.Fatalf("%s %d must be public", ev.Type, i)
			}
		default:
			t.Fatalf("unexpected type %q", ev.Type)
		}
	}
	if boards < 2 {
		t.Errorf("%d full boards, want one per round", boards)
	}
}

// judge records a judged run on a standing, as the simulator does.
func (s *standing) judge(d runData) {
	j := slices.IndexFunc(problems, func(p problem) bool { return p.alias == d.Problem })
	c := &s.cells[j]
	if c.solved {
		return
	}
	c.attempts++
	if d.Verdict == "AC" {
		c.solved, c.minute = true, d.Minute
	}
}

// foldedBoard is the keyed board as a viewer builds it, by a second,
// simpler implementation of section 8: JSON Merge Patch on generic rows,
// then positions.
type foldedBoard struct {
	fields map[string]any
	rows   []map[string]any
}

func newFoldedBoard(t *testing.T, data []byte) *foldedBoard {
	t.Helper()
	var m map[string]any
	mustUnmarshal(t, data, &m)
	if m["row_key"] != "username" {
		t.Fatalf("board row_key %v", m["row_key"])
	}
	b := &foldedBoard{fields: m}
	for _, r := range m["rows"].([]any) {
		b.rows = append(b.rows, r.(map[string]any))
	}
	delete(m, "rows")
	return b
}

func merge(dst map[string]any, p map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range dst {
		out[k] = v
	}
	for k, v := range p {
		switch pv := v.(type) {
		case nil:
			delete(out, k)
		case map[string]any:
			old, _ := out[k].(map[string]any)
			out[k] = merge(old, pv)
		default:
			out[k] = v
		}
	}
	return out
}

func (b *foldedBoard) apply(t *testing.T, i int, data []byte) {
	t.Helper()
	var p struct {
		Rows      map[string]map[string]any `json:"rows"`
		Positions map[string]int            `json:"positions"`
		Fields    map[string]any            `json:"fields"`
	}
	mustUnmarshal(t, data, &p)
	if len(p.Rows) > 1 || len(p.Positions) > 1 {
		t.Fatalf("patch %d touches more than one row: %s", i, data)
	}
	for k, rp := range p.Rows {
		at := slices.IndexFunc(b.rows, func(r map[string]any) bool { return r["username"] == k })
		if at < 0 {
			t.Fatalf("patch %d: unknown row %q", i, k)
		}
		b.rows[at] = merge(b.rows[at], rp)
	}
	for k, to := range p.Positions {
		at := slices.IndexFunc(b.rows, func(r map[string]any) bool { return r["username"] == k })
		r := b.rows[at]
		b.rows = slices.Insert(slices.Delete(b.rows, at, at+1), to, r)
	}
	b.fields = merge(b.fields, p.Fields)
}

// check compares the board with the results rebuilt from the run updates
// and checks its order.
func (b *foldedBoard) check(t *testing.T, i int, judged map[string]*standing) {
	t.Helper()
	if len(b.rows) != len(contestants) {
		t.Fatalf("event %d: the board has %d rows", i, len(b.rows))
	}
	var st []*standing
	for _, r := range b.rows {
		st = append(st, judged[r["username"].(string)])
	}
	minute := int(b.fields["minute"].(float64))
	want := keyedRows(st, minute)
	for j, r := range b.rows {
		if w := asObject(want[j]); !reflect.DeepEqual(r, w) {
			t.Fatalf("event %d: row %d is %v, want %v (board order or results differ)", i, j, r, w)
		}
	}
}

func TestRanking(t *testing.T) {
	mk := func(name string, cells ...cell) *standing {
		for len(cells) < len(problems) {
			cells = append(cells, cell{})
		}
		return &standing{name: name, cells: cells}
	}
	st := []*standing{
		mk("zed"),
		mk("bob", cell{attempts: 2, solved: true, minute: 10}),                                  // 1 solved, 30
		mk("amy", cell{attempts: 1, solved: true, minute: 30}),                                  // 1 solved, 30, later AC
		mk("cat", cell{attempts: 1, solved: true, minute: 5}, cell{attempts: 3, solved: false}), // 1 solved, 5
		mk("dan", cell{attempts: 1, solved: true, minute: 50}, cell{attempts: 1, solved: true, minute: 60}),
	}
	sb := ranking(st, 61)
	var order []string
	var places []int
	for _, r := range sb.Ranking {
		order = append(order, r.Username)
		places = append(places, r.Place)
	}
	if want := []string{"dan", "cat", "bob", "amy", "zed"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if want := []int{1, 2, 3, 3, 5}; !slices.Equal(places, want) {
		t.Errorf("places %v, want %v", places, want)
	}
	if c := sb.Ranking[1].Problems[1]; c.Solved || c.Attempts != 3 || c.Minute != 0 {
		t.Errorf("cat's second cell: %+v", c)
	}
}

func TestNewSimulatorChecksOptions(t *testing.T) {
	if _, err := NewSimulator(Options{}); err == nil {
		t.Error("no bus: want an error")
	}
	if _, err := NewSimulator(Options{Bus: &recorder{}, Contest: "no/slash"}); err == nil {
		t.Error("bad alias: want an error")
	}
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("data %s: %v", b, err)
	}
}
