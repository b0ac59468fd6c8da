package board

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

const base = `{"row_key":"team","title":"Finals","rows":[` +
	`{"team":"a","score":3,"p":{"A":1}},{"team":"b","score":2},{"team":"c","score":1}],"time":10}`

func mustParse(t *testing.T, s string) *Board {
	t.Helper()
	b, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return b
}

// view decodes JSON into a comparable value.
func view(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return v
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, data string
		err        error
	}{
		{"keyed", base, nil},
		{"opaque object", `{"scoreboard_url":"/x"}`, ErrNotKeyed},
		{"opaque scalar", `"x"`, ErrNotKeyed},
		{"row_key not a string", `{"row_key":1,"rows":[]}`, ErrBad},
		{"no rows", `{"row_key":"team"}`, ErrBad},
		{"rows not an array", `{"row_key":"team","rows":{}}`, ErrBad},
		{"row without key", `{"row_key":"team","rows":[{"x":1}]}`, ErrBad},
		{"numeric key", `{"row_key":"team","rows":[{"team":1}]}`, ErrBad},
		{"duplicate key", `{"row_key":"team","rows":[{"team":"a"},{"team":"a"}]}`, ErrBad},
		{"duplicate member", `{"row_key":"team","rows":[],"rows":[]}`, ErrNotKeyed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data))
			if !errors.Is(err, tt.err) && !(tt.err == nil && err == nil) {
				t.Fatalf("Parse(%s) = %v, want %v", tt.data, err, tt.err)
			}
		})
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	b := mustParse(t, base)
	if got, want := view(t, b.Encode()), view(t, []byte(base)); !reflect.DeepEqual(got, want) {
		t.Fatalf("Encode = %v, want %v", got, want)
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name, patch   string
		board         string // the board after, as JSON; "" when refused
		delivered     string
		errorContains string
	}{
		{
			name:      "merge one row",
			patch:     `{"rows":{"b":{"score":5,"p":{"B":1}}}}`,
			board:     `{"row_key":"team","title":"Finals","rows":[{"team":"a","score":3,"p":{"A":1}},{"team":"b","score":5,"p":{"B":1}},{"team":"c","score":1}],"time":10}`,
			delivered: `{"rows":{"b":{"team":"b","score":5,"p":{"B":1}}}}`,
		},
		{
			name:      "nested merge and delete",
			patch:     `{"rows":{"a":{"p":{"A":null,"C":2}}}}`,
			board:     `{"row_key":"team","title":"Finals","rows":[{"team":"a","score":3,"p":{"C":2}},{"team":"b","score":2},{"team":"c","score":1}],"time":10}`,
			delivered: `{"rows":{"a":{"team":"a","score":3,"p":{"C":2}}}}`,
		},
		{
			name:      "move to the top",
			patch:     `{"rows":{"c":{"score":9}},"positions":{"c":0}}`,
			board:     `{"row_key":"team","title":"Finals","rows":[{"team":"c","score":9},{"team":"a","score":3,"p":{"A":1}},{"team":"b","score":2}],"time":10}`,
			delivered: `{"rows":{"c":{"team":"c","score":9}},"order":[{"c":0}]}`,
		},
		{
			name:      "set adds at the end, remove",
			patch:     `{"rows":{"a":null},"set":{"d":{"team":"d","score":0}}}`,
			board:     `{"row_key":"team","title":"Finals","rows":[{"team":"b","score":2},{"team":"c","score":1},{"team":"d","score":0}],"time":10}`,
			delivered: `{"rows":{"a":null,"d":{"team":"d","score":0}}}`,
		},
		{
			name:      "fields",
			patch:     `{"fields":{"time":11,"title":null,"frozen":true}}`,
			board:     `{"row_key":"team","rows":[{"team":"a","score":3,"p":{"A":1}},{"team":"b","score":2},{"team":"c","score":1}],"time":11,"frozen":true}`,
			delivered: `{"fields":{"time":11,"title":null,"frozen":true}}`,
		},
		{name: "unknown row", patch: `{"rows":{"zz":{"score":1}}}`, errorContains: `no row "zz"`},
		{name: "unknown member", patch: `{"rowz":{}}`, errorContains: `unknown patch member "rowz"`},
		{name: "not an object", patch: `[1]`, errorContains: "must be a JSON object"},
		{name: "bad JSON", patch: `{"rows":`, errorContains: "must be a JSON object"},
		{name: "empty", patch: `{}`, errorContains: "changes nothing"},
		{name: "key changed", patch: `{"rows":{"a":{"team":"x"}}}`, errorContains: "changes or removes its team"},
		{name: "row made scalar", patch: `{"rows":{"a":5}}`, errorContains: "must be an object or null"},
		{name: "set key mismatch", patch: `{"set":{"d":{"team":"e"}}}`, errorContains: `whose team is "d"`},
		{name: "index out of range", patch: `{"positions":{"a":3}}`, errorContains: "index from 0 to 2"},
		{name: "index twice", patch: `{"positions":{"a":1,"b":1}}`, errorContains: "given twice"},
		{name: "position of unknown row", patch: `{"positions":{"q":1}}`, errorContains: `no row "q"`},
		{name: "fields touches rows", patch: `{"fields":{"rows":[]}}`, errorContains: "may not change rows"},
		{name: "rows and set", patch: `{"rows":{"a":{"score":1}},"set":{"a":{"team":"a"}}}`, errorContains: "both in rows and in set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustParse(t, base)
			before := string(b.Encode())
			if err := b.Check([]byte(tt.patch)); (err == nil) != (tt.errorContains == "") {
				t.Fatalf("Check = %v", err)
			}
			if string(b.Encode()) != before {
				t.Fatal("Check changed the board")
			}
			d, err := b.Apply([]byte(tt.patch))
			if tt.errorContains != "" {
				if err == nil || !errors.Is(err, ErrBad) || !strings.Contains(err.Error(), tt.errorContains) {
					t.Fatalf("Apply = %v, want an ErrBad containing %q", err, tt.errorContains)
				}
				if string(b.Encode()) != before {
					t.Fatal("a refused patch changed the board")
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if got, want := view(t, b.Encode()), view(t, []byte(tt.board)); !reflect.DeepEqual(got, want) {
				t.Errorf("board = %s\nwant    %s", b.Encode(), tt.board)
			}
			if string(d) != tt.delivered {
				t.Errorf("delivered = %s\nwant        %s", d, tt.delivered)
			}
		})
	}
}

