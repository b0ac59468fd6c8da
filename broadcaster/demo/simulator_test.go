package demo

import (
	"context"
	"encoding/json"
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
		if count[protocol.TypeScoreboardUpdate] < 3 {
			t.Errorf("%d scoreboard updates in 30 s, want the board moving", count[protocol.TypeScoreboardUpdate])
		}
	})
}

// TestSimulatorOnNATS runs the simulator fast on a real embedded NATS and
// checks what it stored: valid events of the four types, private runs
// owned by their contestant, public scoreboards with the whole ranking.
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
			if started >= 2 && types[protocol.TypeClarification] > 0 {
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
	for _, typ := range []string{protocol.TypeRunUpdate, protocol.TypeScoreboardUpdate, protocol.TypeClarification, protocol.TypeContestUpdate} {
		if types[typ] == 0 {
			t.Errorf("no %s among %v", typ, types)
		}
	}

	submitted := map[string]string{} // guid -> user
	var lastAC *runData
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
				if d.Verdict == "AC" {
					lastAC = &d
				}
			default:
				t.Fatalf("bad status: %s", ev.Data)
			}
		case protocol.TypeScoreboardUpdate:
			var d boardData
			mustUnmarshal(t, ev.Data, &d)
			if !ev.Public || ev.User != "" {
				t.Fatalf("scoreboard %d must be public with no owner", i)
			}
			checkBoard(t, d.Scoreboard)
			if d.Changed != nil {
				if lastAC == nil || d.Changed.Username != lastAC.Username || d.Changed.Problem != lastAC.Problem {
					t.Fatalf("scoreboard %d names %+v, the last AC was %+v", i, d.Changed, lastAC)
				}
				lastAC = nil
			}
		case protocol.TypeClarification, protocol.TypeContestUpdate:
			if !ev.Public || ev.User != "" {
				t.Fatalf("%s %d must be public", ev.Type, i)
			}
		default:
			t.Fatalf("unexpected type %q", ev.Type)
		}
	}
}

func checkBoard(t *testing.T, sb Scoreboard) {
	t.Helper()
	if len(sb.Ranking) != len(contestants) || len(sb.Problems) != len(problems) {
		t.Fatalf("scoreboard has %d rows and %d problems", len(sb.Ranking), len(sb.Problems))
	}
	for i, r := range sb.Ranking {
		if len(r.Problems) != len(problems) {
			t.Fatalf("row %d has %d cells", i, len(r.Problems))
		}
		if i == 0 {
			if r.Place != 1 {
				t.Fatalf("first place is %d", r.Place)
			}
			continue
		}
		p := sb.Ranking[i-1]
		if r.Solved > p.Solved || (r.Solved == p.Solved && r.Penalty < p.Penalty) {
			t.Fatalf("row %d (%+v) ranks below a worse row %+v", i, r, p)
		}
		tied := r.Solved == p.Solved && r.Penalty == p.Penalty
		if tied && r.Place != p.Place || !tied && r.Place != i+1 {
			t.Fatalf("row %d has place %d after place %d", i, r.Place, p.Place)
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
