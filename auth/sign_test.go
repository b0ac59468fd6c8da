package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arenacast/arenacast/protocol"
)

// header decodes the JOSE header of a compact token.
func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// payload decodes the claims of a compact token as a generic map.
func payload(t *testing.T, tok string) map[string]any {
	t.Helper()
	seg := strings.Split(tok, ".")[1]
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestScoreboardTokenLength checks that scoreboard tokens fit in a channel
// name for EdDSA, ES256 and HS256 keys with a 16-character kid, up to
// 64-byte aliases, and that they verify.
func TestScoreboardTokenLength(t *testing.T) {
	f := fixture()
	const kid = "0123456789abcdef" // 16 characters, the longest the bound promises
	hs := NewHMACSigner(kid, f.hmacSecret)
	es, err := NewSigner(kid, f.ecKey)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := NewSigner(kid, f.edKey)
	if err != nil {
		t.Fatal(err)
	}
	aliases := []struct {
		alias string
		// kidKept: whether the token keeps its kid with a 64-byte signature
		// (EdDSA, ES256). HS256's 32-byte MAC leaves room for it always.
		kidKept bool
	}{
		{"a", true},
		{"annual-2024", true},
		{"icpc-world-finals-2024.practice", true},
		{strings.Repeat("x", 42), true},  // the longest alias that keeps a 16-char kid
		{strings.Repeat("x", 43), false}, // from here the kid is dropped
		{strings.Repeat("a", protocol.MaxNameLen), false},
	}
	for _, s := range []*Signer{ed, es, hs} {
		v := newTestVerifier(t, keySetOf(t, s), "", "")
		for _, a := range aliases {
			t.Run(fmt.Sprintf("%s/%d", s.method.Alg(), len(a.alias)), func(t *testing.T) {
				tok, err := s.ScoreboardToken(a.alias, 24*time.Hour, t0)
				if err != nil {
					t.Fatal(err)
				}
				if len(tok) > MaxScoreboardTokenLen {
					t.Fatalf("token is %d bytes, over %d", len(tok), MaxScoreboardTokenLen)
				}
				ch, err := protocol.ParseChannel("/scoreboard/" + tok)
				if err != nil || ch.Kind != protocol.KindScoreboard || ch.Name != tok {
					t.Fatalf("ParseChannel = %+v, %v", ch, err)
				}
				h := header(t, tok)
				if _, typ := h["typ"]; typ {
					t.Errorf("header has typ: %v", h)
				}
				wantKid := a.kidKept || s.method.Alg() == algHS256
				if _, hasKid := h["kid"]; hasKid != wantKid {
					t.Errorf("header %v: kid present = %v, want %v", h, hasKid, wantKid)
				}
				if p := payload(t, tok); len(p) != 2 || p["scoreboard"] != a.alias || p["exp"] == nil {
					t.Errorf("claims = %v, want only scoreboard and exp", p)
				}
				contest, exp, err := v.VerifyScoreboard(tok)
				if err != nil || contest != a.alias || !exp.Equal(t0.Add(24*time.Hour)) {
					t.Fatalf("VerifyScoreboard = %q, %v, %v", contest, exp, err)
				}
			})
		}
	}
	// A kid-less token still verifies while two keys of its algorithm are
	// loaded (a rotation): each is tried.
	tok, err := ed.ScoreboardToken(strings.Repeat("a", 64), time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, hasKid := header(t, tok)["kid"]; hasKid {
		t.Fatalf("a 64-byte alias kept its kid; this check needs a kid-less token")
	}
	for _, keys := range [][]*Signer{{ed, f.ed2}, {f.ed2, ed}} {
		if contest, _, err := newTestVerifier(t, keySetOf(t, keys...), "", "").VerifyScoreboard(tok); err != nil || contest != strings.Repeat("a", 64) {
			t.Fatalf("during a rotation: VerifyScoreboard = %q, %v", contest, err)
		}
	}
}

func TestScoreboardToken(t *testing.T) {
	f := fixture()
	tests := []struct {
		name    string
		s       *Signer
		contest string
		ttl     time.Duration
		want    string // substring of the error; "" = success
	}{
		{"EdDSA", f.ed, "annual-2024", time.Hour, ""},
		{"with issuer", f.ed.WithIssuer(testIssuer, testAudience), "annual-2024", time.Hour, ""},
		{"RS256 too long", f.rs, "a", time.Hour, "over the 244"},
		{"issuer too long", f.ed.WithIssuer(strings.Repeat("i", 100)), "annual-2024", time.Hour, "over the 244"},
		{"bad alias", f.ed, "annual 2024", time.Hour, "not a valid alias"},
		{"empty alias", f.ed, "", time.Hour, "not a valid alias"},
		{"zero ttl", f.ed, "annual-2024", 0, "ttl must be positive"},
	}
	v := newTestVerifier(t, keySetOf(t, f.ed, f.rs), testIssuer, testAudience)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tt.s.ScoreboardToken(tt.contest, tt.ttl, t0)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = v.VerifyScoreboard(tok)
			if tt.s.iss == "" {
				wantReason(t, err, ReasonIssuer) // v requires iss
			} else {
				wantReason(t, err, "")
			}
		})
	}
}

