package demo

import (
	"encoding/json"
	"reflect"
)

// The simulator publishes its scoreboard keyed (docs/protocol.md section 8):
// a whole board when a round starts, then one scoreboard_patch per judged
// run with the judged contestant's row and, when it moved, its new place.
// Rows carry no place number: a move would renumber every row it passes,
// so the page numbers the rows itself (ties share a place).

// keyedBoard is the data of the simulator's scoreboard_update: rows keyed
// by username, best first.
type keyedBoard struct {
	RowKey   string     `json:"row_key"` // always "username"
	Contest  string     `json:"contest_alias"`
	Round    int        `json:"round"`
	Minute   int        `json:"minute"`   // the contest minute the board is for
	Problems []string   `json:"problems"` // problem aliases, in column order
	Rows     []boardRow `json:"rows"`
}

// boardRow is one contestant's row of a keyedBoard.
type boardRow struct {
	Username string `json:"username"`
	Solved   int    `json:"solved"`
	// Penalty is in minutes (ICPC rules: 20 per rejected run before AC).
	Penalty int `json:"penalty"`
	// Cells are the contestant's results by problem alias; an object, so a
	// row patch (RFC 7396) touches only the cell that changed.
	Cells map[string]boardCell `json:"cells"`
}

// boardCell is a contestant's result on one problem.
type boardCell struct {
	Solved   bool `json:"solved"`
	Attempts int  `json:"attempts"`
	// Minute is when the accepted run was submitted (absent when unsolved).
	Minute int `json:"minute,omitempty"`
}

// boardPatch is the data of the simulator's scoreboard_patch.
type boardPatch struct {
	Rows      map[string]json.RawMessage `json:"rows,omitempty"`      // username -> JSON Merge Patch of the row
	Positions map[string]int             `json:"positions,omitempty"` // username -> new 0-based index
	Fields    map[string]any             `json:"fields,omitempty"`
}

// keyedRows is the ranking of st as keyed rows, best first.
func keyedRows(st []*standing, minute int) []boardRow {
	sb := ranking(st, minute)
	rows := make([]boardRow, 0, len(sb.Ranking))
	for _, r := range sb.Ranking {
		row := boardRow{Username: r.Username, Solved: r.Solved, Penalty: r.Penalty, Cells: map[string]boardCell{}}
		for _, c := range r.Problems {
			row.Cells[c.Alias] = boardCell{Solved: c.Solved, Attempts: c.Attempts, Minute: c.Minute}
		}
		rows = append(rows, row)
	}
	return rows
}

// mergePatch returns the JSON Merge Patch (RFC 7396) that turns old into
// new: changed members, null for removed ones, objects diffed member by
// member. Both are JSON objects as decoded by encoding/json.
func mergePatch(old, new map[string]any) map[string]any {
	p := map[string]any{}
	for k, nv := range new {
		ov, had := old[k]
		if had && reflect.DeepEqual(ov, nv) {
			continue
		}
		om, oIsObj := ov.(map[string]any)
		nm, nIsObj := nv.(map[string]any)
		if had && oIsObj && nIsObj {
			p[k] = mergePatch(om, nm)
			continue
		}
		p[k] = nv
	}
	for k := range old {
		if _, ok := new[k]; !ok {
			p[k] = nil
		}
	}
	return p
}

// asObject is v marshalled and decoded into a generic JSON object.
func asObject(v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the board types always marshal
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	return m
}

// fullBoard is the round's keyed scoreboard_update at minute.
func (s *Simulator) fullBoard(minute int) keyedBoard {
	b := keyedBoard{RowKey: "username", Contest: s.opts.Contest, Round: s.round, Minute: minute, Rows: keyedRows(s.board, minute)}
	for _, p := range problems {
		b.Problems = append(b.Problems, p.alias)
	}
	return b
}

// patchFor is the scoreboard_patch after who's run was judged: before is
// the board as published until now; s.board already has the verdict. It
// returns nil when nothing shown changed.
func (s *Simulator) patchFor(before []boardRow, who *standing, minute int) *boardPatch {
	after := keyedRows(s.board, minute)
	oldAt, newAt := -1, -1
	for i := range before {
		if before[i].Username == who.name {
			oldAt = i
		}
		if after[i].Username == who.name {
			newAt = i
		}
	}
	p := &boardPatch{Fields: map[string]any{"minute": minute}}
	if oldAt < 0 || newAt < 0 {
		return p
	}
	if diff := mergePatch(asObject(before[oldAt]), asObject(after[newAt])); len(diff) > 0 {
		b, err := json.Marshal(diff)
		if err != nil {
			panic(err)
		}
		p.Rows = map[string]json.RawMessage{who.name: b}
	}
	if newAt != oldAt {
		// Only who moved: every other row depends on its own results alone,
		// so the rest keep their order and fill the other places.
		p.Positions = map[string]int{who.name: newAt}
	}
	return p
}
