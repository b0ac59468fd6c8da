package broadcaster

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

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

// Issue mints a ticket carrying p's grants. The ticket keeps the token's
// own expiry (exp) and issue time (iat, so revocations apply to it as to
// the token), and records its own issue time as nbf: a ticket may start
// streams only within the ticket TTL after nbf, and a stream started with
// it lives as long as the token would.
func (t *HMACTickets) Issue(p *auth.Principal) (string, time.Time, error) {
	now := t.now()
	c := p.Claims()
	c.ExpiresAt = jwt.NewNumericDate(p.Expires)
	if !p.IssuedAt.IsZero() {
		c.IssuedAt = jwt.NewNumericDate(p.IssuedAt)
	}
	c.NotBefore = jwt.NewNumericDate(now)
	tok, err := t.signer.Sign(c)
	if err != nil {
		return "", time.Time{}, err
	}
	until := now.Add(t.ttl)
	if p.Expires.Before(until) {
		until = p.Expires
	}
	return tok, until.Truncate(time.Second), nil
}

// errTicketExpired refuses a ticket used after its start window.
var errTicketExpired = errors.New("ticket expired: request a new one")

// Verify checks a ticket and returns the principal it stands for.
func (t *HMACTickets) Verify(ticket string) (*auth.Principal, error) {
	p, err := t.verifier.Verify(ticket)
	if err != nil {
		return nil, err
	}
	// The signature is verified: read the ticket's own issue time (nbf).
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(ticket, &c); err != nil || c.NotBefore == nil {
		return nil, errTicketExpired
	}
	if t.now().After(c.NotBefore.Add(t.ttl)) {
		return nil, errTicketExpired
	}
	return p, nil
}