func TestReorder(t *testing.T) {
	tests := []struct {
		order []string
		moves map[string]int
		want  []string
	}{
		{[]string{"a", "b", "c", "d"}, map[string]int{"d": 0}, []string{"d", "a", "b", "c"}},
		{[]string{"a", "b", "c", "d"}, map[string]int{"a": 3}, []string{"b", "c", "d", "a"}},
		{[]string{"a", "b", "c", "d"}, map[string]int{"a": 1, "d": 2}, []string{"b", "a", "d", "c"}},
		{[]string{"a", "b", "c", "d"}, map[string]int{"b": 0, "a": 1}, []string{"b", "a", "c", "d"}},
	}
	for _, tt := range tests {
		if got := Reorder(tt.order, tt.moves); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Reorder(%v, %v) = %v, want %v", tt.order, tt.moves, got, tt.want)
		}
	}
}

// clientBoard applies boards and delivered patches as docs/protocol.md
// section 8 tells a client to, written independently of Board.
type clientBoard struct {
	key    string
	fields map[string]any
	rows   map[string]any
	order  []string
}

func newClientBoard(t *testing.T, data []byte) *clientBoard {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	c := &clientBoard{key: m["row_key"].(string), fields: map[string]any{}, rows: map[string]any{}}
	for k, v := range m {
		if k != "rows" {
			c.fields[k] = v
		}
	}
	for _, r := range m["rows"].([]any) {
		k := r.(map[string]any)[c.key].(string)
		c.rows[k] = r
		c.order = append(c.order, k)
	}
	return c
}

