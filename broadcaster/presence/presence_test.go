package presence

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type op struct {
	leave   bool
	contest string
	g       Group
	conn    uint64
	user    string
}

func join(c string, g Group, conn uint64, user string) op { return op{false, c, g, conn, user} }
func leave(c string, g Group, conn uint64, user string) op {
	return op{true, c, g, conn, user}
}

func TestCounter(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []op
		want map[string]Contest
	}{
		{"subscribe", []op{join("c", Contestants, 1, "alice")},
			map[string]Contest{"c": {Contestants: Counts{1, 1}}}},
		{"same user twice", []op{join("c", Contestants, 1, "alice"), join("c", Contestants, 2, "alice")},
			map[string]Contest{"c": {Contestants: Counts{2, 1}}}},
		{"resubscribe (refresh re-registers before dropping)", []op{
			join("c", Contestants, 1, "alice"), join("c", Contestants, 1, "alice"), leave("c", Contestants, 1, "alice")},
			map[string]Contest{"c": {Contestants: Counts{1, 1}}}},
		{"unsubscribe", []op{join("c", Contestants, 1, "alice"), join("c", Contestants, 2, "bob"), leave("c", Contestants, 1, "alice")},
			map[string]Contest{"c": {Contestants: Counts{1, 1}}}},
		{"close all", []op{join("c", Contestants, 1, "alice"), join("c", Admins, 1, "alice"),
			leave("c", Contestants, 1, "alice"), leave("c", Admins, 1, "alice")},
			map[string]Contest{"c": {}}},
		{"anonymous viewers", []op{join("c", Viewers, 1, ""), join("c", Viewers, 1, ""), join("c", Viewers, 2, "")},
			map[string]Contest{"c": {Viewers: Counts{2, 0}}}},
		{"leave without join", []op{leave("c", Viewers, 9, ""), join("c", Admins, 1, "root"), leave("c", Admins, 2, "root")},
			map[string]Contest{"c": {Admins: Counts{1, 1}}}},
		{"contests apart", []op{join("a", Contestants, 1, "alice"), join("b", Contestants, 1, "alice")},
			map[string]Contest{"a": {Contestants: Counts{1, 1}}, "b": {Contestants: Counts{1, 1}}}},
		{"groups apart", []op{join("c", Contestants, 1, "alice"), join("c", Admins, 2, "root"), join("c", Viewers, 3, "")},
			map[string]Contest{"c": {Contestants: Counts{1, 1}, Admins: Counts{1, 1}, Viewers: Counts{1, 0}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Counter
			for _, o := range tc.ops {
				if o.leave {
					c.Leave(o.contest, o.g, o.conn, o.user)
				} else {
					c.Join(o.contest, o.g, o.conn, o.user)
				}
			}
			for name, want := range tc.want {
				if got := c.Local(name); got != want {
					t.Errorf("%s: got %+v, want %+v", name, got, want)
				}
			}
			// A contest everyone left is forgotten, not kept at zero.
			listed := 0
			for _, want := range tc.want {
				if want != (Contest{}) {
					listed++
				}
			}
			if got := c.Contests(); len(got) != listed {
				t.Errorf("contests listed: %v, want %d", got, listed)
			}
		})
	}
}

func summaryOf(node string, seq uint64, ttl time.Duration, maxUsers int, ops ...op) *Summary {
	var c Counter
	for _, o := range ops {
		c.Join(o.contest, o.g, o.conn, o.user)
	}
	s := &Summary{V: Version, Node: node, Seq: seq, TTLMS: ttl.Milliseconds()}
	c.summarize(s, maxUsers)
	// Through the wire form, as nodes see each other.
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	d, err := DecodeSummary(b)
	if err != nil {
		panic(err)
	}
	return d
}