func TestUserToken(t *testing.T) {
	f := fixture()
	v := newTestVerifier(t, keySetOf(t, f.hs, f.rs, f.es, f.ed), testIssuer, testAudience)
	for _, s := range []*Signer{f.hs, f.rs, f.es, f.ed} {
		t.Run(s.method.Alg(), func(t *testing.T) {
			c := Claims{Contests: []string{"c1"}, Publish: true}
			c.Subject = "contestant1"
			tok, err := s.WithIssuer(testIssuer, testAudience).UserToken(c, time.Hour, t0.Add(-time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if h := header(t, tok); h["kid"] != s.Kid() || h["alg"] != s.method.Alg() {
				t.Errorf("header = %v", h)
			}
			p, err := v.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			if p.User != "contestant1" || !p.Publish || !p.Participates("c1") || !p.Expires.Equal(t0.Add(59*time.Minute)) {
				t.Errorf("principal = %+v", p)
			}
		})
	}
	for _, tt := range []struct {
		name string
		edit func(c *Claims)
		ttl  time.Duration
		want string
	}{
		{"zero ttl", func(c *Claims) {}, 0, "ttl must be positive"},
		{"no sub", func(c *Claims) { c.Subject = "" }, time.Hour, "sub is missing"},
		{"bad sub", func(c *Claims) { c.Subject = "a b" }, time.Hour, "sub is not a valid username"},
		{"scoreboard", func(c *Claims) { c.Scoreboard = "c1" }, time.Hour, "both sub and scoreboard"},
		{"bad contest", func(c *Claims) { c.Contests = []string{"a/b"} }, time.Hour, "contests holds an invalid name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Claims{}
			c.Subject = "u"
			tt.edit(&c)
			_, err := f.ed.UserToken(c, tt.ttl, t0)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSignerWithIssuer(t *testing.T) {
	f := fixture()
	s := f.ed.WithIssuer("iss", "aud1", "aud2")
	if f.ed.iss != "" || f.ed.aud != nil {
		t.Error("WithIssuer changed the original signer")
	}
	c := userClaims("u")
	p := payload(t, mint(t, s, c))
	if p["iss"] != "iss" || fmt.Sprint(p["aud"]) != "[aud1 aud2]" {
		t.Errorf("claims = %v", p)
	}
	c.Issuer = "explicit"
	if p := payload(t, mint(t, s, c)); p["iss"] != "explicit" {
		t.Errorf("claims iss overridden: %v", p)
	}
}

// fakeSigner is a crypto.Signer of a key type Arenacast does not sign with.
type fakeSigner struct{ pub crypto.PublicKey }

func (f fakeSigner) Public() crypto.PublicKey { return f.pub }
func (fakeSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, fmt.Errorf("fake")
}

func TestNewSigner(t *testing.T) {
	f := fixture()
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		kid  string
		priv crypto.Signer
		want string // substring of the error; "" = success with that alg
		alg  string
	}{
		{"rsa", "k", f.rsaKey, "", algRS256},
		{"ecdsa", "k", f.ecKey, "", algES256},
		{"ed25519", "k", f.edKey, "", algEdDSA},
		{"ed25519 pointer", "k", &f.edKey, "", algEdDSA},
		{"ed25519 opaque signer", "k", fakeSigner{f.edKey.Public()}, "", algEdDSA},
		{"empty kid", "", f.edKey, "must not be empty", ""},
		{"rsa 1024", "k", rsa1024, "1024 bits", ""},
		{"P-384", "k", f.p384Key, "P-384", ""},
		{"opaque ecdsa signer", "k", fakeSigner{&f.ecKey.PublicKey}, "unsupported private key type", ""},
		{"nil", "k", nil, "no private key", ""},
		{"nil rsa", "k", (*rsa.PrivateKey)(nil), "empty", ""},
		{"nil ecdsa", "k", (*ecdsa.PrivateKey)(nil), "empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSigner(tt.kid, tt.priv)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.method.Alg() != tt.alg || s.Kid() != tt.kid || s.Public() == nil {
				t.Errorf("signer %v, public %T", s, s.Public())
			}
		})
	}
	if NewHMACSigner("h", f.hmacSecret).Public() != nil {
		t.Error("HMAC signer has a public key")
	}
}

func TestLoadSigner(t *testing.T) {
	f := fixture()
	ecDER, err := x509.MarshalECPrivateKey(f.ecKey)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.Repeat("z", 33)
	dir := writeFiles(t, map[string][]byte{
		"ed.pem":       pkcs8PEM(t, f.edKey),
		"es.pem":       pemBlock("EC PRIVATE KEY", ecDER),
		"rs.pem":       pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(f.rsaKey)),
		"hs.secret":    []byte(secret + "\n"),
		"short.secret": []byte("short"),
		"pub.pem":      pkixPEM(t, f.edKey.Public()),
		"p384.pem":     pkcs8PEM(t, f.p384Key),
		"key.txt":      pkcs8PEM(t, f.edKey),
		".pem":         pkcs8PEM(t, f.edKey),
	})
	tests := []struct {
		file string
		alg  string
		want string // substring of the error; "" = success
	}{
		{"ed.pem", algEdDSA, ""},
		{"es.pem", algES256, ""},
		{"rs.pem", algRS256, ""},
		{"hs.secret", algHS256, ""},
		{"short.secret", "", "5 bytes; at least 32"},
		{"pub.pem", "", "holds a public key"},
		{"p384.pem", "", "P-384"},
		{"key.txt", "", "want a *.pem or *.secret file"},
		{".pem", "", "base name (the kid) is empty"},
		{"missing.pem", "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			s, err := LoadSigner(path)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if kid, _ := kidOf(path); s.Kid() != kid || s.method.Alg() != tt.alg {
				t.Fatalf("signer %v, want kid %s alg %s", s, kid, tt.alg)
			}
			// What the signer mints verifies against LoadKeys of the same file.
			ks, err := LoadKeys(path)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := s.UserToken(userClaims("u"), time.Hour, t0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := newTestVerifier(t, ks, "", "").Verify(tok); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSignerString checks that printing a signer never shows key material.
func TestSignerString(t *testing.T) {
	secret := []byte("super-secret-hmac-key-0123456789")
	s := NewHMACSigner("hs", secret)
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(format, s); strings.Contains(got, "super") || got != "auth.Signer(hs, HS256)" {
			t.Errorf("Sprintf(%q) = %q", format, got)
		}
	}
}

// TestDevKey checks the committed development key: an Ed25519 PKCS#8 key
// with kid "dev", loadable both for signing and, from its directory, for
// verification (the README beside it is ignored).
func TestDevKey(t *testing.T) {
	const dir = "../testdata/devkeys"
	s, err := LoadSigner(filepath.Join(dir, "dev.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Kid() != "dev" || s.method.Alg() != algEdDSA {
		t.Fatalf("dev key is %v, want dev/EdDSA", s)
	}
	if _, ok := s.Public().(ed25519.PublicKey); !ok {
		t.Fatalf("dev key public is %T", s.Public())
	}
	ks, err := LoadKeys(dir)
	if err != nil || ks.Len() != 1 {
		t.Fatalf("LoadKeys(%s) = %v, %v", dir, ks, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Errorf("dev key README: %v", err)
	}
	tok, err := s.ScoreboardToken("annual-2024", time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	if c, _, err := newTestVerifier(t, ks, "", "").VerifyScoreboard(tok); err != nil || c != "annual-2024" {
		t.Fatalf("VerifyScoreboard = %q, %v", c, err)
	}
}
