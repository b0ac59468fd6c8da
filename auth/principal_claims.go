package auth

import "slices"

// Claims returns the grants of p as claims (subject and lists; no times,
// issuer or audience), so that another token, such as an SSE ticket, can
// carry exactly the same grants.
func (p *Principal) Claims() Claims {
	c := Claims{
		SiteAdmin:     p.SiteAdmin,
		Publish:       p.Publish,
		Contests:      p.contests.sorted(),
		ContestsAdmin: p.contestsAdmin.sorted(),
		Problems:      p.problems.sorted(),
		ProblemsAdmin: p.problemsAdmin.sorted(),
	}
	c.Subject = p.User
	return c
}

// sorted returns the names in order, as a slice of the caller's own.
func (s set) sorted() []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone([]string(s))
}
