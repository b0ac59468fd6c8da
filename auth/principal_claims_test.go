package auth

import (
	"slices"
	"testing"
)

// TestPrincipalGrantSets checks the grant sets built from claim lists in
// any order and with repeats: membership, and Claims giving them back
// sorted, once each, in slices the principal does not share.
func TestPrincipalGrantSets(t *testing.T) {
	c := &Claims{Contests: []string{"c3", "c1", "c2", "c1"}, ProblemsAdmin: []string{"p1"}}
	c.Subject = "alice"
	p := newPrincipal(c)
	for _, name := range []string{"c1", "c2", "c3"} {
		if !p.Participates(name) {
			t.Errorf("Participates(%q) = false", name)
		}
	}
	if p.Participates("c0") || p.Participates("c4") || p.AdminsContest("c1") || p.ViewsProblem("p1") || !p.AdminsProblem("p1") {
		t.Error("membership outside the lists")
	}
	got := p.Claims()
	if want := []string{"c1", "c2", "c3"}; !slices.Equal(got.Contests, want) {
		t.Fatalf("Claims().Contests = %v, want %v", got.Contests, want)
	}
	if got.ContestsAdmin != nil || got.Problems != nil || !slices.Equal(got.ProblemsAdmin, []string{"p1"}) {
		t.Fatalf("Claims() = %+v", got)
	}
	got.Contests[0] = "x"
	c.Contests[1] = "y"
	if !p.Participates("c1") {
		t.Fatal("the principal shares its set with the claims or with Claims()")
	}
}