func TestTableMergesDistinctUsers(t *testing.T) {
	now := time.Unix(1000, 0)
	var tb Table
	tb.Put(summaryOf("n1", 1, time.Second, 100, join("c", Contestants, 1, "alice"), join("c", Contestants, 2, "bob"), join("c", Viewers, 3, "")), now)
	tb.Put(summaryOf("n2", 1, time.Second, 100, join("c", Contestants, 1, "alice"), join("c", Admins, 2, "root"), join("c", Viewers, 3, "")), now)
	got, nodes := tb.Totals(now)
	want := Totals{Contest: Contest{Contestants: Counts{3, 2}, Admins: Counts{1, 1}, Viewers: Counts{2, 0}}}
	if nodes != 2 || got["c"] != want {
		t.Fatalf("got %+v over %d nodes, want %+v over 2", got["c"], nodes, want)
	}
	// n2 reports an older round late: ignored. A newer one replaces.
	if tb.Put(summaryOf("n2", 0, time.Second, 100), now) {
		t.Fatal("an older summary was taken")
	}
	tb.Put(summaryOf("n2", 2, time.Second, 100, join("c", Contestants, 1, "carol")), now)
	got, _ = tb.Totals(now)
	if want := (Counts{3, 3}); got["c"].Contestants != want {
		t.Fatalf("after n2's update: %+v, want %+v", got["c"].Contestants, want)
	}
	// n1 is not heard from past its TTL: dropped.
	tb.Put(summaryOf("n2", 3, 10*time.Second, 100, join("c", Contestants, 1, "carol")), now)
	got, nodes = tb.Totals(now.Add(time.Second))
	if want := (Counts{1, 1}); nodes != 1 || got["c"].Contestants != want || got["c"].Viewers.Connections != 0 {
		t.Fatalf("after n1 expired: %+v over %d nodes", got["c"], nodes)
	}
	// A goodbye drops the node at once.
	tb.Put(&Summary{V: Version, Node: "n2", Seq: 4}, now.Add(time.Second))
	if got, nodes = tb.Totals(now.Add(time.Second)); nodes != 0 || len(got) != 0 {
		t.Fatalf("after n2's goodbye: %+v over %d nodes", got, nodes)
	}
}

func TestTableOverHashCap(t *testing.T) {
	now := time.Unix(1000, 0)
	var tb Table
	// n1 has more users than it sends hashes for: its count adds up.
	tb.Put(summaryOf("n1", 1, time.Second, 1, join("c", Contestants, 1, "alice"), join("c", Contestants, 2, "bob")), now)
	tb.Put(summaryOf("n2", 1, time.Second, 1, join("c", Contestants, 1, "alice")), now)
	got, _ := tb.Totals(now)
	if c := got["c"]; c.Contestants != (Counts{3, 3}) || !c.Approximate {
		t.Fatalf("got %+v, want 3 connections, 3 users (upper bound), approximate", c)
	}
}

func TestDecodeSummaryRefuses(t *testing.T) {
	for _, in := range []string{
		`not json`,
		`{"v":2,"node":"n"}`,
		`{"v":1}`,
		`{"v":1,"node":"n","ttl_ms":-1}`,
		`{"v":1,"node":"n","contests":{"c":null}}`,
		`{"v":1,"node":"n","contests":{"c":{"viewers":{"connections":-1}}}}`,
		`{"v":1,"node":"n","contests":{"c":{"admins":{"users":2,"hashes":"AAAAAAAAAAA="}}}}`,
	} {
		if _, err := DecodeSummary([]byte(in)); err == nil {
			t.Errorf("%s: accepted", in)
		}
	}
}

func TestEncodeWithinDropsHashes(t *testing.T) {
	var ops []op
	for i := range 200 {
		ops = append(ops, join("big", Contestants, uint64(i), strings.Repeat("u", 10)+string(rune('a'+i%26))+string(rune('a'+i/26))))
	}
	ops = append(ops, join("small", Admins, 1000, "root"))
	s := summaryOf("n", 1, time.Second, 1000, ops...)
	full, _ := json.Marshal(s)
	b, err := encodeWithin(s, len(full)-100)
	if err != nil || len(b) > len(full)-100 {
		t.Fatalf("encoded %d bytes (limit %d): %v", len(b), len(full)-100, err)
	}
	d, err := DecodeSummary(b)
	if err != nil {
		t.Fatal(err)
	}
	if g := d.Contests["big"].Contestants; g.Users != 200 || g.Hashes != nil {
		t.Fatalf("big group: %d users, %d hash bytes; want the count without hashes", g.Users, len(g.Hashes))
	}
	if g := d.Contests["small"].Admins; len(g.Hashes) != 8 {
		t.Fatalf("small group lost its hashes")
	}
}
