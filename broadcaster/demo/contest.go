package demo

import (
	"cmp"
	"slices"
)

// problem is one task of the simulated contest.
type problem struct {
	alias      string
	title      string
	difficulty float64 // 0 (trivial) to 1 (hardest); lowers the chance of AC
}

// The simulated contest's problem set, easiest first, and its contestants.
var (
	problems = []problem{
		{"sum-two", "Sum of Two", 0.1},
		{"grid-paths", "Grid Paths", 0.6},
		{"brackets", "Balanced Brackets", 0.85},
		{"orbits", "Orbits", 0.97},
	}
	contestants = []string{
		"ada", "alan", "barbara", "dennis", "edsger", "frances",
		"grace", "ken", "linus", "margaret", "radia", "tony",
	}
)

// penaltyPerWrong is the ICPC penalty, in minutes, for each rejected run on
// a problem that was later accepted.
const penaltyPerWrong = 20

// cell is one contestant's state on one problem.
type cell struct {
	attempts int  // judged runs, accepted one included
	solved   bool // accepted
	minute   int  // contest minute of the accepted submission
}

// standing is one contestant's row.
type standing struct {
	name  string
	skill float64 // 0.2 to 1: raises the chance of AC
	cells []cell  // by problem index
}

func (s *standing) solved() int {
	n := 0
	for _, c := range s.cells {
		if c.solved {
			n++
		}
	}
	return n
}

// penalty is ICPC's: accepted minutes plus penaltyPerWrong per rejected run
// before each accepted one.
func (s *standing) penalty() int {
	p := 0
	for _, c := range s.cells {
		if c.solved {
			p += c.minute + penaltyPerWrong*(c.attempts-1)
		}
	}
	return p
}

// lastAC is the minute of the latest accepted run (ICPC's tie-breaker).
func (s *standing) lastAC() int {
	m := 0
	for _, c := range s.cells {
		if c.solved && c.minute > m {
			m = c.minute
		}
	}
	return m
}

// Scoreboard is the full ranking of the simulated contest, with places;
// the events carry it keyed (board.go).
type Scoreboard struct {
	// Minute is the contest minute the scoreboard is for.
	Minute int `json:"minute"`
	// Problems are the problem aliases, in column order.
	Problems []string `json:"problems"`
	// Ranking is every contestant, best first.
	Ranking []Rank `json:"ranking"`
}

// Rank is one row of a Scoreboard.
type Rank struct {
	// Place is 1-based; contestants with equal solved and penalty share it.
	Place    int    `json:"place"`
	Username string `json:"username"`
	Solved   int    `json:"solved"`
	// Penalty is in minutes (ICPC rules: 20 per rejected run before AC).
	Penalty  int           `json:"penalty"`
	Problems []ProblemCell `json:"problems"`
}

// ProblemCell is a contestant's result on one problem.
type ProblemCell struct {
	Alias    string `json:"alias"`
	Solved   bool   `json:"solved"`
	Attempts int    `json:"attempts"`
	// Minute is when the accepted run was submitted (absent when unsolved).
	Minute int `json:"minute,omitempty"`
}

// ranking orders the standings by ICPC rules (solved desc, penalty asc,
// earlier last AC first) and then by name, so the order is total.
func ranking(st []*standing, minute int) Scoreboard {
	rows := slices.Clone(st)
	slices.SortFunc(rows, func(a, b *standing) int {
		return cmp.Or(
			cmp.Compare(b.solved(), a.solved()),
			cmp.Compare(a.penalty(), b.penalty()),
			cmp.Compare(a.lastAC(), b.lastAC()),
			cmp.Compare(a.name, b.name),
		)
	})
	sb := Scoreboard{Minute: minute, Ranking: make([]Rank, 0, len(rows))}
	for _, p := range problems {
		sb.Problems = append(sb.Problems, p.alias)
	}
	for i, s := range rows {
		r := Rank{Place: i + 1, Username: s.name, Solved: s.solved(), Penalty: s.penalty()}
		if i > 0 {
			if prev := sb.Ranking[i-1]; prev.Solved == r.Solved && prev.Penalty == r.Penalty {
				r.Place = prev.Place
			}
		}
		for j, c := range s.cells {
			pc := ProblemCell{Alias: problems[j].alias, Solved: c.solved, Attempts: c.attempts}
			if c.solved {
				pc.Minute = c.minute
			}
			r.Problems = append(r.Problems, pc)
		}
		sb.Ranking = append(sb.Ranking, r)
	}
	return sb
}
