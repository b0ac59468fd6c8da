package auth

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerify(t *testing.T) {
	f := fixture()
	iss := func(s *Signer) *Signer { return s.WithIssuer(testIssuer, testAudience) }
	hs, rs, es, ed, ed2 := iss(f.hs), iss(f.rs), iss(f.es), iss(f.ed), iss(f.ed2)

	// strict requires iss and aud and holds two EdDSA keys (rotation).
	strict := newTestVerifier(t, keySetOf(t, f.hs, f.rs, f.es, f.ed, f.ed2), testIssuer, testAudience)
	// plain checks neither iss nor aud and holds one key per algorithm.
	plain := newTestVerifier(t, keySetOf(t, f.hs, f.rs, f.es, f.ed), "", "")
	// rsaOnly holds only the RSA key, so only RS256 is a valid method.
	rsaOnly := newTestVerifier(t, keySetOf(t, f.rs), "", "")

	withClaims := func(edit func(c *Claims)) Claims {
		c := userClaims("contestant1")
		edit(&c)
		return c
	}
	otherEd, err := NewSigner("ed", f.ed2Key) // right kid, wrong key
	if err != nil {
		t.Fatal(err)
	}
	_, unloaded, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	otherEdUnloaded, err := NewSigner("x", unloaded) // a key no verifier holds
	if err != nil {
		t.Fatal(err)
	}
	// manyHMAC holds more HS256 keys than a token without kid is tried on.
	many := NewKeySet()
	for i := range maxKidlessKeys + 1 {
		if err := many.AddHMAC(string(rune('a'+i)), append([]byte(strings.Repeat("k", 32)), byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := many.AddHMAC("hs", f.hmacSecret); err != nil {
		t.Fatal(err)
	}
	manyHMAC := newTestVerifier(t, many, testIssuer, testAudience)
	tampered := func(tok string) string { // payload swapped for another valid one
		other := mint(t, hs, userClaims("root"))
		p := strings.Split(tok, ".")
		return p[0] + "." + strings.Split(other, ".")[1] + "." + p[2]
	}

	tests := []struct {
		name       string
		v          *Verifier
		token      string
		scoreboard bool   // use VerifyScoreboard
		want       Reason // "" = accepted
		wantIs     error  // when set, errors.Is(err, wantIs) must hold
	}{
		// Accepted, one per algorithm.
		{name: "HS256", v: strict, token: mint(t, hs, userClaims("contestant1"))},
		{name: "RS256", v: strict, token: mint(t, rs, userClaims("contestant1"))},
		{name: "ES256", v: strict, token: mint(t, es, userClaims("contestant1"))},
		{name: "EdDSA", v: strict, token: mint(t, ed, userClaims("contestant1"))},
		{name: "rotation old kid", v: strict, token: mint(t, ed, userClaims("contestant1"))},
		{name: "rotation new kid", v: strict, token: mint(t, ed2, userClaims("contestant1"))},
		{name: "no kid, one key of the alg", v: strict,
			token: mintHeader(t, es, userClaims("contestant1"), func(h map[string]any) { delete(h, "kid") })},
		{name: "no iss/aud configured, token has others", v: plain,
			token: mint(t, f.ed.WithIssuer("elsewhere", "other"), userClaims("contestant1"))},
		{name: "expired within leeway", v: strict,
			token: mint(t, hs, withClaims(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(t0.Add(-10 * time.Second)) }))},
		{name: "nbf within leeway", v: strict,
			token: mint(t, hs, withClaims(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(t0.Add(10 * time.Second)) }))},
		{name: "scoreboard token", v: strict, scoreboard: true, token: mint(t, ed, scoreboardClaims("annual-2024"))},

		// Algorithm confusion and unsigned tokens.
		{name: "alg none", v: strict, want: ReasonAlgorithm,
			token: rawToken(t, map[string]any{"alg": "none", "typ": "JWT"}, userClaims("contestant1"), nil)},
		{name: "alg none with kid", v: strict, want: ReasonAlgorithm,
			token: rawToken(t, map[string]any{"alg": "none", "kid": "hs"}, userClaims("contestant1"), nil)},
		{name: "alg missing", v: strict, want: ReasonAlgorithm,
			token: rawToken(t, map[string]any{"kid": "hs"}, userClaims("contestant1"), []byte("x"))},
		{name: "alg unknown", v: strict, want: ReasonAlgorithm,
			token: rawToken(t, map[string]any{"alg": "XS999", "kid": "hs"}, userClaims("contestant1"), []byte("x"))},
		{name: "HS512 not loaded", v: strict, want: ReasonAlgorithm,
			token: mintHeader(t, hs, userClaims("contestant1"), func(h map[string]any) { h["alg"] = "HS512" })},
		{name: "HS256 keyed with RSA public PEM, kid of RSA key", v: strict, want: ReasonAlgorithm,
			token: mint(t, iss(NewHMACSigner("rs", pkixPEM(t, &f.rsaKey.PublicKey))), userClaims("root"))},
		{name: "HS256 keyed with RSA public PEM, no kid", v: strict, want: ReasonSignature,
			token: mintHeader(t, iss(NewHMACSigner("rs", pkixPEM(t, &f.rsaKey.PublicKey))), userClaims("root"),
				func(h map[string]any) { delete(h, "kid") })},
		{name: "HS256 keyed with RSA public PEM, only RSA loaded", v: rsaOnly, want: ReasonAlgorithm,
			token: mint(t, NewHMACSigner("rs", pkixPEM(t, &f.rsaKey.PublicKey)), userClaims("root"))},
		{name: "HS256 keyed with Ed25519 public key bytes", v: strict, want: ReasonAlgorithm,
			token: mint(t, iss(NewHMACSigner("ed", []byte(f.edKey.Public().(ed25519.PublicKey)))), userClaims("root"))},
		{name: "HS256 keyed with Ed25519 public PEM", v: strict, want: ReasonAlgorithm,
			token: mint(t, iss(NewHMACSigner("ed", pkixPEM(t, f.edKey.Public()))), userClaims("root"))},
		{name: "ES256 header on an EdDSA key", v: strict, want: ReasonAlgorithm,
			token: mintHeader(t, es, userClaims("root"), func(h map[string]any) { h["kid"] = "ed" })},

		// Keys.
		{name: "unknown kid", v: strict, want: ReasonUnknownKey,
			token: mint(t, iss(NewHMACSigner("nope", f.hmacSecret)), userClaims("contestant1"))},
		{name: "no kid, two keys of the alg: the first", v: strict,
			token: mintHeader(t, ed, userClaims("contestant1"), func(h map[string]any) { delete(h, "kid") })},
		{name: "no kid, two keys of the alg: the second (rotation)", v: strict,
			token: mintHeader(t, ed2, userClaims("contestant1"), func(h map[string]any) { delete(h, "kid") })},
		{name: "no kid, two keys of the alg: neither", v: strict, want: ReasonSignature,
			token: mintHeader(t, iss(otherEdUnloaded), userClaims("contestant1"), func(h map[string]any) { delete(h, "kid") })},
		{name: "no kid, too many keys of the alg", v: manyHMAC, want: ReasonUnknownKey,
			token: mintHeader(t, hs, userClaims("contestant1"), func(h map[string]any) { delete(h, "kid") })},
		{name: "kid not a string", v: strict, want: ReasonMalformed,
			token: mintHeader(t, hs, userClaims("contestant1"), func(h map[string]any) { h["kid"] = 7 })},
		{name: "right kid, wrong key", v: strict, want: ReasonSignature,
			token: mint(t, iss(otherEd), userClaims("contestant1"))},
		{name: "tampered payload", v: strict, want: ReasonSignature,
			token: tampered(mint(t, ed, userClaims("contestant1")))},

		// Time.
		{name: "expired", v: strict, want: ReasonExpired, wantIs: jwt.ErrTokenExpired,
			token: mint(t, hs, withClaims(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(t0.Add(-time.Minute)) }))},
		{name: "not yet valid", v: strict, want: ReasonNotYetValid, wantIs: jwt.ErrTokenNotValidYet,
			token: mint(t, hs, withClaims(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(t0.Add(5 * time.Minute)) }))},
		{name: "issued in the future", v: strict, want: ReasonNotYetValid, wantIs: jwt.ErrTokenUsedBeforeIssued,
			token: mint(t, hs, withClaims(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(t0.Add(5 * time.Minute)) }))},
		{name: "missing exp", v: strict, want: ReasonClaims, wantIs: jwt.ErrTokenRequiredClaimMissing,
			token: mint(t, hs, withClaims(func(c *Claims) { c.ExpiresAt = nil }))},
		{name: "scoreboard missing exp", v: strict, scoreboard: true, want: ReasonClaims,
			token: mint(t, hs, Claims{Scoreboard: "annual-2024"})},

		// Issuer and audience.
		{name: "wrong issuer", v: strict, want: ReasonIssuer, wantIs: jwt.ErrTokenInvalidIssuer,
			token: mint(t, f.hs.WithIssuer("https://evil.example", testAudience), userClaims("contestant1"))},
		{name: "missing issuer", v: strict, want: ReasonIssuer,
			token: mint(t, f.hs.WithIssuer("", testAudience), userClaims("contestant1"))},
		{name: "wrong audience", v: strict, want: ReasonAudience, wantIs: jwt.ErrTokenInvalidAudience,
			token: mint(t, f.hs.WithIssuer(testIssuer, "someone-else"), userClaims("contestant1"))},
		{name: "missing audience", v: strict, want: ReasonAudience,
			token: mint(t, f.hs.WithIssuer(testIssuer), userClaims("contestant1"))},
		{name: "audience among several", v: strict,
			token: mint(t, f.hs.WithIssuer(testIssuer, "x", testAudience), userClaims("contestant1"))},

		// Not a token.
		{name: "empty", v: strict, want: ReasonMalformed, token: ""},
		{name: "garbage", v: strict, want: ReasonMalformed, token: "not a token"},
		{name: "three garbage segments", v: strict, want: ReasonMalformed, token: "a.b.c"},
		{name: "four segments", v: strict, want: ReasonMalformed, token: mint(t, hs, userClaims("contestant1")) + ".x"},
		{name: "claims not JSON", v: strict, want: ReasonMalformed,
			token: "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzIn0.bm90IGpzb24.c2ln"},
		{name: "contests of wrong type", v: strict, want: ReasonMalformed,
			token: rawToken(t, map[string]any{"alg": "HS256", "kid": "hs"}, map[string]any{"sub": "u", "contests": "c1"}, []byte("x"))},
		{name: "too long", v: strict, want: ReasonMalformed, token: strings.Repeat("a", maxTokenLen+1)},

		// Arenacast's claim rules.
		{name: "sub and scoreboard", v: strict, want: ReasonClaims,
			token: mint(t, hs, withClaims(func(c *Claims) { c.Scoreboard = "annual-2024" }))},
		{name: "sub and scoreboard as scoreboard", v: strict, scoreboard: true, want: ReasonClaims,
			token: mint(t, hs, withClaims(func(c *Claims) { c.Scoreboard = "annual-2024" }))},
		{name: "sub missing", v: strict, want: ReasonClaims, token: mint(t, hs, withClaims(func(c *Claims) { c.Subject = "" }))},
		{name: "sub invalid", v: strict, want: ReasonClaims, token: mint(t, hs, withClaims(func(c *Claims) { c.Subject = "bad user" }))},
		{name: "sub too long", v: strict, want: ReasonClaims,
			token: mint(t, hs, withClaims(func(c *Claims) { c.Subject = strings.Repeat("u", 65) }))},
		{name: "contest name invalid", v: strict, want: ReasonClaims,
			token: mint(t, hs, withClaims(func(c *Claims) { c.Contests = []string{"ok", "../etc"} }))},
		{name: "contests_admin name empty", v: strict, want: ReasonClaims,
			token: mint(t, hs, withClaims(func(c *Claims) { c.ContestsAdmin = []string{""} }))},
		{name: "problems name invalid", v: strict, want: ReasonClaims,
			token: mint(t, hs, withClaims(func(c *Claims) { c.Problems = []string{"a/b"} }))},
		{name: "problems_admin name invalid", v: strict, want: ReasonClaims,
			token: mint(t, hs, withClaims(func(c *Claims) { c.ProblemsAdmin = []string{"é"} }))},
		{name: "scoreboard token as user token", v: strict, want: ReasonClaims,
			token: mint(t, ed, scoreboardClaims("annual-2024"))},
		{name: "user token as scoreboard token", v: strict, scoreboard: true, want: ReasonClaims,
			token: mint(t, ed, userClaims("contestant1"))},
		{name: "scoreboard alias invalid", v: strict, scoreboard: true, want: ReasonClaims,
			token: mint(t, ed, scoreboardClaims("annual 2024"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.scoreboard {
				var contest string
				var exp time.Time
				contest, exp, err = tt.v.VerifyScoreboard(tt.token)
				if err == nil && (contest != "annual-2024" || !exp.Equal(t0.Add(time.Hour))) {
					t.Errorf("VerifyScoreboard = %q, %v; want annual-2024, %v", contest, exp, t0.Add(time.Hour))
				}
			} else {
				var p *Principal
				p, err = tt.v.Verify(tt.token)
				if err == nil && (p.User != "contestant1" || !p.Participates("annual-2024")) {
					t.Errorf("Verify = %+v; want contestant1 in annual-2024", p)
				}
			}
			wantReason(t, err, tt.want)
			if err == nil {
				return
			}
			t.Logf("refused: %v", err)
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			// The error text is for clients and logs: never any part of the token.
			for _, seg := range strings.Split(tt.token, ".") {
				if len(seg) >= 8 && strings.Contains(err.Error(), seg) {
					t.Errorf("error text %q contains a token segment", err)
				}
			}
		})
	}
}

