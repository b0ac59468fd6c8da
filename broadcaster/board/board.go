// Package board keeps a keyed scoreboard as state: rows identified by a key
// member the publisher names, in order, plus the board's other members. It
// applies the publisher's row patches (docs/protocol.md section 8), turns
// each into the delivered form a client applies without JSON Merge Patch,
// folds two delivered patches into one for a slow viewer, and encodes the
// whole board back in the publisher's shape.
//
// A Board is not safe for concurrent use; its owner (the broadcaster's
// snapshot cache) guards it.
package board

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/arenacast/arenacast/protocol"
)

// ErrNotKeyed is returned by Parse for a scoreboard without a row_key: an
// opaque board, delivered as published.
var ErrNotKeyed = errors.New("not a keyed board")

// ErrBad wraps every reason a keyed board or a patch is refused. Messages
// name members and row keys, never other payload.
var ErrBad = errors.New("bad scoreboard")

// MaxFold bounds a folded patch: a larger fold is not made (both patches
// stay queued).
const MaxFold = 64 << 10

// Board is a keyed scoreboard.
type Board struct {
	key     string            // the row_key: the member naming each row
	members []member          // the other top-level members in order; rows sits at rowsAt
	rowsAt  int               // index in members where "rows" is encoded
	order   []string          // row keys, in order
	rows    map[string][]byte // row key -> the row object
	size    int               // bytes of rows and members, for budgets
}

type member struct {
	name  string
	value []byte
}

// Parse reads a scoreboard_update's data. A data object without row_key
// gives ErrNotKeyed; one with row_key whose rows are not an array of objects
// with unique string keys gives an error wrapping ErrBad.
func Parse(data []byte) (*Board, error) {
	ms, err := objectMembers(data)
	if err != nil {
		return nil, ErrNotKeyed // not an object at all: opaque
	}
	var keyRaw, rowsRaw []byte
	for _, m := range ms {
		switch m.name {
		case "row_key":
			keyRaw = m.value
		case "rows":
			rowsRaw = m.value
		}
	}
	if keyRaw == nil {
		return nil, ErrNotKeyed
	}
	var key string
	if err := json.Unmarshal(keyRaw, &key); err != nil || key == "" {
		return nil, fmt.Errorf("%w: row_key must be a non-empty string", ErrBad)
	}
	if rowsRaw == nil {
		return nil, fmt.Errorf("%w: a board with row_key needs rows", ErrBad)
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(rowsRaw, &rows); err != nil {
		return nil, fmt.Errorf("%w: rows must be an array of objects", ErrBad)
	}
	b := &Board{key: key, rows: make(map[string][]byte, len(rows)), order: make([]string, 0, len(rows)), rowsAt: -1}
	for i, r := range rows {
		k, err := rowKey(r, key)
		if err != nil {
			return nil, fmt.Errorf("%w: row %d: %v", ErrBad, i, err)
		}
		if _, dup := b.rows[k]; dup {
			return nil, fmt.Errorf("%w: row key %.64q appears twice", ErrBad, k)
		}
		b.rows[k] = []byte(r)
		b.order = append(b.order, k)
		b.size += len(r) + len(k)
	}
	for _, m := range ms {
		if m.name == "rows" {
			b.rowsAt = len(b.members)
			continue
		}
		b.members = append(b.members, m)
		b.size += len(m.name) + len(m.value)
	}
	return b, nil
}

// Key is the board's row_key.
func (b *Board) Key() string { return b.key }

// Len is the number of rows.
func (b *Board) Len() int { return len(b.order) }

// Size is the board's approximate size in bytes, for memory budgets.
func (b *Board) Size() int { return b.size + 64 }

// Rows returns the row keys in order (a copy).
func (b *Board) Rows() []string { return slices.Clone(b.order) }

// Encode returns the board in the publisher's shape: its members in their
// order, with rows as an array in the board's order.
func (b *Board) Encode() []byte {
	out := make([]byte, 0, b.size+2*len(b.order)+len(b.members)*4+16)
	out = append(out, '{')
	first := true
	put := func(name string, value func()) {
		if !first {
			out = append(out, ',')
		}
		first = false
		out = protocol.AppendJSONString(out, name)
		out = append(out, ':')
		value()
	}
	rows := func() {
		out = append(out, '[')
		for i, k := range b.order {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, b.rows[k]...)
		}
		out = append(out, ']')
	}
	for i, m := range b.members {
		if i == b.rowsAt {
			put("rows", rows)
		}
		put(m.name, func() { out = append(out, m.value...) })
	}
	if b.rowsAt < 0 || b.rowsAt >= len(b.members) {
		put("rows", rows)
	}
	return append(out, '}')
}

