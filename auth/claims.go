package auth

import (
	"slices"
	"time"

	"github.com/arenacast/arenacast/protocol"
	"github.com/golang-jwt/jwt/v5"
)

// Claims are the JWT claims Arenacast reads, and writes when it mints
// tokens. A user token has sub and the grant lists; a scoreboard token has
// only scoreboard and exp (plus iss and aud when configured). docs/protocol.md
// section 3 is the contract.
type Claims struct {
	jwt.RegisteredClaims
	// SiteAdmin grants every channel.
	SiteAdmin bool `json:"site_admin,omitempty"`
	// Contests lists the contests the user participates in.
	Contests []string `json:"contests,omitempty"`
	// ContestsAdmin lists the contests the user administers.
	ContestsAdmin []string `json:"contests_admin,omitempty"`
	// Problems lists the problems the user may view.
	Problems []string `json:"problems,omitempty"`
	// ProblemsAdmin lists the problems the user administers.
	ProblemsAdmin []string `json:"problems_admin,omitempty"`
	// Publish makes the token a publisher credential for POST /publish.
	Publish bool `json:"publish,omitempty"`
	// Scoreboard is the contest alias of a scoreboard token; it is set only on
	// scoreboard tokens and makes a token unusable as a user token.
	Scoreboard string `json:"scoreboard,omitempty"`
}

// validateUser checks the rules of a user token beyond what jwt checks: a
// valid sub, no scoreboard claim, and valid names in every grant list. The
// same check guards minting, so Arenacast never mints what it would refuse.
func (c *Claims) validateUser() *Error {
	if c.Scoreboard != "" && c.Subject != "" {
		return refuse(ReasonClaims, "token has both sub and scoreboard")
	}
	if c.Scoreboard != "" {
		return refuse(ReasonClaims, "a scoreboard token is not a user token")
	}
	if c.Subject == "" {
		return refuse(ReasonClaims, "sub is missing")
	}
	if !protocol.ValidName(c.Subject) {
		return refuse(ReasonClaims, "sub is not a valid username")
	}
	for _, l := range []struct {
		claim string
		names []string
	}{
		{"contests", c.Contests},
		{"contests_admin", c.ContestsAdmin},
		{"problems", c.Problems},
		{"problems_admin", c.ProblemsAdmin},
	} {
		for _, n := range l.names {
			if !protocol.ValidName(n) {
				return refuse(ReasonClaims, l.claim+" holds an invalid name")
			}
		}
	}
	return nil
}

// validateScoreboard checks the rules of a scoreboard token: a valid alias
// in scoreboard, no sub, and an exp (jwt already requires it; checked again
// because the caller relies on it).
func (c *Claims) validateScoreboard() *Error {
	if c.Scoreboard != "" && c.Subject != "" {
		return refuse(ReasonClaims, "token has both sub and scoreboard")
	}
	if c.Subject != "" {
		return refuse(ReasonClaims, "a user token is not a scoreboard token")
	}
	if c.Scoreboard == "" {
		return refuse(ReasonClaims, "scoreboard is missing")
	}
	if !protocol.ValidName(c.Scoreboard) {
		return refuse(ReasonClaims, "scoreboard is not a valid contest alias")
	}
	if c.ExpiresAt == nil {
		return refuse(ReasonClaims, "exp is missing")
	}
	return nil
}

// Principal is who an authenticated connection is and what its token grants.
// It is immutable after Verify returns it, so it may be shared between
// goroutines. A nil *Principal is anonymous: every method reports false.
type Principal struct {
	// User is the token's sub: a valid username.
	User string
	// SiteAdmin grants every channel.
	SiteAdmin bool
	// Publish allows POST /publish.
	Publish bool
	// Expires is the token's exp; the connection must refresh before then.
	Expires time.Time
	// IssuedAt is the token's iat (zero when absent). Revocations void the
	// tokens issued at or before their time.
	IssuedAt time.Time

	contests      set
	contestsAdmin set
	problems      set
	problemsAdmin set
}

// newPrincipal builds the Principal of validated user claims.
func newPrincipal(c *Claims) *Principal {
	p := &Principal{
		User:          c.Subject,
		SiteAdmin:     c.SiteAdmin,
		Publish:       c.Publish,
		contests:      newSet(c.Contests),
		contestsAdmin: newSet(c.ContestsAdmin),
		problems:      newSet(c.Problems),
		problemsAdmin: newSet(c.ProblemsAdmin),
	}
	if c.ExpiresAt != nil {
		p.Expires = c.ExpiresAt.Time
	}
	if c.IssuedAt != nil {
		p.IssuedAt = c.IssuedAt.Time
	}
	return p
}

// Participates reports whether the token lists contest in "contests".
// It does not consider admin grants; ChannelAccess combines them.
func (p *Principal) Participates(contest string) bool {
	return p != nil && p.contests.has(contest)
}

// AdminsContest reports whether the token lists contest in "contests_admin".
func (p *Principal) AdminsContest(contest string) bool {
	return p != nil && p.contestsAdmin.has(contest)
}

// ViewsProblem reports whether the token lists problem in "problems".
func (p *Principal) ViewsProblem(problem string) bool {
	return p != nil && p.problems.has(problem)
}

// AdminsProblem reports whether the token lists problem in "problems_admin".
func (p *Principal) AdminsProblem(problem string) bool {
	return p != nil && p.problemsAdmin.has(problem)
}

// set is a read-only set of names: sorted, without duplicates. A sorted
// slice rather than a map because every authenticated connection keeps its
// principal: a one-name map costs ~200 bytes, the slice 16, and the lists
// in tokens are short enough that a binary search is as fast.
type set []string

func newSet(names []string) set {
	if len(names) == 0 {
		return nil
	}
	s := slices.Clone(names)
	slices.Sort(s)
	return slices.Compact(s)
}

func (s set) has(name string) bool {
	_, ok := slices.BinarySearch(s, name)
	return ok
}
