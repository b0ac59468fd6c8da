package auth

import "sort"

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

func (s set) sorted() []string {
	if len(s) == 0 {
		return nil
	}
	out := make([]string, 0, len(s))
	for n := range s {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
