package auth

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerifyRemembers: a user token Verify accepted is remembered (the same
// Principal comes back without a signature check) until its exp or
// UserCacheTTL, after which it is verified again, and refused once past exp
// and the leeway; forged, scoreboard and not-yet-valid tokens are refused
// every time and never remembered; the cache stays within its bound.
func TestVerifyRemembers(t *testing.T) {
	f := fixture()
	now := t0
	v, err := NewVerifier(VerifierOptions{Keys: keySetOf(t, f.ed, f.hs), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	user := func(sub string, life time.Duration) string {
		c := userClaims(sub)
		c.ExpiresAt = jwt.NewNumericDate(t0.Add(life))
		return mint(t, f.ed, c)
	}
	short, long := user("alice", 10*time.Second), user("bob", time.Hour)
	forged := long[:len(long)-4] + "AAAA"
	board := mint(t, f.ed, scoreboardClaims("annual-2024"))
	early := func() string {
		c := userClaims("carol")
		c.NotBefore = jwt.NewNumericDate(t0.Add(5 * time.Minute))
		return mint(t, f.hs, c)
	}()

	// The same signature bytes, the last base64 character's spare bits set:
	// a lenient decoder reads it as the same token.
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(b64, long[len(long)-1])
	respelled := long[:len(long)-1] + string(b64[last^1])

	var first *Principal
	runCacheSteps(t, &now, v.Verify, nil, []cacheStep{
		{"first use verifies", 0, long, "", func(p *Principal) bool { first = p; return true }},
		{"second use is remembered", time.Second, long, "", func(p *Principal) bool { return p == first }},
		{"still remembered just before the TTL", UserCacheTTL - time.Second, long, "", func(p *Principal) bool { return p == first }},
		{"after the TTL it verifies again", UserCacheTTL + time.Second, long, "", func(p *Principal) bool { return p != first }},
		{"forged: the remembered token's payload, another signature", UserCacheTTL + 2*time.Second, forged, ReasonSignature, nil},
		{"forged, again", UserCacheTTL + 3*time.Second, forged, ReasonSignature, nil},
		{"a scoreboard token", 0, board, ReasonClaims, nil},
		{"a scoreboard token, again", time.Second, board, ReasonClaims, nil},
		{"not yet valid", 0, early, ReasonNotYetValid, nil},
		{"valid from its nbf: accepted", 5 * time.Minute, early, "", func(p *Principal) bool { first = p; return true }},
		{"remembered", 6 * time.Minute, early, "", func(p *Principal) bool { return p == first }},
		{"the clock set back before it was verified: not remembered", 0, early, ReasonNotYetValid, nil},
		{"another spelling of the remembered token (its signature's spare bits)", time.Second, respelled, ReasonMalformed, nil},
		{"short-lived", 0, short, "", func(p *Principal) bool { first = p; return true }},
		{"short-lived, remembered before exp", 9 * time.Second, short, "", func(p *Principal) bool { return p == first }},
		{"short-lived, past exp within the leeway: verified again", 11 * time.Second, short, "", func(p *Principal) bool { return p != first }},
		{"short-lived, past the leeway", 41 * time.Second, short, ReasonExpired, nil},
		{"short-lived, past the leeway, again", 42 * time.Second, short, ReasonExpired, nil},
	})
	// Remembered now: long (verified again after the TTL). short expired and
	// early met a clock set back, both dropped when looked up; nothing
	// refused was kept.
	if n := v.users.len(); n != 1 {
		t.Errorf("%d tokens remembered, want 1 (refusals must not be kept)", n)
	}

	// More distinct tokens than the bound (a small one, the mechanism being
	// the same as at userCacheMax): it holds.
	const bound = 64
	v.users.max = bound
	now = t0
	for i := range bound + 50 {
		c := userClaims("u" + strconv.Itoa(i))
		if _, err := v.Verify(mint(t, f.hs, c)); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.users.len(); n == 0 || n > bound {
		t.Fatalf("%d tokens remembered, want 1-%d", n, bound)
	}
}

// cacheStep is one use of a token in a cache test: at a time, the token,
// the refusal wanted ("" accepted), and for an acceptance whether the
// principal came from where it should (cached reports true when it did).
type cacheStep struct {
	name   string
	at     time.Duration // the clock, from t0
	token  string
	want   Reason
	cached func(*Principal) bool
}

// runCacheSteps sets *now and calls verify for each step in order, checking
// the refusal or, for an acceptance, that accepted (when non-nil) holds and
// that the principal came from the right place.
func runCacheSteps(t *testing.T, now *time.Time, verify func(string) (*Principal, error), accepted func(*Principal) bool, steps []cacheStep) {
	t.Helper()
	for _, step := range steps {
		*now = t0.Add(step.at)
		p, err := verify(step.token)
		wantReason(t, err, step.want)
		if step.want != "" {
			if p != nil {
				t.Errorf("%s: refused but returned a principal", step.name)
			}
			continue
		}
		if p == nil || (accepted != nil && !accepted(p)) {
			t.Fatalf("%s: accepted without the right principal: %+v", step.name, p)
		}
		if !step.cached(p) {
			t.Errorf("%s: the principal came from the wrong place (remembered or not)", step.name)
		}
	}
}

// TestTokenCacheFull: inserting into a full cache drops the expired entries
// and keeps the live ones when that frees at least a quarter of the bound,
// and drops everything when it frees less (so a full cache is not scanned
// on every insert).
func TestTokenCacheFull(t *testing.T) {
	const bound = 8
	for _, tc := range []struct {
		name    string
		expired int // of the bound entries, how many are past their time at the insert
		want    int // entries after the insert, the new one included
	}{
		{"a quarter expired: they go, the live stay", 2, bound - 2 + 1},
		{"half expired", 4, bound - 4 + 1},
		{"fewer than a quarter expired: all go", 1, 1},
		{"none expired: all go", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tokenCache[int]{max: bound}
			p := &Principal{User: "u"}
			for i := range bound {
				until := t0.Add(time.Hour)
				if i < tc.expired {
					until = t0.Add(time.Minute)
				}
				c.put(i, p, until, t0)
			}
			now := t0.Add(2 * time.Minute)
			c.put(bound, p, now.Add(time.Hour), now)
			if n := c.len(); n != tc.want {
				t.Fatalf("%d entries after the insert, want %d", n, tc.want)
			}
			if c.get(bound, now) == nil {
				t.Error("the inserted entry is missing")
			}
			if tc.want > 1 && c.get(bound-1, now) == nil {
				t.Error("a live entry was dropped")
			}
		})
	}
}
