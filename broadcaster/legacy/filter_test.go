package legacy

import (
	"slices"
	"strings"
	"testing"
)

func TestParseFilters(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    []filter
		wantErr string
	}{
		{in: []string{"/contest/c1"}, want: []filter{{kind: filterContest, name: "c1"}}},
		{in: []string{"/contest/c1/tok.en-1"}, want: []filter{{kind: filterContest, name: "c1", token: "tok.en-1"}}},
		{in: []string{"/problemset/42", "/user/ann"}, want: []filter{{kind: filterProblemset, id: 42}, {kind: filterUser, name: "ann"}}},
		{in: []string{"/problemset/42/tok,/problem/sum"}, want: []filter{{kind: filterProblemset, id: 42, token: "tok"}, {kind: filterProblem, name: "sum"}}},
		{in: []string{"/all-events"}, want: []filter{{kind: filterAllEvents}}},
		{in: nil, wantErr: "no filter"},
		{in: []string{"/scoreboard/x"}, wantErr: "unknown filter"},
		{in: []string{"/contest"}, wantErr: "unknown filter"},
		{in: []string{"contest/c1"}, wantErr: "must start with /"},
		{in: []string{"/problemset/abc"}, wantErr: "positive integer"},
		{in: []string{"/problemset/-3"}, wantErr: "positive integer"},
		{in: []string{"/contest/a b"}, wantErr: "segments"},
		{in: []string{"/contest/a.b"}, wantErr: "aliases are"},
		{in: []string{"/user/john.doe"}, want: []filter{{kind: filterUser, name: "john.doe"}}},
		{in: []string{"/contest/c1/"}, wantErr: "segments"},
		{in: []string{"/contest/c,"}, wantErr: "must start with /"},
		{in: slices.Repeat([]string{"/contest/c"}, 17), wantErr: "more than 16"},
	} {
		got, err := parseFilters(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseFilters(%q) error %v, want one containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseFilters(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestGrants(t *testing.T) {
	fs, _ := parseFilters([]string{"/contest/c1", "/problemset/7", "/problem/p", "/user/someone"})
	g, chans, err := grants(fs, Validation{User: "ann", ContestAdmin: []string{"c2", "bad alias"}, ProblemsetAdmin: []int64{9}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/contest/c1", "/contest/problemset.7", "/problem/p", "/user/ann"}; !slices.Equal(chans, want) {
		t.Fatalf("channels %q, want %q", chans, want)
	}
	if !slices.Equal(g.Contests, []string{"c1", "problemset.7"}) || !slices.Equal(g.ContestsAdmin, []string{"c2", "problemset.9"}) || !slices.Equal(g.Problems, []string{"p"}) {
		t.Fatalf("grants %+v", g)
	}
	all, _ := parseFilters([]string{"/all-events"})
	if _, _, err := grants(all, Validation{User: "ann"}); err == nil {
		t.Fatal("/all-events granted to a non-admin")
	}
	if _, chans, err := grants(all, Validation{User: "root", Admin: true}); err != nil || !slices.Equal(chans, []string{AllEventsChannel}) {
		t.Fatalf("/all-events for an admin: %q, %v", chans, err)
	}
	user, _ := parseFilters([]string{"/user/ann"})
	if _, _, err := grants(user, Validation{}); err == nil {
		t.Fatal("/user/ granted to an anonymous connection")
	}
}

func TestIsMessage(t *testing.T) {
	for in, want := range map[string]bool{
		`{"message":"/run/update/","run":{}}`: true,
		" {\n \"message\" : \"/x/\"}":         true,
		`{"run":{},"message":"/run/update/"}`: false,
		`{"message":3}`:                       false,
		`["message"]`:                         false,
		`{"guid":"g1","verdict":"AC"}`:        false,
		`"message"`:                           false,
		``:                                    false,
		`{"messages":"x"}`:                    false,
	} {
		if got := isMessage([]byte(in)); got != want {
			t.Errorf("isMessage(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestEncoderDedup(t *testing.T) {
	m := []byte(`{"message":"/run/update/","run":{"guid":"g"}}`)
	single := newEncoder(1)
	if single.encode("/contest/c", m) == nil || single.encode("/contest/c", m) == nil {
		t.Fatal("a one-channel connection dropped a repeated message")
	}
	multi := newEncoder(2)
	if multi.encode("/contest/c", m) == nil {
		t.Fatal("first copy dropped")
	}
	if multi.encode("/contest/problemset.7", m) != nil {
		t.Fatal("second copy of one envelope, through another channel, was sent")
	}
	if multi.encode("/contest/c", m) == nil {
		t.Fatal("a repeat on the same channel was dropped")
	}
	if multi.encode("/contest/c", []byte(`{"guid":"g"}`)) != nil {
		t.Fatal("non-legacy data reached a legacy connection")
	}
}
