package ccs_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/arenacast/arenacast/broadcaster/ccs"
)

func TestParseNotification(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
		id   string
	}{
		{`{"type":"teams","id":"t1","data":{"id":"t1"},"token":"a"}`, true, "t1"},
		{`{"type":"teams","data":{"id":"t2"}}`, true, "t2"},
		{`{"type":"state","data":{"started":null}}`, true, ""},
		{`{"type":"teams","id":"t1","data":null}`, true, "t1"},
		{`{"type":"judgement-types","id":"AC","data":{"id":"AC"}}`, true, "AC"},
		{`{"type":"teams","id":`, false, ""},
		{`not json`, false, ""},
		{`{"id":"x","data":{}}`, false, ""},
		{`{"type":"Bad Type","data":{}}`, false, ""},
		{`["a"]`, false, ""},
		{`{"type":"teams","data":42}`, false, ""},
	} {
		n, err := ccs.ParseNotification([]byte(tc.line))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.line, err, tc.ok)
			continue
		}
		if err != nil && !errors.Is(err, ccs.ErrMalformed) {
			t.Errorf("%s: %v is not ErrMalformed", tc.line, err)
		}
		if err == nil && n.ID != tc.id {
			t.Errorf("%s: id %q, want %q", tc.line, n.ID, tc.id)
		}
	}
}

func TestParseRelTime(t *testing.T) {
	for _, tc := range []struct {
		s  string
		v  float64
		ok bool
	}{
		{"5:00:00.000", 18000, true}, {"0:00:01", 1, true}, {"-0:01:00.5", -60.5, true}, {"123:04:05", 123*3600 + 245, true},
		{"5:0:00", 0, false}, {"5:60:00", 0, false}, {"", 0, false}, {"1:00", 0, false}, {"x:00:00", 0, false},
	} {
		v, ok := ccs.ParseRelTime(tc.s)
		if ok != tc.ok || (ok && v != tc.v) {
			t.Errorf("%q: %v %v, want %v %v", tc.s, v, ok, tc.v, tc.ok)
		}
	}
}

func TestReadMapping(t *testing.T) {
	m, err := ccs.ReadMapping(strings.NewReader(`{"types":{"submissions":"team_frozen","commentary":"drop"},"team_user":"team{id}"}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Types["submissions"] != ccs.RuleTeamFrozen || m.Types["commentary"] != ccs.RuleDrop || m.Types["judgements"] != ccs.RuleTeamFrozen || m.TeamUser != "team{id}" || m.Default != ccs.RuleAdmin {
		t.Fatalf("mapping not merged over the default: %s", m.JSON())
	}
	for _, bad := range []string{
		`{"types":{"teams":"everyone"}}`, `{"default":"x"}`, `{"team_user":"fixed"}`, `{"typos":{}}`, `[`,
	} {
		if _, err := ccs.ReadMapping(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	if _, err := ccs.ReadMapping(strings.NewReader(string(ccs.DefaultMapping().JSON()))); err != nil {
		t.Fatalf("the default mapping's own JSON is refused: %v", err)
	}
}
