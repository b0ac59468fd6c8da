// Package demo is what `arenacast serve --demo` adds: a Simulator that runs
// a made-up programming contest on the event bus (contestants submitting,
// runs judged, the scoreboard moving, clarifications) and a Handler that
// serves a page at /demo/ showing it live through the browser client.
//
// The demo hands out tokens to anyone who can load its page; it is for a
// developer's machine, never for production.
package demo

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

// DefaultContest is the alias of the simulated contest.
const DefaultContest = "demo"

// Publisher is where the Simulator puts its events. A broadcaster.Bus is one.
type Publisher interface {
	Publish(ctx context.Context, ev *protocol.Event) (uint64, error)
}

var _ Publisher = broadcaster.Bus(nil)

// Options configures NewSimulator. Zero fields take their defaults.
type Options struct {
	// Bus receives the events. Required.
	Bus Publisher
	// Contest is the contest alias; events go to /contest/<Contest>.
	// Defaults to DefaultContest ("demo").
	Contest string
	// Seed makes the run reproducible: the same seed publishes the same
	// events in the same order, whatever the machine's speed.
	Seed uint64
	// Tick is one contest minute in real time. Defaults to 1 s: each
	// contestant thinks 1-25 minutes between runs, so at first there is a
	// submission about every second, each judged about a minute later.
	// Tests use a millisecond.
	Tick time.Duration
	// Length is a round's length in contest minutes. When it is over, or
	// every contestant solved everything, the round ends and a new one
	// starts 10 minutes later, so the demo never runs dry. Defaults to 300.
	Length int
	// Logger receives publish failures (which the Simulator survives).
	// Defaults to slog.Default().
	Logger *slog.Logger
}

// Simulator publishes a simulated contest. Create it with NewSimulator and
// call Run once.
type Simulator struct {
	opts    Options // static after NewSimulator
	channel string
	log     *slog.Logger

	// Owned by Run.
	rng      *rand.Rand
	queue    actions
	seq      uint64 // tie-breaker of actions due at the same time
	round    int
	roundAt  int64 // milli-tick the round started
	board    []*standing
	shown    []boardRow // the rows as published: the full board and the patches so far
	nextClar int
	ended    bool // the round is over; submissions stop
}

// NewSimulator checks o and returns a Simulator.
func NewSimulator(o Options) (*Simulator, error) {
	if o.Bus == nil {
		return nil, errors.New("demo: Options.Bus is required")
	}
	if o.Contest == "" {
		o.Contest = DefaultContest
	}
	if !protocol.ValidName(o.Contest) {
		return nil, fmt.Errorf("demo: contest %q is not a valid alias", o.Contest)
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.Length <= 0 {
		o.Length = 300
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Simulator{
		opts:    o,
		channel: "/contest/" + o.Contest,
		log:     o.Logger,
		rng:     rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
	}, nil
}

// Times are kept in milli-ticks (1000 per contest minute) so the schedule,
// and with it every event, depends only on the seed.
const milli = 1000

type actionKind int

const (
	actStart actionKind = iota // a round begins
	actSubmit
	actJudge
	actClarify
	actAnnounce
	actEnd
)

// action is one scheduled step.
type action struct {
	at      int64 // milli-ticks since Run began
	seq     uint64
	kind    actionKind
	round   int
	who     int    // contestant, for actSubmit and actJudge
	problem int    // problem, for actJudge
	guid    string // run, for actJudge
	minute  int    // submission minute, for actJudge
}

// actions is a min-heap by (at, seq).
type actions []action

func (a actions) Len() int { return len(a) }
func (a actions) Less(i, j int) bool {
	if a[i].at != a[j].at {
		return a[i].at < a[j].at
	}
	return a[i].seq < a[j].seq
}
func (a actions) Swap(i, j int) { a[i], a[j] = a[j], a[i] }
func (a *actions) Push(x any)   { *a = append(*a, x.(action)) }
func (a *actions) Pop() any {
	old := *a
	x := old[len(old)-1]
	*a = old[:len(old)-1]
	return x
}

func (s *Simulator) schedule(a action) {
	s.seq++
	a.seq = s.seq
	heap.Push(&s.queue, a)
}

// between returns a uniform duration in [lo, hi] milli-ticks.
func (s *Simulator) between(lo, hi int64) int64 { return lo + s.rng.Int64N(hi-lo+1) }

// Run publishes the contest until ctx ends, then returns nil. A failed
// publish is logged and the simulation goes on; an error is returned only
// when the Simulator builds an invalid event (a bug).
func (s *Simulator) Run(ctx context.Context) error {
	s.schedule(action{at: 0, kind: actStart})
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// The wall clock follows the schedule step by step, so a late step
	// (a busy machine) makes the next ones catch up instead of drifting.
	wall, last := time.Now(), int64(0)
	for s.queue.Len() > 0 {
		a := heap.Pop(&s.queue).(action)
		wall = wall.Add(time.Duration(a.at-last) * s.opts.Tick / milli)
		last = a.at
		if d := time.Until(wall); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return nil
		}
		evs := s.step(a)
		for _, ev := range evs {
			if err := ev.Validate(); err != nil {
				return fmt.Errorf("demo: built an invalid event: %w", err)
			}
			if _, err := s.opts.Bus.Publish(ctx, ev); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.log.Warn("demo: publish failed", "type", ev.Type, "err", err)
			}
		}
	}
	return nil
}

