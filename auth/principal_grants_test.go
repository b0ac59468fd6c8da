package auth_test

import (
	"testing"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

func TestNewPrincipal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		g       auth.Grants
		ch      string
		want    auth.Access
		wantErr bool
	}{
		{"participant", auth.Grants{User: "ann", Contests: []string{"c1"}}, "/contest/c1", auth.AccessMember, false},
		{"anonymous member", auth.Grants{Contests: []string{"c1"}}, "/contest/c1", auth.AccessMember, false},
		{"anonymous has no user channel", auth.Grants{}, "/user/ann", auth.AccessNone, false},
		{"contest admin", auth.Grants{User: "ann", ContestsAdmin: []string{"c1"}}, "/contest/c1/admin", auth.AccessAll, false},
		{"problem admin", auth.Grants{User: "ann", ProblemsAdmin: []string{"p"}}, "/problem/p", auth.AccessAll, false},
		{"site admin", auth.Grants{User: "root", SiteAdmin: true}, "/contest/any", auth.AccessAll, false},
		{"not granted", auth.Grants{User: "ann", Contests: []string{"c1"}}, "/contest/c2", auth.AccessNone, false},
		{"bad user", auth.Grants{User: "a b"}, "", 0, true},
		{"bad alias", auth.Grants{User: "ann", Contests: []string{"x/y"}}, "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := auth.NewPrincipal(tc.g)
			if tc.wantErr {
				if err == nil {
					t.Fatal("NewPrincipal accepted invalid grants")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ch, err := protocol.ParseChannel(tc.ch)
			if err != nil {
				t.Fatal(err)
			}
			if got := auth.ChannelAccess(p, ch); got != tc.want {
				t.Fatalf("ChannelAccess(%s) = %v, want %v", tc.ch, got, tc.want)
			}
		})
	}
	// An anonymous member sees public events only.
	p, _ := auth.NewPrincipal(auth.Grants{Contests: []string{"c1"}})
	if auth.CanSee(auth.AccessMember, p, &protocol.Event{Type: "run_update", Channel: "/contest/c1"}) {
		t.Fatal("anonymous member saw a private event with no user")
	}
	if !auth.CanSee(auth.AccessMember, p, &protocol.Event{Type: "run_update", Channel: "/contest/c1", Public: true}) {
		t.Fatal("anonymous member missed a public event")
	}
}