// patch is a publisher's scoreboard_patch data, decoded.
type patch struct {
	rows      []member // merge patches (value "null": remove)
	set       []member // whole rows
	positions []member // key -> index (raw JSON number)
	fields    []byte   // a merge patch over the other members; nil: none
}

func decodePatch(data []byte) (*patch, error) {
	ms, err := objectMembers(data)
	if err != nil {
		return nil, fmt.Errorf("%w: a patch must be a JSON object", ErrBad)
	}
	p := &patch{}
	for _, m := range ms {
		switch m.name {
		case "rows", "set", "positions":
			inner, err := objectMembers(m.value)
			if err != nil {
				return nil, fmt.Errorf("%w: %s must be an object keyed by row", ErrBad, m.name)
			}
			switch m.name {
			case "rows":
				p.rows = inner
			case "set":
				p.set = inner
			default:
				p.positions = inner
			}
		case "fields":
			if !isObject(m.value) {
				return nil, fmt.Errorf("%w: fields must be an object (a JSON Merge Patch)", ErrBad)
			}
			p.fields = m.value
		default:
			return nil, fmt.Errorf("%w: unknown patch member %.64q (want rows, set, positions, fields)", ErrBad, m.name)
		}
	}
	if len(p.rows)+len(p.set)+len(p.positions) == 0 && p.fields == nil {
		return nil, fmt.Errorf("%w: the patch changes nothing", ErrBad)
	}
	return p, nil
}

// CheckPatch checks a patch's shape without a board: what can be told
// before the view's board is known.
func CheckPatch(data []byte) error {
	_, err := decodePatch(data)
	return err
}

// Apply applies a publisher's patch, all or nothing, and returns it in the
// delivered form:
//
//	{"rows":{"<key>":<whole row>|null},"order":[{"<key>":<index>}],"fields":{"<member>":<value>|null}}
//
// (empty parts omitted). On error the board is unchanged.
func (b *Board) Apply(data []byte) ([]byte, error) { return b.apply(data, true) }

// Check reports whether Apply would accept data, changing nothing.
func (b *Board) Check(data []byte) error {
	_, err := b.apply(data, false)
	return err
}

