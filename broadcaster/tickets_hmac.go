package broadcaster

import (
	"errors"
	"time"

	"github.com/arenacast/arenacast/auth"
)

// ticketKid and ticketAudience mark tickets so that they verify only as
// tickets: the ticket key is never in the user-token key set, and the
// audience keeps a ticket from passing as anything else.
const (
	ticketKid      = "arenacast-ticket"
	ticketAudience = "arenacast-sse-ticket"
)

// HMACTickets are tickets signed with a secret every node shares (natsbus
// keeps it in a NATS key-value bucket), so a ticket from one node works on
// every node without a lookup.
type HMACTickets struct {
	signer   *auth.Signer
	verifier *auth.Verifier
	ttl      time.Duration
	now      func() time.Time
}

var _ Tickets = (*HMACTickets)(nil)

// NewHMACTickets returns tickets valid for ttl (capped by the token's own
// expiry), signed with secret (at least 32 bytes).
func NewHMACTickets(secret []byte, ttl time.Duration, now func() time.Time) (*HMACTickets, error) {
	if len(secret) < 32 {
		return nil, errors.New("ticket secret must be at least 32 bytes")
	}
	if now == nil {
		now = time.Now
	}
	keys := auth.NewKeySet()
	if err := keys.AddHMAC(ticketKid, secret); err != nil {
		return nil, err
	}
	v, err := auth.NewVerifier(auth.VerifierOptions{Keys: keys, Audience: ticketAudience, Leeway: time.Second, Now: now})
	if err != nil {
		return nil, err
	}
	return &HMACTickets{
		signer:   auth.NewHMACSigner(ticketKid, secret).WithIssuer("", ticketAudience),
		verifier: v, ttl: ttl, now: now,
	}, nil
}

// Issue mints a ticket carrying p's grants.
func (t *HMACTickets) Issue(p *auth.Principal) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(t.ttl)
	if !p.Expires.IsZero() && p.Expires.Before(exp) {
		exp = p.Expires
	}
	tok, err := t.signer.UserToken(p.Claims(), exp.Sub(now), now)
	if err != nil {
		return "", time.Time{}, err
	}
	return tok, exp.Truncate(time.Second), nil
}

// Verify checks a ticket and returns the principal it stands for.
func (t *HMACTickets) Verify(ticket string) (*auth.Principal, error) {
	return t.verifier.Verify(ticket)
}