func TestVerifyPrincipal(t *testing.T) {
	f := fixture()
	v := newTestVerifier(t, keySetOf(t, f.ed), "", "")
	c := Claims{
		SiteAdmin:     true,
		Publish:       true,
		Contests:      []string{"c1", "c2"},
		ContestsAdmin: []string{"c3"},
		Problems:      []string{"p1"},
		ProblemsAdmin: []string{"p2"},
	}
	c.Subject = "john.doe"
	tok, err := f.ed.UserToken(c, 90*time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.User != "john.doe" || !p.SiteAdmin || !p.Publish || !p.Expires.Equal(t0.Add(90*time.Minute)) {
		t.Errorf("principal = %+v", p)
	}
	for _, tt := range []struct {
		name string
		got  bool
		want bool
	}{
		{"participates c1", p.Participates("c1"), true},
		{"participates c2", p.Participates("c2"), true},
		{"participates c3 (admin only)", p.Participates("c3"), false},
		{"admins c3", p.AdminsContest("c3"), true},
		{"admins c1", p.AdminsContest("c1"), false},
		{"views p1", p.ViewsProblem("p1"), true},
		{"views p2 (admin only)", p.ViewsProblem("p2"), false},
		{"admins p2", p.AdminsProblem("p2"), true},
		{"admins p1", p.AdminsProblem("p1"), false},
		{"case-sensitive", p.Participates("C1"), false},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	var anon *Principal
	if anon.Participates("c1") || anon.AdminsContest("c1") || anon.ViewsProblem("p1") || anon.AdminsProblem("p1") {
		t.Error("a nil principal has grants")
	}
}

func TestNewVerifier(t *testing.T) {
	f := fixture()
	for _, tt := range []struct {
		name string
		o    VerifierOptions
		want string // substring of the error; "" = success
	}{
		{"nil keys", VerifierOptions{}, "no verification keys"},
		{"empty keys", VerifierOptions{Keys: NewKeySet()}, "no verification keys"},
		{"negative leeway", VerifierOptions{Keys: keySetOf(t, f.hs), Leeway: -time.Second}, "leeway"},
		{"defaults", VerifierOptions{Keys: keySetOf(t, f.hs)}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(tt.o)
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("NewVerifier error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestVerifierLeeway(t *testing.T) {
	f := fixture()
	tok := mint(t, f.hs, func() Claims {
		c := userClaims("u")
		c.ExpiresAt = jwt.NewNumericDate(t0.Add(-45 * time.Second))
		return c
	}())
	for _, tt := range []struct {
		leeway time.Duration
		want   Reason
	}{
		{0, ReasonExpired}, // default 30 s
		{time.Second, ReasonExpired},
		{time.Minute, ""},
	} {
		v, err := NewVerifier(VerifierOptions{Keys: keySetOf(t, f.hs), Leeway: tt.leeway, Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(tok)
		wantReason(t, err, tt.want)
	}
}

// TestVerifierSnapshot checks that a key added to the set after NewVerifier
// does not change what the verifier accepts.
func TestVerifierSnapshot(t *testing.T) {
	f := fixture()
	ks := keySetOf(t, f.hs)
	v := newTestVerifier(t, ks, "", "")
	if err := ks.AddPublic(f.ed.Kid(), f.ed.Public()); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(mint(t, f.ed, userClaims("u")))
	wantReason(t, err, ReasonAlgorithm)
}

func TestVerifyConcurrent(t *testing.T) {
	f := fixture()
	v := newTestVerifier(t, keySetOf(t, f.hs, f.es, f.ed), "", "")
	toks := []string{mint(t, f.hs, userClaims("a")), mint(t, f.es, userClaims("b")), mint(t, f.ed, userClaims("c"))}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				if _, err := v.Verify(toks[(i+j)%len(toks)]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestReasonOf(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want Reason
	}{
		{"nil", nil, ""},
		{"other error", errors.New("x"), ""},
		{"error", refuse(ReasonExpired, ""), ReasonExpired},
		{"wrapped", errors.Join(errors.New("x"), refuse(ReasonIssuer, "")), ReasonIssuer},
	} {
		if got := ReasonOf(tt.err); got != tt.want {
			t.Errorf("%s: ReasonOf = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := refuse(ReasonClaims, "sub is missing").Error(); got != "bad token claims: sub is missing" {
		t.Errorf("Error() = %q", got)
	}
}
