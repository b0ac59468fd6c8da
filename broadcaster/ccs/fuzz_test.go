package ccs

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/arenacast/arenacast/broadcaster/ccs/ccsfake"
)

// FuzzRoute feeds arbitrary lines, after a generated contest's, through
// parsing and the default mapping: nothing panics, and every publication is
// an event the stream accepts (a valid type, channel and user, JSON data).
func FuzzRoute(f *testing.F) {
	feed := ccsfake.Generate(ccsfake.Config{Teams: 3, Problems: 2, Submissions: 6, Clarifications: 4, Seed: 1})
	for _, l := range feed.Lines {
		f.Add(l.Raw)
	}
	f.Add([]byte(`{"type":"judgements","id":null,"data":[{"id":"j1","submission_id":"s1"},7]}`))
	f.Add([]byte(`{"type":"clarifications","id":"c","data":{"to_group_ids":["g1"],"to_team_ids":"x"}}`))
	f.Add([]byte(`{"type":"state","data":{"frozen":"x","thawed":"y"}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r := newRouter(DefaultMapping(), "wf")
		for _, l := range feed.Lines[:len(feed.Lines)/2] {
			if n, err := ParseNotification(l.Raw); err == nil {
				r.route(n, l.Raw, "x")
			}
		}
		n, err := ParseNotification(line)
		if err != nil {
			return
		}
		for _, p := range r.route(n, line, "fuzz") {
			if _, err := p.Event.Encode(); err != nil {
				t.Fatalf("publication %s does not encode: %v", p.Event.Type, err)
			}
		}
		if served := encodeServed(n, "1"); !json.Valid(served) || bytes.IndexByte(served, '\n') != len(served)-1 {
			t.Fatalf("served line is not one JSON line: %q", served)
		}
	})
}
