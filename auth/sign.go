package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/arenacast/arenacast/protocol"
	"github.com/golang-jwt/jwt/v5"
)

// MaxScoreboardTokenLen is the longest scoreboard token that fits in a
// channel name: /scoreboard/<token> is at most protocol.MaxChannelLen (256)
// bytes, and the prefix takes 12.
const MaxScoreboardTokenLen = protocol.MaxChannelLen - len("/scoreboard/")

// Signer mints tokens with one private key (or HMAC secret) named by its
// kid. It is what `arenacast token` and tests use; broadcaster nodes need
// only a KeySet. A Signer is immutable and safe for concurrent use.
type Signer struct {
	kid    string
	method jwt.SigningMethod
	key    any              // []byte for HS256; the private key otherwise
	pub    crypto.PublicKey // nil for HS256
	iss    string           // set on minted tokens when the claims leave iss empty
	aud    []string         // likewise for aud
}

// NewHMACSigner returns an HS256 Signer. The secret is copied. It does not
// check the secret's length, so tests can mint with any secret; note that
// KeySet.AddHMAC and LoadKeys refuse secrets under 32 bytes, so a Verifier
// will not accept what a short secret signs.
func NewHMACSigner(kid string, secret []byte) *Signer {
	return &Signer{kid: kid, method: jwt.SigningMethodHS256, key: slices.Clone(secret)}
}

// NewSigner returns a Signer for a private key: an *rsa.PrivateKey of at
// least 2048 bits (RS256), an *ecdsa.PrivateKey on P-256 (ES256), or any
// crypto.Signer whose public key is Ed25519 (EdDSA). kid must not be empty.
func NewSigner(kid string, priv crypto.Signer) (*Signer, error) {
	if kid == "" {
		return nil, errors.New("auth: new signer: key id (kid) must not be empty")
	}
	s := &Signer{kid: kid, key: priv}
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		if p == nil || p.N == nil {
			return nil, fmt.Errorf("auth: new signer %q: RSA private key is empty", kid)
		}
		if bits := p.N.BitLen(); bits < minRSABits {
			return nil, fmt.Errorf("auth: new signer %q: RSA key is %d bits; at least %d are required", kid, bits, minRSABits)
		}
		s.method, s.pub = jwt.SigningMethodRS256, &p.PublicKey
	case *ecdsa.PrivateKey:
		if p == nil || p.Curve == nil {
			return nil, fmt.Errorf("auth: new signer %q: ECDSA private key is empty", kid)
		}
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("auth: new signer %q: ECDSA curve %s is not supported; only P-256 (ES256) is", kid, p.Curve.Params().Name)
		}
		s.method, s.pub = jwt.SigningMethodES256, &p.PublicKey
	case nil:
		return nil, fmt.Errorf("auth: new signer %q: no private key", kid)
	default:
		pub, ok := priv.Public().(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("auth: new signer %q: unsupported private key type %T; want *rsa.PrivateKey, *ecdsa.PrivateKey (P-256) or an Ed25519 signer", kid, priv)
		}
		s.method, s.pub = jwt.SigningMethodEdDSA, pub
	}
	return s, nil
}