func (c *clientBoard) apply(t *testing.T, delivered []byte) {
	var p struct {
		Rows   map[string]any   `json:"rows"`
		Order  []map[string]int `json:"order"`
		Fields map[string]any   `json:"fields"`
	}
	if err := json.Unmarshal(delivered, &p); err != nil {
		t.Fatalf("delivered patch %s: %v", delivered, err)
	}
	for k, v := range p.Fields {
		if v == nil {
			delete(c.fields, k)
		} else {
			c.fields[k] = v
		}
	}
	// rows in the order the patch lists them matters only for appends;
	// decode order-preserving for that.
	var raw struct {
		Rows json.RawMessage `json:"rows"`
	}
	json.Unmarshal(delivered, &raw)
	if raw.Rows != nil {
		ms, _ := objectMembers(raw.Rows)
		for _, m := range ms {
			v := p.Rows[m.name]
			_, had := c.rows[m.name]
			switch {
			case v == nil:
				delete(c.rows, m.name)
				for i, k := range c.order {
					if k == m.name {
						c.order = append(c.order[:i:i], c.order[i+1:]...)
						break
					}
				}
			default:
				c.rows[m.name] = v
				if !had {
					c.order = append(c.order, m.name)
				}
			}
		}
	}
	for _, moves := range p.Order {
		var rest []string
		for _, k := range c.order {
			if _, ok := moves[k]; !ok {
				rest = append(rest, k)
			}
		}
		out := make([]string, len(c.order))
		taken := make([]bool, len(c.order))
		for k, i := range moves {
			out[i], taken[i] = k, true
		}
		j := 0
		for i := range out {
			if !taken[i] {
				out[i] = rest[j]
				j++
			}
		}
		c.order = out
	}
}

func (c *clientBoard) value() any {
	m := map[string]any{}
	for k, v := range c.fields {
		m[k] = v
	}
	rows := make([]any, 0, len(c.order))
	for _, k := range c.order {
		rows = append(rows, c.rows[k])
	}
	m["rows"] = rows
	return m
}

