// Package ccsfake makes CCS Contest API test data: Generate writes a
// realistic event feed of a contest (setup, submissions, judgements and runs,
// clarifications, a freeze and a thaw, awards), recording for each line who
// may see it, and Server serves a feed over HTTP like a CCS, dropping
// connections at random points. Tests and the benchmark use both; nothing
// here is for production.
package ccsfake

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
)

// Config shapes a generated contest.
type Config struct {
	Teams, Problems int
	Submissions     int // over the whole contest
	Clarifications  int
	Malformed       int // malformed lines mixed in
	Seed            uint64
	NoTokens        bool // a feed without tokens (resume replays from the start)
}

// Vis is who may see a line, by the ground truth of the generator (the
// Follower's DefaultMapping must agree).
type Vis uint8

// Visibilities of generated lines.
const (
	VisPublic   Vis = iota
	VisTeam         // Team only (and admins)
	VisTeams        // Teams only (and admins)
	VisAdmin        // admins only
	VisWithheld     // Team only until the thaw, then everyone
)

// Line is one generated feed line.
type Line struct {
	Raw       []byte // without the newline
	Malformed bool
	Type, ID  string
	Token     string
	Vis       Vis
	Team      string   // VisTeam, VisWithheld
	Teams     []string // VisTeams
	Thaw      bool     // the state notification that thaws
}

// Feed is a generated contest feed.
type Feed struct {
	ContestID string
	Lines     []Line
	// TeamUser maps a team id to its account's user name.
	TeamUser map[string]string
	Teams    []string
	Groups   map[string][]string // group id -> team ids
}

const (
	contestLen = 5 * time.Hour
	freezeLen  = time.Hour
)

