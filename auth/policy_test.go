package auth

import (
	"testing"

	"github.com/arenacast/arenacast/protocol"
)

// principal builds the Principal a token with claims c would give.
func principal(user string, edit func(c *Claims)) *Principal {
	c := Claims{}
	c.Subject = user
	if edit != nil {
		edit(&c)
	}
	return newPrincipal(&c)
}

// Test principals of the authorization matrix.
var (
	anonymous    *Principal
	contestant   = principal("contestant", func(c *Claims) { c.Contests = []string{"c1"} })
	other        = principal("other", func(c *Claims) { c.Contests = []string{"c1"} })
	contestAdmin = principal("cadmin", func(c *Claims) { c.ContestsAdmin = []string{"c1"} })
	viewer       = principal("viewer", func(c *Claims) { c.Problems = []string{"p1"} })
	problemAdmin = principal("padmin", func(c *Claims) { c.ProblemsAdmin = []string{"p1"} })
	siteAdmin    = principal("root", func(c *Claims) { c.SiteAdmin = true })
)

func mustChannel(t *testing.T, s string) protocol.Channel {
	t.Helper()
	ch, err := protocol.ParseChannel(s)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestChannelAccess(t *testing.T) {
	const (
		N = AccessNone
		M = AccessMember
		A = AccessAll
	)
	channels := []string{"/user/contestant", "/contest/c1", "/contest/c1/admin", "/problem/p1", "/contest/c2", "/problem/p2", "/scoreboard/tok"}
	tests := []struct {
		name string
		p    *Principal
		want []Access // one per channel, in order
	}{
		{"anonymous", anonymous, []Access{N, N, N, N, N, N, N}},
		{"contestant", contestant, []Access{A, M, N, N, N, N, N}},
		{"other contestant", other, []Access{N, M, N, N, N, N, N}},
		{"contest admin", contestAdmin, []Access{N, A, A, N, N, N, N}},
		{"problem viewer", viewer, []Access{N, N, N, M, N, N, N}},
		{"problem admin", problemAdmin, []Access{N, N, N, A, N, N, N}},
		{"site admin", siteAdmin, []Access{A, A, A, A, A, A, N}},
		{"contest admin and participant", principal("both", func(c *Claims) {
			c.Contests, c.ContestsAdmin = []string{"c1"}, []string{"c1"}
		}), []Access{N, A, A, N, N, N, N}},
		{"grant names are not cross-kind", principal("x", func(c *Claims) {
			c.Contests, c.Problems = []string{"p1"}, []string{"c1"}
		}), []Access{N, N, N, N, N, N, N}},
	}
	for _, tt := range tests {
		for i, name := range channels {
			ch := mustChannel(t, name)
			if got := ChannelAccess(tt.p, ch); got != tt.want[i] {
				t.Errorf("%s on %s: %v, want %v", tt.name, name, got, tt.want[i])
			}
		}
	}
	if got := ChannelAccess(siteAdmin, protocol.Channel{}); got != AccessNone {
		t.Errorf("zero channel: %v", got)
	}
}

func TestCanSee(t *testing.T) {
	ev := func(typ, user string, public bool) *protocol.Event {
		return &protocol.Event{Type: typ, Channel: "/contest/c1", User: user, Public: public}
	}
	events := []struct {
		name string
		ev   *protocol.Event
	}{
		{"public run", ev(protocol.TypeRunUpdate, "other", true)},
		{"own private run", ev(protocol.TypeRunUpdate, "contestant", false)},
		{"other's private run", ev(protocol.TypeRunUpdate, "other", false)},
		{"private, no user", ev(protocol.TypeClarification, "", false)},
		{"public clarification", ev(protocol.TypeClarification, "", true)},
		{"public scoreboard", ev(protocol.TypeScoreboardUpdate, "", true)},
		{"private scoreboard", ev(protocol.TypeScoreboardUpdate, "", false)},
		{"public contest_update", ev(protocol.TypeContestUpdate, "", true)},
		{"own public scoreboard", ev(protocol.TypeScoreboardUpdate, "contestant", true)},
		{"public custom type", ev("balloon", "", true)},
	}
	const Y, n = true, false
	tests := []struct {
		name string
		a    Access
		p    *Principal
		want []bool // one per event, in order
	}{
		{"all (admin)", AccessAll, contestAdmin, []bool{Y, Y, Y, Y, Y, Y, Y, Y, Y, Y}},
		{"all (nil principal)", AccessAll, nil, []bool{Y, Y, Y, Y, Y, Y, Y, Y, Y, Y}},
		{"member contestant", AccessMember, contestant, []bool{Y, Y, n, n, Y, Y, n, Y, Y, Y}},
		{"member other", AccessMember, other, []bool{Y, n, Y, n, Y, Y, n, Y, Y, Y}},
		{"member, nil principal", AccessMember, nil, []bool{Y, n, n, n, Y, Y, n, Y, Y, Y}},
		{"member, principal without user", AccessMember, &Principal{}, []bool{Y, n, n, n, Y, Y, n, Y, Y, Y}},
		{"scoreboard", AccessScoreboard, nil, []bool{n, n, n, n, n, Y, n, Y, Y, n}},
		{"scoreboard with a principal", AccessScoreboard, contestant, []bool{n, n, n, n, n, Y, n, Y, Y, n}},
		{"none", AccessNone, siteAdmin, []bool{n, n, n, n, n, n, n, n, n, n}},
		{"invalid access", Access(99), siteAdmin, []bool{n, n, n, n, n, n, n, n, n, n}},
	}
	for _, tt := range tests {
		for i, e := range events {
			if got := CanSee(tt.a, tt.p, e.ev); got != tt.want[i] {
				t.Errorf("%s sees %s: %v, want %v", tt.name, e.name, got, tt.want[i])
			}
		}
		if CanSee(tt.a, tt.p, nil) {
			t.Errorf("%s sees a nil event", tt.name)
		}
	}
}

// TestPolicyInvariants checks the promises of docs/protocol.md section 2
// over every principal, channel and event of the matrix, end to end through
// ChannelAccess and CanSee.
func TestPolicyInvariants(t *testing.T) {
	principals := []*Principal{anonymous, contestant, other, contestAdmin, viewer, problemAdmin, siteAdmin}
	channels := []string{"/user/contestant", "/user/other", "/contest/c1", "/contest/c1/admin", "/problem/p1", "/contest/c2"}
	types := []string{protocol.TypeRunUpdate, protocol.TypeScoreboardUpdate, protocol.TypeClarification, protocol.TypeContestUpdate}
	for _, p := range principals {
		for _, name := range channels {
			ch := mustChannel(t, name)
			acc := ChannelAccess(p, ch)
			for _, typ := range types {
				for _, user := range []string{"", "contestant", "other"} {
					for _, public := range []bool{false, true} {
						ev := &protocol.Event{Type: typ, Channel: name, User: user, Public: public}
						sees := CanSee(acc, p, ev)
						who := "anonymous"
						if p != nil {
							who = p.User
						}
						// Their own user channel is theirs whatever the event says.
						if p == contestant && name != "/user/contestant" && user == "other" && !public && sees {
							t.Errorf("contestant sees other's private %s on %s", typ, name)
						}
						if p == nil && sees {
							t.Errorf("anonymous sees %s on %s", typ, name)
						}
						if !public && user == "" && sees && acc != AccessAll {
							t.Errorf("%s (%v) sees an ownerless private %s on %s", who, acc, typ, name)
						}
						if acc == AccessAll && !sees {
							t.Errorf("%s with all access misses %s on %s", who, typ, name)
						}
					}
				}
			}
		}
	}
}

func TestScoreboardType(t *testing.T) {
	for typ, want := range map[string]bool{
		protocol.TypeScoreboardUpdate: true,
		protocol.TypeContestUpdate:    true,
		protocol.TypeRunUpdate:        false,
		protocol.TypeClarification:    false,
		"scoreboard":                  false,
		"":                            false,
	} {
		if got := ScoreboardType(typ); got != want {
			t.Errorf("ScoreboardType(%q) = %v, want %v", typ, got, want)
		}
	}
}

func TestAccessString(t *testing.T) {
	for a, want := range map[Access]string{
		AccessNone: "none", AccessScoreboard: "scoreboard", AccessMember: "member", AccessAll: "all", Access(9): "invalid",
	} {
		if got := a.String(); got != want {
			t.Errorf("Access(%d).String() = %q, want %q", a, got, want)
		}
	}
}
