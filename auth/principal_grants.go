package auth

import (
	"errors"
	"time"

	"github.com/arenacast/arenacast/protocol"
)

// Grants are what an adapter learned about a connection from somewhere else
// than a JWT: broadcaster/legacy asks the platform (omegaUp's
// validateFilter) who a connection is and what it may see. They carry the
// same grant lists as Claims.
type Grants struct {
	// User is the username; empty for an anonymous connection, which then
	// sees only public events of the channels it is granted.
	User          string
	SiteAdmin     bool
	Contests      []string
	ContestsAdmin []string
	Problems      []string
	ProblemsAdmin []string
	// IssuedAt stands for a token's iat: revocations made at or after it
	// void the principal. Adapters set it to when the grants were decided.
	IssuedAt time.Time
}

// NewPrincipal builds the principal of grants decided outside a JWT, so that
// the one policy (ChannelAccess, CanSee) and revocations apply to it as to a
// verified token. Every name must be valid; User may be empty (anonymous).
// The principal never expires (Expires is zero) and is no publisher.
func NewPrincipal(g Grants) (*Principal, error) {
	if g.User != "" && !protocol.ValidName(g.User) {
		return nil, errors.New("auth: grants: user is not a valid username")
	}
	for _, l := range [][]string{g.Contests, g.ContestsAdmin, g.Problems, g.ProblemsAdmin} {
		for _, n := range l {
			if !protocol.ValidName(n) {
				return nil, errors.New("auth: grants: a grant list holds an invalid name")
			}
		}
	}
	p := newPrincipal(&Claims{
		SiteAdmin: g.SiteAdmin, Contests: g.Contests, ContestsAdmin: g.ContestsAdmin,
		Problems: g.Problems, ProblemsAdmin: g.ProblemsAdmin,
	})
	p.User = g.User
	p.IssuedAt = g.IssuedAt
	return p, nil
}