func (b *Board) apply(data []byte, commit bool) ([]byte, error) {
	p, err := decodePatch(data)
	if err != nil {
		return nil, err
	}
	// Work on copies of what changes; commit at the end.
	changed := make(map[string][]byte) // key -> new row; nil: removed
	var changedOrder []string          // keys of changed, in patch order
	removed := false
	note := func(k string, row []byte) {
		if _, seen := changed[k]; !seen {
			changedOrder = append(changedOrder, k)
		}
		changed[k] = row
	}
	current := func(k string) ([]byte, bool) {
		if row, ok := changed[k]; ok {
			return row, row != nil
		}
		row, ok := b.rows[k]
		return row, ok
	}
	for _, m := range p.rows {
		old, ok := current(m.name)
		if !ok {
			return nil, fmt.Errorf("%w: rows: no row %.64q on the board", ErrBad, m.name)
		}
		if isNull(m.value) {
			note(m.name, nil)
			removed = true
			continue
		}
		if !isObject(m.value) {
			return nil, fmt.Errorf("%w: rows: the patch for %.64q must be an object or null", ErrBad, m.name)
		}
		row, err := MergePatch(old, m.value)
		if err != nil {
			return nil, fmt.Errorf("%w: rows: %.64q: %v", ErrBad, m.name, err)
		}
		if k, err := rowKey(row, b.key); err != nil || k != m.name {
			return nil, fmt.Errorf("%w: rows: the patch for %.64q changes or removes its %s", ErrBad, m.name, b.key)
		}
		note(m.name, row)
	}
	for _, m := range p.set {
		if _, dup := changed[m.name]; dup {
			return nil, fmt.Errorf("%w: row %.64q is both in rows and in set", ErrBad, m.name)
		}
		k, err := rowKey(m.value, b.key)
		if err != nil || k != m.name {
			return nil, fmt.Errorf("%w: set: row %.64q must be an object whose %s is %.64q", ErrBad, m.name, b.key, m.name)
		}
		note(m.name, compactCopy(m.value))
	}
	// The order after rows and set: removed rows leave, new rows go last.
	order := b.order
	if removed || len(p.set) > 0 || len(p.positions) > 0 {
		order = make([]string, 0, len(b.order)+len(p.set))
		for _, k := range b.order {
			if row, ok := changed[k]; ok && row == nil {
				continue
			}
			order = append(order, k)
		}
		for _, m := range p.set {
			if _, had := b.rows[m.name]; !had {
				order = append(order, m.name)
			}
		}
	}
	var positions []byte
	if len(p.positions) > 0 {
		moves := make(map[string]int, len(p.positions))
		used := make(map[int]bool, len(p.positions))
		for _, m := range p.positions {
			if _, ok := current(m.name); !ok {
				return nil, fmt.Errorf("%w: positions: no row %.64q on the board", ErrBad, m.name)
			}
			i, err := strconv.Atoi(string(bytes.TrimSpace(m.value)))
			if err != nil || i < 0 || i >= len(order) {
				return nil, fmt.Errorf("%w: positions: %.64q must be an index from 0 to %d", ErrBad, m.name, len(order)-1)
			}
			if used[i] {
				return nil, fmt.Errorf("%w: positions: index %d is given twice", ErrBad, i)
			}
			used[i] = true
			moves[m.name] = i
		}
		order = Reorder(order, moves)
		positions = encodeIndexMap(p.positions, moves)
	}
	var newMembers []member
	var fieldChanges []member
	if p.fields != nil {
		fm, _ := objectMembers(p.fields)
		newMembers = slices.Clone(b.members)
		for _, m := range fm {
			if m.name == "rows" || m.name == "row_key" {
				return nil, fmt.Errorf("%w: fields may not change %s", ErrBad, m.name)
			}
			i := slices.IndexFunc(newMembers, func(x member) bool { return x.name == m.name })
			var old []byte
			if i >= 0 {
				old = newMembers[i].value
			}
			if isNull(m.value) {
				if i >= 0 {
					newMembers = slices.Delete(newMembers, i, i+1)
				}
				fieldChanges = append(fieldChanges, member{m.name, []byte("null")})
				continue
			}
			v, err := MergePatch(old, m.value)
			if err != nil {
				return nil, fmt.Errorf("%w: fields: %.64q: %v", ErrBad, m.name, err)
			}
			if i >= 0 {
				newMembers[i].value = v
			} else {
				newMembers = append(newMembers, member{m.name, v})
			}
			fieldChanges = append(fieldChanges, member{m.name, v})
		}
	}
	if !commit {
		return nil, nil
	}

	// Commit.
	for _, k := range changedOrder {
		old, had := b.rows[k]
		if had {
			b.size -= len(old) + len(k)
		}
		if row := changed[k]; row == nil {
			delete(b.rows, k)
		} else {
			b.rows[k] = row
			b.size += len(row) + len(k)
		}
	}
	b.order = order
	if newMembers != nil {
		for _, m := range b.members {
			b.size -= len(m.name) + len(m.value)
		}
		// rows keeps its place among the members that stay before it.
		if b.rowsAt >= 0 {
			before := 0
			for _, m := range b.members[:min(b.rowsAt, len(b.members))] {
				if slices.ContainsFunc(newMembers, func(x member) bool { return x.name == m.name }) {
					before++
				}
			}
			b.rowsAt = before
		}
		b.members = newMembers
		for _, m := range b.members {
			b.size += len(m.name) + len(m.value)
		}
	}

	out := make([]byte, 0, 64+len(data)*2)
	out = append(out, '{')
	if len(changedOrder) > 0 {
		out = append(out, `"rows":{`...)
		for i, k := range changedOrder {
			if i > 0 {
				out = append(out, ',')
			}
			out = protocol.AppendJSONString(out, k)
			out = append(out, ':')
			if row := changed[k]; row == nil {
				out = append(out, "null"...)
			} else {
				out = append(out, row...)
			}
		}
		out = append(out, '}')
	}
	if positions != nil {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, `"order":[`...)
		out = append(out, positions...)
		out = append(out, ']')
	}
	if len(fieldChanges) > 0 {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, `"fields":{`...)
		for i, m := range fieldChanges {
			if i > 0 {
				out = append(out, ',')
			}
			out = protocol.AppendJSONString(out, m.name)
			out = append(out, ':')
			out = append(out, m.value...)
		}
		out = append(out, '}')
	}
	return append(out, '}'), nil
}

