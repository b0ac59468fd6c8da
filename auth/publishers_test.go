package auth

import (
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerifyPublisher: a publisher token is accepted and then remembered
// (the same Principal comes back) until its exp or PublisherCacheTTL, after
// which it is verified again, and refused once past exp and the leeway;
// tokens without the publish claim, and bad ones, are refused and never
// remembered; the cache stays within its bound.
func TestVerifyPublisher(t *testing.T) {
	f := fixture()
	now := t0
	v, err := NewVerifier(VerifierOptions{Keys: keySetOf(t, f.ed, f.hs), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	publisher := func(sub string, life time.Duration) string {
		c := userClaims(sub)
		c.Publish = true
		c.ExpiresAt = jwt.NewNumericDate(t0.Add(life))
		return mint(t, f.ed, c)
	}
	short, long := publisher("grader", 10*time.Second), publisher("grader", time.Hour)
	plain := mint(t, f.ed, userClaims("contestant"))
	forged := long[:len(long)-4] + "AAAA"

	var first *Principal
	runCacheSteps(t, &now, v.VerifyPublisher, func(p *Principal) bool { return p.Publish }, []cacheStep{
		{"first use verifies", 0, long, "", func(p *Principal) bool { first = p; return true }},
		{"second use is remembered", time.Second, long, "", func(p *Principal) bool { return p == first }},
		{"after the TTL it verifies again", PublisherCacheTTL + 2*time.Second, long, "", func(p *Principal) bool { return p != first }},
		{"no publish claim", 0, plain, ReasonClaims, nil},
		{"no publish claim, again", time.Second, plain, ReasonClaims, nil},
		{"forged", 0, forged, ReasonSignature, nil},
		{"short-lived", 0, short, "", func(p *Principal) bool { first = p; return true }},
		{"short-lived, remembered before exp", 9 * time.Second, short, "", func(p *Principal) bool { return p == first }},
		{"short-lived, past exp within the leeway: verified again", 11 * time.Second, short, "", func(p *Principal) bool { return p != first }},
		{"short-lived, past the leeway", 41 * time.Second, short, ReasonExpired, nil},
	})
	v.publishers.mu.Lock()
	for tok := range v.publishers.entries {
		if tok == plain || tok == forged {
			t.Error("a refused token was remembered")
		}
	}
	v.publishers.mu.Unlock()

	// More distinct publishers than the bound: it holds.
	now = t0
	for i := range publisherCacheMax + 50 {
		if _, err := v.VerifyPublisher(publisher("p"+strconv.Itoa(i), time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	v.publishers.mu.Lock()
	n := len(v.publishers.entries)
	v.publishers.mu.Unlock()
	if n == 0 || n > publisherCacheMax {
		t.Fatalf("%d tokens remembered, want 1-%d", n, publisherCacheMax)
	}
}