// step applies one action to the contest, schedules what follows, and
// returns the events to publish. It reads no clock.
func (s *Simulator) step(a action) []*protocol.Event {
	if a.kind != actStart && a.round != s.round {
		return nil // left over from an earlier round
	}
	minute := int((a.at - s.roundAt) / milli)
	switch a.kind {
	case actStart:
		return s.start(a.at)
	case actSubmit:
		return s.submit(a, minute)
	case actJudge:
		return s.judge(a, minute)
	case actClarify:
		return s.clarify(a.at)
	case actAnnounce:
		if s.ended {
			return nil
		}
		return []*protocol.Event{s.contestUpdate("announcement", "One hour left. Good luck!")}
	case actEnd:
		return s.end(a.at, minute)
	}
	return nil
}

func (s *Simulator) start(at int64) []*protocol.Event {
	s.round++
	s.roundAt = at
	s.ended = false
	s.board = make([]*standing, len(contestants))
	// Everyone reads the statements and submits within the first 12
	// minutes; the quickest about a minute in.
	first := s.rng.IntN(len(contestants))
	for i, name := range contestants {
		s.board[i] = &standing{name: name, skill: 0.2 + 0.8*s.rng.Float64(), cells: make([]cell, len(problems))}
		delay := s.between(1500, 12*milli)
		if i == first {
			delay = s.between(500, 1500)
		}
		s.schedule(action{at: at + delay, kind: actSubmit, round: s.round, who: i})
	}
	s.schedule(action{at: at + s.between(15, 30)*milli, kind: actClarify, round: s.round})
	s.schedule(action{at: at + int64(s.opts.Length-60)*milli, kind: actAnnounce, round: s.round})
	s.schedule(action{at: at + int64(s.opts.Length)*milli, kind: actEnd, round: s.round})
	return []*protocol.Event{
		s.contestUpdate("started", fmt.Sprintf("Round %d has started: %d contestants, %d problems, %d minutes.",
			s.round, len(contestants), len(problems), s.opts.Length)),
		s.scoreboard(0),
	}
}

func (s *Simulator) submit(a action, minute int) []*protocol.Event {
	if s.ended {
		return nil
	}
	st := s.board[a.who]
	// Usually the easiest unsolved problem, sometimes another one.
	var open []int
	for j, c := range st.cells {
		if !c.solved {
			open = append(open, j)
		}
	}
	if len(open) == 0 {
		return nil
	}
	p := open[0]
	if s.rng.IntN(4) == 0 {
		p = open[s.rng.IntN(len(open))]
	}
	guid := fmt.Sprintf("%016x", s.rng.Uint64())
	s.schedule(action{at: a.at + s.between(700, 1300), kind: actJudge, round: s.round, who: a.who, problem: p, guid: guid, minute: minute})
	return []*protocol.Event{s.event(protocol.TypeRunUpdate, st.name, false, runData{
		GUID: guid, Contest: s.opts.Contest, Username: st.name, Problem: problems[p].alias,
		Language: languages[s.rng.IntN(len(languages))], Status: "new", Minute: minute,
	})}
}

var languages = []string{"cpp17", "py3", "java", "rust", "go"}

func (s *Simulator) allSolved() bool {
	for _, st := range s.board {
		if st.solved() < len(problems) {
			return false
		}
	}
	return true
}

func (s *Simulator) judge(a action, minute int) []*protocol.Event {
	st := s.board[a.who]
	c := &st.cells[a.problem]
	c.attempts++
	// Skill helps, difficulty hurts, and every failed try teaches something.
	chance := st.skill*(1-problems[a.problem].difficulty) + 0.01*float64(c.attempts-1)
	verdict, score := "AC", 1.0
	runtime := 20 + s.rng.IntN(900)
	switch {
	case s.rng.Float64() < min(chance, 0.95):
	case s.rng.IntN(3) == 0:
		verdict, score, runtime = "TLE", 0, 1000
	default:
		verdict, score = "WA", 0
	}
	evs := []*protocol.Event{s.event(protocol.TypeRunUpdate, st.name, false, runData{
		GUID: a.guid, Contest: s.opts.Contest, Username: st.name, Problem: problems[a.problem].alias,
		Status: "ready", Verdict: verdict, Score: &score, RuntimeMS: runtime, Minute: a.minute,
	})}
	if verdict == "AC" {
		c.solved, c.minute = true, a.minute
		if s.allSolved() {
			s.schedule(action{at: a.at, kind: actEnd, round: s.round})
		}
	}
	// Every judged run changes the row (attempts, and on AC solved and
	// penalty): one patch with that row, and its place when it moved.
	evs = append(evs, s.scoreboardPatch(st, minute))
	// Think, then submit again: a fix comes quicker than the next problem.
	think := s.between(5*milli, 22*milli)
	if verdict == "AC" {
		think = s.between(5*milli, 25*milli)
	}
	s.schedule(action{at: a.at + think, kind: actSubmit, round: s.round, who: a.who})
	return evs
}