// Reorder applies one positions map to order (a new slice): the listed
// rows leave, then go back at their indices in increasing index order; the
// others keep their order and fill the other places.
func Reorder(order []string, moves map[string]int) []string {
	rest := make([]string, 0, len(order))
	for _, k := range order {
		if _, moved := moves[k]; !moved {
			rest = append(rest, k)
		}
	}
	type mv struct {
		key string
		at  int
	}
	ms := make([]mv, 0, len(moves))
	for k, i := range moves {
		ms = append(ms, mv{k, i})
	}
	sort.Slice(ms, func(a, b int) bool { return ms[a].at < ms[b].at })
	out := make([]string, 0, len(order))
	ri := 0
	for _, m := range ms {
		for len(out) < m.at && ri < len(rest) {
			out = append(out, rest[ri])
			ri++
		}
		out = append(out, m.key)
	}
	return append(out, rest[ri:]...)
}

// delivered is a delivered patch, decoded for folding.
type delivered struct {
	rows   []member
	order  []json.RawMessage
	fields []member
}

func decodeDelivered(data []byte) (*delivered, error) {
	ms, err := objectMembers(data)
	if err != nil {
		return nil, err
	}
	d := &delivered{}
	for _, m := range ms {
		switch m.name {
		case "rows":
			if d.rows, err = objectMembers(m.value); err != nil {
				return nil, err
			}
		case "fields":
			if d.fields, err = objectMembers(m.value); err != nil {
				return nil, err
			}
		case "order":
			if err := json.Unmarshal(m.value, &d.order); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown member %q", m.name)
		}
	}
	return d, nil
}

// Fold combines two delivered patches of one view, older then newer, into
// one with the same effect, or reports false when it cannot be exact (the
// newer removes rows while the older moved rows; the newer brings back a
// row the older removed) or the result would be over MaxFold.
func Fold(older, newer []byte) ([]byte, bool) {
	a, err := decodeDelivered(older)
	if err != nil {
		return nil, false
	}
	b, err := decodeDelivered(newer)
	if err != nil {
		return nil, false
	}
	removedByA := make(map[string]bool)
	for _, m := range a.rows {
		if isNull(m.value) {
			removedByA[m.name] = true
		}
	}
	for _, m := range b.rows {
		if isNull(m.value) && len(a.order) > 0 {
			return nil, false
		}
		if !isNull(m.value) && removedByA[m.name] {
			return nil, false
		}
	}
	rows := union(a.rows, b.rows)
	fields := union(a.fields, b.fields)
	out := make([]byte, 0, len(older)+len(newer))
	out = append(out, '{')
	if len(rows) > 0 {
		out = append(out, `"rows":`...)
		out = appendMembers(out, rows)
	}
	if len(a.order)+len(b.order) > 0 {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, `"order":[`...)
		for i, o := range append(slices.Clone(a.order), b.order...) {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, o...)
		}
		out = append(out, ']')
	}
	if len(fields) > 0 {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, `"fields":`...)
		out = appendMembers(out, fields)
	}
	out = append(out, '}')
	if len(out) > MaxFold {
		return nil, false
	}
	return out, true
}

// union keeps a's members in order, each replaced by b's value when b has
// it, then b's other members.
func union(a, b []member) []member {
	out := slices.Clone(a)
	for _, m := range b {
		if i := slices.IndexFunc(out, func(x member) bool { return x.name == m.name }); i >= 0 {
			out[i].value = m.value
		} else {
			out = append(out, m)
		}
	}
	return out
}

func appendMembers(out []byte, ms []member) []byte {
	out = append(out, '{')
	for i, m := range ms {
		if i > 0 {
			out = append(out, ',')
		}
		out = protocol.AppendJSONString(out, m.name)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	return append(out, '}')
}

// encodeIndexMap encodes a positions map in the publisher's key order.
func encodeIndexMap(keys []member, moves map[string]int) []byte {
	out := []byte{'{'}
	for i, m := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		out = protocol.AppendJSONString(out, m.name)
		out = append(out, ':')
		out = strconv.AppendInt(out, int64(moves[m.name]), 10)
	}
	return append(out, '}')
}

// rowKey reads the key member of a row object; it must be a string.
func rowKey(row []byte, key string) (string, error) {
	ms, err := objectMembers(row)
	if err != nil {
		return "", errors.New("a row must be a JSON object")
	}
	for _, m := range ms {
		if m.name == key {
			var k string
			if err := json.Unmarshal(m.value, &k); err != nil || k == "" {
				return "", fmt.Errorf("its %s must be a non-empty string", key)
			}
			return k, nil
		}
	}
	return "", fmt.Errorf("it has no %s", key)
}
