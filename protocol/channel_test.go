package protocol

import (
	"errors"
	"strings"
	"testing"
)

func TestParseChannel(t *testing.T) {
	cases := []struct {
		in   string
		want Channel
		err  error
	}{
		{"/user/alice", Channel{KindUser, "alice"}, nil},
		{"/user/john.doe", Channel{KindUser, "john.doe"}, nil},
		{"/contest/annual-2024", Channel{KindContest, "annual-2024"}, nil},
		{"/contest/annual-2024/admin", Channel{KindContestAdmin, "annual-2024"}, nil},
		{"/problem/sum_two", Channel{KindProblem, "sum_two"}, nil},
		{"/scoreboard/eyJ.abc.def-_", Channel{KindScoreboard, "eyJ.abc.def-_"}, nil},
		{"/contest/" + strings.Repeat("a", 64), Channel{KindContest, strings.Repeat("a", 64)}, nil},
		{"/contest/" + strings.Repeat("a", 65), Channel{}, ErrBadChannel},
		{"/scoreboard/" + strings.Repeat("a", 300), Channel{}, ErrBadChannel},
		{"", Channel{}, ErrBadChannel},
		{"contest/a", Channel{}, ErrBadChannel},
		{"/contest/a b", Channel{}, ErrBadChannel},
		{"/contest/a*", Channel{}, ErrBadChannel},
		{"/contest/>", Channel{}, ErrBadChannel},
		{"/contest/", Channel{}, ErrBadChannel},
		{"/contest//admin", Channel{}, ErrBadChannel},
		{"/contest/a/", Channel{}, ErrBadChannel},
		{"/contest/ä", Channel{}, ErrBadChannel},
		{"/team/a", Channel{}, ErrUnknownChannel},
		{"/contest/a/public", Channel{}, ErrUnknownChannel},
		{"/user/a/b", Channel{}, ErrUnknownChannel},
		{"/Contest/a", Channel{}, ErrUnknownChannel},
	}
	for _, tc := range cases {
		got, err := ParseChannel(tc.in)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("ParseChannel(%.50q) error = %v, want %v", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseChannel(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
}

func TestSubjectRoundTrip(t *testing.T) {
	cases := map[string]string{
		"/user/john.doe":       "arenacast.user.john~doe",
		"/contest/a.b.c":       "arenacast.contest.a~b~c",
		"/contest/a.b/admin":   "arenacast.contest.a~b.admin",
		"/problem/p-1_x":       "arenacast.problem.p-1_x",
		"/contest/admin":       "arenacast.contest.admin",
		"/contest/admin/admin": "arenacast.contest.admin.admin",
	}
	for name, subj := range cases {
		ch, err := ParseChannel(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Subject("arenacast", ch)
		if err != nil || got != subj {
			t.Errorf("Subject(%s) = %q, %v; want %q", name, got, err, subj)
		}
		back, err := ChannelFromSubject("arenacast", subj)
		if err != nil || back != ch {
			t.Errorf("ChannelFromSubject(%s) = %+v, %v; want %+v", subj, back, err, ch)
		}
	}
	if _, err := Subject("arenacast", Channel{KindScoreboard, "x"}); err == nil {
		t.Error("scoreboard channels must have no subject")
	}
	for _, bad := range []struct {
		subject string
		want    error
	}{
		{"other.user.a", ErrUnknownChannel},
		{"arenacast.user", ErrUnknownChannel},
		{"arenacast.user.", ErrBadChannel},
		{"arenacast.user.a.b", ErrUnknownChannel},
		{"arenacast.contest.a.admin.b", ErrUnknownChannel},
		{"arenacast.contest..admin", ErrBadChannel},
		{"arenacast.contest.a.public", ErrUnknownChannel},
		{"arenacast.team.a", ErrUnknownChannel},
		{"arenacast.user.a b", ErrBadChannel},
	} {
		if _, err := ChannelFromSubject("arenacast", bad.subject); !errors.Is(err, bad.want) {
			t.Errorf("ChannelFromSubject(%q): %v, want %v", bad.subject, err, bad.want)
		}
	}
}

func FuzzParseChannel(f *testing.F) {
	for _, s := range []string{"/user/a", "/contest/a.b/admin", "/scoreboard/x.y.z", "/problem/p", "/x", "", "/contest/a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ch, err := ParseChannel(s)
		if err != nil {
			if !errors.Is(err, ErrBadChannel) && !errors.Is(err, ErrUnknownChannel) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if ch.String() != s {
			t.Fatalf("round trip %q -> %q", s, ch.String())
		}
		if !ch.Publishable() {
			return
		}
		subj, err := Subject("arenacast", ch)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(subj, " \t\r\n*>") || strings.Count(subj, ".") > 3 {
			t.Fatalf("unsafe subject %q", subj)
		}
		back, err := ChannelFromSubject("arenacast", subj)
		if err != nil || back != ch {
			t.Fatalf("subject round trip %q -> %q -> %+v, %v", s, subj, back, err)
		}
	})
}

func FuzzChannelFromSubject(f *testing.F) {
	for _, s := range []string{"arenacast.user.a~b", "arenacast.contest.x.admin", "arenacast.problem.p", "arenacast.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, subj string) {
		ch, err := ChannelFromSubject("arenacast", subj)
		if err != nil {
			return
		}
		back, err := Subject("arenacast", ch)
		if err != nil || back != subj {
			t.Fatalf("%q -> %+v -> %q, %v: not one-to-one", subj, ch, back, err)
		}
	})
}