func (s *Simulator) clarify(at int64) []*protocol.Event {
	if s.ended {
		return nil
	}
	s.schedule(action{at: at + s.between(25, 45)*milli, kind: actClarify, round: s.round})
	q := clarifications[s.rng.IntN(len(clarifications))]
	s.nextClar++
	return []*protocol.Event{s.event(protocol.TypeClarification, "", true, clarData{
		ID: s.nextClar, Contest: s.opts.Contest, Problem: problems[q.problem].alias,
		Message: q.question, Answer: q.answer,
	})}
}

// clarifications are the questions contestants ask, with the answers.
var clarifications = []struct {
	problem          int
	question, answer string
}{
	{0, "Can the two numbers be negative?", "Yes: -10^9 <= a, b <= 10^9."},
	{0, "Is there a newline after the answer?", "It does not matter."},
	{1, "May the path revisit a cell?", "No. Read the statement again."},
	{1, "Should the count be printed modulo something?", "Yes, modulo 10^9+7."},
	{2, "Is the empty string balanced?", "Yes."},
	{2, "Which bracket kinds appear?", "Only ( ) [ ] { }."},
	{3, "Are the orbits circular?", "Yes, all of them."},
	{3, "What precision is expected?", "Absolute or relative error up to 1e-6."},
}

func (s *Simulator) end(at int64, minute int) []*protocol.Event {
	if s.ended {
		return nil
	}
	s.ended = true
	s.schedule(action{at: at + 10*milli, kind: actStart})
	winner := ranking(s.board, minute).Ranking[0]
	return []*protocol.Event{s.contestUpdate("ended", fmt.Sprintf(
		"Round %d is over at minute %d: %s wins with %d solved. The next round starts in 10 minutes.",
		s.round, minute, winner.Username, winner.Solved))}
}

// runData is the data of a run_update.
type runData struct {
	GUID      string   `json:"guid"`
	Contest   string   `json:"contest_alias"`
	Username  string   `json:"username"`
	Problem   string   `json:"problem"`
	Language  string   `json:"language,omitempty"`
	Status    string   `json:"status"` // "new", then "ready" once judged
	Verdict   string   `json:"verdict,omitempty"`
	Score     *float64 `json:"score,omitempty"`
	RuntimeMS int      `json:"runtime_ms,omitempty"`
	Minute    int      `json:"minute"` // contest minute of the submission
}

// clarData is the data of a clarification.
type clarData struct {
	ID      int    `json:"clarification_id"`
	Contest string `json:"contest_alias"`
	Problem string `json:"problem"`
	Message string `json:"message"`
	Answer  string `json:"answer"`
}

// contestData is the data of a contest_update.
type contestData struct {
	Contest string `json:"contest_alias"`
	Event   string `json:"event"` // started, announcement, ended
	Round   int    `json:"round"`
	Message string `json:"message"`
}

func (s *Simulator) contestUpdate(kind, msg string) *protocol.Event {
	return s.event(protocol.TypeContestUpdate, "", true, contestData{Contest: s.opts.Contest, Event: kind, Round: s.round, Message: msg})
}

// scoreboard is the round's whole public board, keyed by username: the
// base the patches that follow apply to.
func (s *Simulator) scoreboard(minute int) *protocol.Event {
	d := s.fullBoard(minute)
	s.shown = d.Rows
	return s.event(protocol.TypeScoreboardUpdate, "", true, d)
}

// scoreboardPatch is the public scoreboard_patch after one of who's runs
// was judged: who's row (a merge patch of what changed), its new index when
// it moved, and the minute.
func (s *Simulator) scoreboardPatch(who *standing, minute int) *protocol.Event {
	p := s.patchFor(s.shown, who, minute)
	s.shown = keyedRows(s.board, minute)
	return s.event(protocol.TypeScoreboardPatch, "", true, p)
}

func (s *Simulator) event(typ, user string, public bool, data any) *protocol.Event {
	b, err := json.Marshal(data)
	if err != nil {
		panic(err) // the data types above always marshal
	}
	return &protocol.Event{Type: typ, Channel: s.channel, User: user, Public: public, Data: b}
}
