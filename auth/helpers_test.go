package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// t0 is the fixed "now" of every test: verifiers get it as their clock and
// tokens are minted relative to it.
var t0 = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

// Issuer and audience the strict test verifier requires.
const (
	testIssuer   = "https://judge.example"
	testAudience = "arenacast"
)

// keyFixture holds one key of each type plus a second EdDSA key for
// rotation tests. Keys are generated once per test binary (RSA generation is
// slow) and never modified afterwards.
type keyFixture struct {
	hmacSecret []byte
	rsaKey     *rsa.PrivateKey
	ecKey      *ecdsa.PrivateKey
	edKey      ed25519.PrivateKey
	ed2Key     ed25519.PrivateKey
	p384Key    *ecdsa.PrivateKey

	hs, rs, es, ed, ed2 *Signer // kids "hs", "rs", "es", "ed", "ed2"
}

var fixture = sync.OnceValue(func() *keyFixture {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	f := &keyFixture{hmacSecret: make([]byte, 32)}
	_, err := rand.Read(f.hmacSecret)
	must(err)
	f.rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	f.ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	_, f.edKey, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	_, f.ed2Key, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	f.p384Key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	f.hs = NewHMACSigner("hs", f.hmacSecret)
	f.rs, err = NewSigner("rs", f.rsaKey)
	must(err)
	f.es, err = NewSigner("es", f.ecKey)
	must(err)
	f.ed, err = NewSigner("ed", f.edKey)
	must(err)
	f.ed2, err = NewSigner("ed2", f.ed2Key)
	must(err)
	return f
})

// keySetOf builds a KeySet verifying what the given signers mint.
func keySetOf(t testing.TB, signers ...*Signer) *KeySet {
	t.Helper()
	ks := NewKeySet()
	for _, s := range signers {
		var err error
		if secret, ok := s.key.([]byte); ok {
			err = ks.AddHMAC(s.kid, secret)
		} else {
			err = ks.AddPublic(s.kid, s.Public())
		}
		if err != nil {
			t.Fatalf("key set: %v", err)
		}
	}
	return ks
}

// newTestVerifier returns a verifier on the fixed clock.
func newTestVerifier(t testing.TB, ks *KeySet, issuer, audience string) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierOptions{Keys: ks, Issuer: issuer, Audience: audience, Now: fixedNow})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// userClaims are valid user claims expiring an hour after t0.
func userClaims(sub string) Claims {
	c := Claims{Contests: []string{"annual-2024"}, ProblemsAdmin: []string{"sum-two"}}
	c.Subject = sub
	c.IssuedAt = jwt.NewNumericDate(t0)
	c.ExpiresAt = jwt.NewNumericDate(t0.Add(time.Hour))
	return c
}

// scoreboardClaims are valid scoreboard claims expiring an hour after t0.
func scoreboardClaims(contest string) Claims {
	c := Claims{Scoreboard: contest}
	c.ExpiresAt = jwt.NewNumericDate(t0.Add(time.Hour))
	return c
}

// mint signs c with s, failing the test on error.
func mint(t testing.TB, s *Signer, c Claims) string {
	t.Helper()
	tok, err := s.Sign(c)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return tok
}

// mintHeader signs c with s after letting edit change the header, for
// tokens Sign never makes (no kid, a kid of the wrong type, ...).
func mintHeader(t testing.TB, s *Signer, c Claims, edit func(h map[string]any)) string {
	t.Helper()
	s.fillIssuer(&c)
	tok := jwt.NewWithClaims(s.method, &c)
	tok.Header["kid"] = s.kid
	edit(tok.Header)
	str, err := tok.SignedString(s.key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return str
}

// rawToken assembles a token from a header and claims with the given
// signature bytes, for algorithms jwt will not sign with.
func rawToken(t testing.TB, header map[string]any, claims any, sig []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(sig)
}

// pkixPEM returns the "PUBLIC KEY" PEM encoding of pub.
func pkixPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// pkcs8PEM returns the "PRIVATE KEY" PEM encoding of priv.
func pkcs8PEM(t testing.TB, priv any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// wantReason fails unless err is an *Error with reason want ("" = no error).
func wantReason(t testing.TB, err error, want Reason) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("got error %q (reason %q), want success", err, ReasonOf(err))
	case want != "" && err == nil:
		t.Fatalf("got success, want reason %q", want)
	case want != "" && ReasonOf(err) != want:
		t.Fatalf("got error %q with reason %q, want reason %q", err, ReasonOf(err), want)
	}
}