func reltime(d time.Duration) string {
	ms := d.Milliseconds()
	return fmt.Sprintf("%d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
}

// Generate writes a contest's feed.
func Generate(c Config) *Feed {
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	start := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return start.Add(d).Format("2006-01-02T15:04:05.000Z07:00") }
	f := &Feed{ContestID: "wf", TeamUser: map[string]string{}, Groups: map[string][]string{}}
	seq := 0
	add := func(typ, id string, data any, vis Vis, team string, teams []string) {
		var raw json.RawMessage = []byte("null")
		if data != nil {
			raw, _ = json.Marshal(data)
		}
		n := map[string]any{"type": typ, "data": raw}
		if id != "" {
			n["id"] = id
		}
		tok := ""
		if !c.NoTokens {
			seq++
			tok = fmt.Sprintf("tk%06d", seq)
			n["token"] = tok
		}
		b, _ := json.Marshal(n)
		f.Lines = append(f.Lines, Line{Raw: b, Type: typ, ID: id, Token: tok, Vis: vis, Team: team, Teams: teams})
	}
	public := func(typ, id string, data any) { add(typ, id, data, VisPublic, "", nil) }

	public("contest", "", map[string]any{"id": f.ContestID, "name": "World Finals", "formal_name": "ICPC World Finals",
		"start_time": at(0), "duration": reltime(contestLen), "scoreboard_freeze_duration": reltime(freezeLen), "penalty_time": 20})
	public("state", "", map[string]any{"started": nil, "frozen": nil, "ended": nil, "thawed": nil, "finalized": nil, "end_of_updates": nil})
	verdicts := []string{"AC", "WA", "TLE", "RTE", "CE"}
	for _, v := range verdicts {
		public("judgement-types", v, map[string]any{"id": v, "name": v, "penalty": v != "AC" && v != "CE", "solved": v == "AC"})
	}
	for _, l := range []string{"c", "cpp", "java", "python3"} {
		public("languages", l, map[string]any{"id": l, "name": l})
	}
	problems := make([]string, c.Problems)
	for i := range problems {
		problems[i] = string(rune('A' + i%26))
		if i >= 26 {
			problems[i] += fmt.Sprint(i / 26)
		}
		public("problems", problems[i], map[string]any{"id": problems[i], "label": problems[i], "name": "Problem " + problems[i], "ordinal": i, "test_data_count": 3})
	}
	for _, g := range []string{"g1", "g2"} {
		public("groups", g, map[string]any{"id": g, "name": "Group " + g})
	}
	for i := range c.Teams {
		id := fmt.Sprintf("t%d", i+1)
		g := []string{"g1", "g2"}[i%2]
		f.Teams = append(f.Teams, id)
		f.Groups[g] = append(f.Groups[g], id)
		public("teams", id, map[string]any{"id": id, "name": "Team " + id, "group_ids": []string{g}})
	}
	for _, id := range f.Teams {
		user := "team-" + id
		f.TeamUser[id] = user
		add("accounts", "acc-"+id, map[string]any{"id": "acc-" + id, "username": user, "type": "team", "team_id": id}, VisAdmin, "", nil)
	}
	public("state", "", map[string]any{"started": at(0), "frozen": nil, "ended": nil, "thawed": nil, "finalized": nil, "end_of_updates": nil})

	// The contest: submissions at random times, each judged with runs;
	// clarifications in between; the freeze at contestLen-freezeLen.
	type happening struct {
		t    time.Duration
		kind int // 0 submission, 1 clarification
		k    int
	}
	var hs []happening
	for k := range c.Submissions {
		hs = append(hs, happening{time.Duration(rng.Int64N(int64(contestLen))), 0, k})
	}
	for k := range c.Clarifications {
		hs = append(hs, happening{time.Duration(rng.Int64N(int64(contestLen))), 1, k})
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].t < hs[j].t })
	freezeAt := contestLen - freezeLen
	frozen := false
	var deletable []string // clarification ids, and who saw them
	deleted := map[string]bool{}
	clarVis := map[string]Line{}
	for _, h := range hs {
		if !frozen && h.t >= freezeAt {
			frozen = true
			public("state", "", map[string]any{"started": at(0), "frozen": at(freezeAt), "ended": nil, "thawed": nil, "finalized": nil, "end_of_updates": nil})
		}
		if h.kind == 0 {
			sid := fmt.Sprintf("s%d", h.k+1)
			team := f.Teams[rng.IntN(len(f.Teams))]
			prob := problems[rng.IntN(len(problems))]
			public("submissions", sid, map[string]any{"id": sid, "team_id": team, "problem_id": prob, "language_id": "cpp",
				"time": at(h.t), "contest_time": reltime(h.t), "files": []any{}})
			vis := VisPublic
			if h.t >= freezeAt {
				vis = VisWithheld
			}
			jid := "j" + sid[1:]
			jt := h.t + time.Duration(rng.IntN(60)+1)*time.Second
			add("judgements", jid, map[string]any{"id": jid, "submission_id": sid, "start_time": at(jt), "start_contest_time": reltime(jt),
				"judgement_type_id": nil}, vis, team, nil)
			verdict := verdicts[rng.IntN(len(verdicts))]
			for r := 1; r <= 3; r++ {
				rid := fmt.Sprintf("r%s-%d", sid[1:], r)
				v := "AC"
				if r == 3 {
					v = verdict
				}
				add("runs", rid, map[string]any{"id": rid, "judgement_id": jid, "ordinal": r, "judgement_type_id": v,
					"time": at(jt + time.Duration(r)*time.Second), "contest_time": reltime(jt + time.Duration(r)*time.Second)}, vis, team, nil)
			}
			add("judgements", jid, map[string]any{"id": jid, "submission_id": sid, "start_time": at(jt), "start_contest_time": reltime(jt),
				"end_time": at(jt + 4*time.Second), "end_contest_time": reltime(jt + 4*time.Second), "judgement_type_id": verdict}, vis, team, nil)
			continue
		}
		cid := fmt.Sprintf("c%d", h.k+1)
		d := map[string]any{"id": cid, "time": at(h.t), "contest_time": reltime(h.t), "text": "clarification " + cid,
			"from_team_id": nil, "to_team_ids": nil, "to_group_ids": nil}
		var vis Vis
		var team string
		var teams []string
		switch rng.IntN(5) {
		case 0: // a team asks
			team = f.Teams[rng.IntN(len(f.Teams))]
			d["from_team_id"], vis = team, VisTeam
		case 1: // a reply to one team
			team = f.Teams[rng.IntN(len(f.Teams))]
			d["to_team_ids"], vis = []string{team}, VisTeam
		case 2: // to everyone
			vis = VisPublic
		case 3: // to a group
			g := []string{"g1", "g2"}[rng.IntN(2)]
			d["to_group_ids"], vis, teams = []string{g}, VisTeams, f.Groups[g]
		default: // to two teams
			a, b := f.Teams[rng.IntN(len(f.Teams))], f.Teams[rng.IntN(len(f.Teams))]
			if a == b {
				d["to_team_ids"], vis, team = []string{a}, VisTeam, a
			} else {
				d["to_team_ids"], vis, teams = []string{a, b}, VisTeams, []string{a, b}
			}
		}
		if vis == VisTeams && len(teams) == 1 {
			vis, team = VisTeam, teams[0]
		}
		add("clarifications", cid, d, vis, team, teams)
		clarVis[cid] = f.Lines[len(f.Lines)-1]
		deletable = append(deletable, cid)
		// Now and then a clarification is withdrawn: the delete goes to
		// whoever saw it.
		if len(deletable) > 3 && rng.IntN(6) == 0 {
			v := deletable[rng.IntN(len(deletable))]
			if !deleted[v] {
				deleted[v] = true
				l := clarVis[v]
				add("clarifications", v, nil, l.Vis, l.Team, l.Teams)
			}
		}
	}
	if !frozen {
		public("state", "", map[string]any{"started": at(0), "frozen": at(freezeAt), "ended": nil, "thawed": nil, "finalized": nil, "end_of_updates": nil})
	}
	public("state", "", map[string]any{"started": at(0), "frozen": at(freezeAt), "ended": at(contestLen), "thawed": nil, "finalized": nil, "end_of_updates": nil})
	public("state", "", map[string]any{"started": at(0), "frozen": at(freezeAt), "ended": at(contestLen), "thawed": at(contestLen + time.Hour), "finalized": nil, "end_of_updates": nil})
	f.Lines[len(f.Lines)-1].Thaw = true
	public("awards", "winner", map[string]any{"id": "winner", "citation": "Contest winner", "team_ids": []string{f.Teams[0]}})
	public("state", "", map[string]any{"started": at(0), "frozen": at(freezeAt), "ended": at(contestLen), "thawed": at(contestLen + time.Hour),
		"finalized": at(contestLen + time.Hour), "end_of_updates": at(contestLen + time.Hour)})

	// Malformed lines at random places (never first, so that a resume
	// point exists before each).
	bad := [][]byte{[]byte(`{"type":"submissions","id":`), []byte(`not json at all`), []byte(`{"id":"x","data":{}}`),
		[]byte(`{"type":"Bad Type","data":{}}`), []byte(`["an","array"]`), []byte(`{"type":"teams","data":42}`)}
	for k := range c.Malformed {
		i := 1 + rng.IntN(len(f.Lines)-1)
		l := Line{Raw: bad[k%len(bad)], Malformed: true}
		f.Lines = append(f.Lines[:i], append([]Line{l}, f.Lines[i:]...)...)
	}
	return f
}

// Valid returns the lines that are notifications, in order.
func (f *Feed) Valid() []Line {
	var out []Line
	for _, l := range f.Lines {
		if !l.Malformed {
			out = append(out, l)
		}
	}
	return out
}