// randomPatch makes a valid patch for b most of the time.
func randomPatch(r *rand.Rand, b *Board, next *int) string {
	keys := b.Rows()
	var parts []string
	if len(keys) > 0 {
		k := keys[r.IntN(len(keys))]
		switch r.IntN(6) {
		case 0:
			if len(keys) > 3 {
				parts = append(parts, fmt.Sprintf(`"rows":{%q:null}`, k))
				break
			}
			fallthrough
		case 1, 2, 3:
			parts = append(parts, fmt.Sprintf(`"rows":{%q:{"score":%d,"p":{"X%d":%d}}}`, k, r.IntN(100), r.IntN(3), r.IntN(5)))
		case 4:
			*next++
			parts = append(parts, fmt.Sprintf(`"set":{"n%d":{"team":"n%d","score":0}}`, *next, *next))
		case 5:
			parts = append(parts, fmt.Sprintf(`"set":{%q:{"team":%q,"score":-1}}`, k, k))
		}
	}
	if r.IntN(2) == 0 && len(keys) > 4 && !strings.Contains(strings.Join(parts, ""), "null") {
		i, j := r.IntN(len(keys)), r.IntN(len(keys))
		if i != j {
			parts = append(parts, fmt.Sprintf(`"positions":{%q:%d,%q:%d}`, keys[i], r.IntN(len(keys)), keys[j], r.IntN(len(keys))))
		}
	}
	if r.IntN(4) == 0 {
		parts = append(parts, fmt.Sprintf(`"fields":{"time":%d}`, r.IntN(1000)))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// TestDeliveredAndFold checks, over random patches, that a client applying
// the delivered patches ends with the node's board, and that any run of
// folded patches has the same effect as the patches one by one.
func TestDeliveredAndFold(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	applied, folded := 0, 0
	for round := 0; round < 50; round++ {
		b := mustParse(t, `{"row_key":"team","rows":[{"team":"a"},{"team":"b"},{"team":"c"},{"team":"d"},{"team":"e"},{"team":"f"}],"time":0}`)
		client := newClientBoard(t, b.Encode())
		replica, err := NewReplica(b.Encode(), 1)
		if err != nil {
			t.Fatal(err)
		}
		version := uint64(1)
		folding := newClientBoard(t, b.Encode())
		var pending []byte // the fold of the patches since the last flush
		next := 0
		for i := 0; i < 40; i++ {
			d, err := b.Apply([]byte(randomPatch(r, b, &next)))
			if err != nil {
				continue // an invalid random patch: refused, board unchanged
			}
			applied++
			client.apply(t, d)
			if ok, err := replica.Patch(d, version+1, version); !ok || err != nil {
				t.Fatalf("Replica.Patch = %v, %v", ok, err)
			}
			version++
			if got, want := view(t, replica.Encode()), view(t, b.Encode()); !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d patch %d: replica %s\nnode board %s", round, i, replica.Encode(), b.Encode())
			}
			if got, want := client.value(), view(t, b.Encode()); !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d patch %d: client board %v\nnode board %s", round, i, got, b.Encode())
			}
			if pending == nil {
				pending = d
			} else if f, ok := Fold(pending, d); ok {
				pending = f
				folded++
			} else {
				folding.apply(t, pending)
				pending = d
			}
			if r.IntN(5) == 0 {
				folding.apply(t, pending)
				pending = nil
			}
		}
		if pending != nil {
			folding.apply(t, pending)
		}
		if got, want := folding.value(), view(t, b.Encode()); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: folded board %v\nnode board %s", round, got, b.Encode())
		}
	}
	// The random patches must exercise both paths, or the test proves little.
	if applied < 1000 || folded < 500 {
		t.Fatalf("only %d patches applied and %d folds made", applied, folded)
	}
}

func TestFoldRefuses(t *testing.T) {
	tests := []struct{ older, newer string }{
		{`{"order":[{"a":1}]}`, `{"rows":{"b":null}}`},
		{`{"rows":{"a":null}}`, `{"rows":{"a":{"team":"a"}}}`},
		{`{"rows":{"a":{"team":"a","x":"` + strings.Repeat("x", MaxFold) + `"}}}`, `{"rows":{"b":{"team":"b"}}}`},
	}
	for _, tt := range tests {
		if _, ok := Fold([]byte(tt.older), []byte(tt.newer)); ok {
			t.Errorf("Fold(%.60s, %.60s) folded", tt.older, tt.newer)
		}
	}
}

func TestMergePatch(t *testing.T) {
	// The examples of RFC 7396 appendix A.
	tests := []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	}
	for _, tt := range tests {
		got, err := MergePatch([]byte(tt.target), []byte(tt.patch))
		if err != nil || string(got) != tt.want {
			t.Errorf("MergePatch(%s, %s) = %s, %v; want %s", tt.target, tt.patch, got, err, tt.want)
		}
	}
}

func TestReplicaStaleAndGap(t *testing.T) {
	r, err := NewReplica([]byte(base), 10)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := r.Patch([]byte(`{"rows":{"a":{"team":"a"}}}`), 10, 0); ok || err != nil {
		t.Fatalf("a patch at the version: %v, %v; want ignored", ok, err)
	}
	if _, err := r.Patch([]byte(`{"rows":{"a":{"team":"a"}}}`), 12, 11); !errors.Is(err, ErrGap) {
		t.Fatalf("a patch after a missed one: %v; want ErrGap", err)
	}
	if ok, err := r.Patch([]byte(`{"rows":{"a":{"team":"a"}}}`), 12, 10); !ok || err != nil || r.Version() != 12 {
		t.Fatalf("the next patch: %v, %v, version %d", ok, err, r.Version())
	}
}