// LoadSigner reads a signing key from a file named like a LoadKeys file: a
// *.pem private key (RSA, EC P-256 or Ed25519; PKCS#8, PKCS#1 or SEC 1) or a
// *.secret HMAC secret (trailing whitespace trimmed, at least 32 bytes). The
// kid is the base name without the extension, so a node loading the matching
// public key file by the same name verifies what this signer mints.
func LoadSigner(path string) (*Signer, error) {
	kid, ext := kidOf(path)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: load signer: %w", err)
	}
	if kid == "" {
		return nil, fmt.Errorf("auth: signing key file %s: the base name (the kid) is empty", path)
	}
	switch ext {
	case extSecret:
		secret := trimSecret(data)
		if len(secret) < minHMACSecretLen {
			return nil, fmt.Errorf("auth: signing key file %s: HMAC secret is %d bytes; at least %d are required", path, len(secret), minHMACSecretLen)
		}
		return NewHMACSigner(kid, secret), nil
	case extPEM:
		_, priv, err := parsePEMKey(data)
		if err != nil {
			return nil, fmt.Errorf("auth: signing key file %s: %w", path, err)
		}
		if priv == nil {
			return nil, fmt.Errorf("auth: signing key file %s: holds a public key; minting needs the private key", path)
		}
		s, err := NewSigner(kid, priv)
		if err != nil {
			return nil, fmt.Errorf("auth: signing key file %s: %w", path, err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("auth: signing key file %s: want a *%s or *%s file", path, extPEM, extSecret)
}

// Kid returns the key id minted tokens carry in their header.
func (s *Signer) Kid() string { return s.kid }

// Public returns the public key matching the signer, for building a KeySet
// in tests; nil for an HMAC signer.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// String describes the signer by kid and algorithm only, so printing or
// logging a Signer never shows key material.
func (s *Signer) String() string { return "auth.Signer(" + s.kid + ", " + s.method.Alg() + ")" }

// GoString is String, so %#v does not show key material either.
func (s *Signer) GoString() string { return s.String() }

// WithIssuer returns a copy of s that sets iss (and aud, when given) on every
// token it mints whose claims leave them empty, including scoreboard tokens.
// Use it when the Verifier is configured with an Issuer or Audience.
func (s *Signer) WithIssuer(iss string, aud ...string) *Signer {
	c := *s
	c.iss = iss
	c.aud = slices.Clone(aud)
	return &c
}

// Sign mints a token for c as is, with kid, alg and typ in the header. It
// fills iss and aud from WithIssuer when c leaves them empty and checks
// nothing else: the caller sets ExpiresAt and the rest. This lets tests mint
// tokens the Verifier must refuse; UserToken and ScoreboardToken are the
// checked forms.
func (s *Signer) Sign(c Claims) (string, error) {
	s.fillIssuer(&c)
	t := jwt.NewWithClaims(s.method, &c)
	t.Header["kid"] = s.kid
	tok, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("auth: sign token with key %q: %w", s.kid, err)
	}
	return tok, nil
}

// UserToken mints a user token valid for ttl from now: it sets IssuedAt to
// now and ExpiresAt to now+ttl, then checks the claims by the rules Verify
// applies (a valid sub, valid names, no scoreboard claim).
func (s *Signer) UserToken(c Claims, ttl time.Duration, now time.Time) (string, error) {
	if ttl <= 0 {
		return "", errors.New("auth: user token: ttl must be positive")
	}
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	if err := c.validateUser(); err != nil {
		return "", fmt.Errorf("auth: user token: %w", err)
	}
	return s.Sign(c)
}

// ScoreboardToken mints a scoreboard token for contest, valid for ttl from
// now. To fit in a channel name (MaxScoreboardTokenLen, 244 bytes) it holds
// only alg and kid in the header and scoreboard and exp (plus iss and aud
// from WithIssuer) in the claims.
//
// With a 64-byte alias even that is too long for EdDSA and ES256 (64-byte
// signatures) when there is a kid: the token would be about 270 bytes. When
// the token with kid is too long, ScoreboardToken drops the kid, which a
// Verifier accepts only while it holds exactly one key of the signer's
// algorithm (so not during a rotation between two keys of that algorithm).
// When even that does not fit it returns an error. RS256 signatures alone
// take 342 bytes, so RSA signers always get an error: mint scoreboard tokens
// with an EdDSA, ES256 or HS256 key.
func (s *Signer) ScoreboardToken(contest string, ttl time.Duration, now time.Time) (string, error) {
	if !protocol.ValidName(contest) {
		return "", errors.New("auth: scoreboard token: contest is not a valid alias")
	}
	if ttl <= 0 {
		return "", errors.New("auth: scoreboard token: ttl must be positive")
	}
	c := Claims{Scoreboard: contest}
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	s.fillIssuer(&c)
	var tok string
	for _, withKid := range []bool{true, false} {
		t := jwt.NewWithClaims(s.method, &c)
		delete(t.Header, "typ")
		if withKid {
			t.Header["kid"] = s.kid
		}
		var err error
		if tok, err = t.SignedString(s.key); err != nil {
			return "", fmt.Errorf("auth: sign scoreboard token with key %q: %w", s.kid, err)
		}
		if len(tok) <= MaxScoreboardTokenLen {
			return tok, nil
		}
	}
	return "", fmt.Errorf("auth: scoreboard token with key %q (%s) is %d bytes, over the %d that fit in a channel name; use an EdDSA, ES256 or HS256 key, or a shorter alias",
		s.kid, s.method.Alg(), len(tok), MaxScoreboardTokenLen)
}

// fillIssuer sets iss and aud from WithIssuer where c leaves them empty.
func (s *Signer) fillIssuer(c *Claims) {
	if c.Issuer == "" {
		c.Issuer = s.iss
	}
	if len(c.Audience) == 0 && len(s.aud) > 0 {
		c.Audience = slices.Clone(s.aud)
	}
}
