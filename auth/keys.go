package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The JWT algorithms Arenacast accepts, one per key type.
const (
	algHS256 = "HS256" // HMAC-SHA256 shared secret
	algRS256 = "RS256" // RSA PKCS#1 v1.5 with SHA-256
	algES256 = "ES256" // ECDSA P-256 with SHA-256
	algEdDSA = "EdDSA" // Ed25519
)

// Key strength floors. Weaker keys are refused when loaded, not when used,
// so a misconfiguration fails at startup.
const (
	minHMACSecretLen = 32   // bytes: the HS256 output size, as RFC 7518 section 3.2 asks
	minRSABits       = 2048 // RFC 7518 section 3.3
)

// Key file extensions LoadKeys and LoadSigner read.
const (
	extPEM    = ".pem"
	extSecret = ".secret"
)

// verifyKey is one loaded key: the key material in the form jwt's signing
// method expects ([]byte, *rsa.PublicKey, *ecdsa.PublicKey or
// ed25519.PublicKey) and the single algorithm it may verify.
type verifyKey struct {
	alg string
	key any
}

// KeySet holds verification keys by kid. Each key is bound to exactly one
// algorithm by its type (HMAC secret: HS256; RSA: RS256; ECDSA P-256: ES256;
// Ed25519: EdDSA), which is what stops algorithm-confusion attacks: a token
// is checked only with a key whose algorithm is the token's alg.
//
// A KeySet is not safe for concurrent modification. Build it, then pass it to
// NewVerifier, which takes a snapshot: keys added later do not affect that
// Verifier.
type KeySet struct {
	keys map[string]verifyKey
}

// NewKeySet returns an empty KeySet, for tests and programmatic use; servers
// use LoadKeys.
func NewKeySet() *KeySet {
	return &KeySet{keys: make(map[string]verifyKey)}
}

// Len reports how many keys the set holds.
func (k *KeySet) Len() int { return len(k.keys) }

// AddHMAC adds an HS256 secret under kid. The secret is copied. Secrets
// shorter than 32 bytes are refused: they can be brute-forced offline from
// any token.
func (k *KeySet) AddHMAC(kid string, secret []byte) error {
	if err := k.checkKid(kid); err != nil {
		return err
	}
	if len(secret) < minHMACSecretLen {
		return fmt.Errorf("auth: key %q: HMAC secret is %d bytes; at least %d are required", kid, len(secret), minHMACSecretLen)
	}
	k.keys[kid] = verifyKey{alg: algHS256, key: slices.Clone(secret)}
	return nil
}

// AddPublic adds a public key under kid: an *rsa.PublicKey of at least 2048
// bits (RS256), an *ecdsa.PublicKey on P-256 (ES256) or an ed25519.PublicKey
// (EdDSA). Other key types and curves are refused.
func (k *KeySet) AddPublic(kid string, pub crypto.PublicKey) error {
	if err := k.checkKid(kid); err != nil {
		return err
	}
	alg, key, err := publicAlg(pub)
	if err != nil {
		return fmt.Errorf("auth: key %q: %w", kid, err)
	}
	k.keys[kid] = verifyKey{alg: alg, key: key}
	return nil
}

// String lists the kids and their algorithms, never key material, so
// printing or logging a KeySet does not leak an HMAC secret.
func (k *KeySet) String() string {
	kids := slices.Sorted(maps.Keys(k.keys))
	var b strings.Builder
	b.WriteString("auth.KeySet(")
	for i, kid := range kids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(kid + ":" + k.keys[kid].alg)
	}
	b.WriteString(")")
	return b.String()
}

// GoString is String, so %#v does not show key material either.
func (k *KeySet) GoString() string { return k.String() }

// checkKid refuses empty and duplicate kids. A duplicate would make one of
// two keys silently unreachable.
func (k *KeySet) checkKid(kid string) error {
	if kid == "" {
		return errors.New("auth: key id (kid) must not be empty")
	}
	if _, dup := k.keys[kid]; dup {
		return fmt.Errorf("auth: duplicate key id %q", kid)
	}
	return nil
}

// algorithms returns the distinct algorithms of the loaded keys, sorted.
func (k *KeySet) algorithms() []string {
	var algs []string
	for _, vk := range k.keys {
		if !slices.Contains(algs, vk.alg) {
			algs = append(algs, vk.alg)
		}
	}
	slices.Sort(algs)
	return algs
}

// clone returns a copy that later changes to k do not affect. Key material
// is never modified after being added, so it is shared.
func (k *KeySet) clone() *KeySet {
	return &KeySet{keys: maps.Clone(k.keys)}
}

// publicAlg checks pub and returns its algorithm and the form jwt expects.
func publicAlg(pub crypto.PublicKey) (string, any, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p == nil || p.N == nil {
			return "", nil, errors.New("RSA public key is empty")
		}
		if bits := p.N.BitLen(); bits < minRSABits {
			return "", nil, fmt.Errorf("RSA key is %d bits; at least %d are required", bits, minRSABits)
		}
		return algRS256, p, nil
	case *ecdsa.PublicKey:
		if p == nil || p.Curve == nil {
			return "", nil, errors.New("ECDSA public key is empty")
		}
		if p.Curve != elliptic.P256() {
			return "", nil, fmt.Errorf("ECDSA curve %s is not supported; only P-256 (ES256) is", p.Curve.Params().Name)
		}
		return algES256, p, nil
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return "", nil, fmt.Errorf("Ed25519 public key is %d bytes, want %d", len(p), ed25519.PublicKeySize)
		}
		return algEdDSA, slices.Clone(p), nil
	case *ed25519.PublicKey:
		if p == nil {
			return "", nil, errors.New("Ed25519 public key is empty")
		}
		return publicAlg(*p)
	}
	return "", nil, fmt.Errorf("unsupported public key type %T; want RSA, ECDSA P-256 or Ed25519", pub)
}

// LoadKeys reads verification keys. Each path is a key file or a directory;
// in a directory every *.pem and *.secret file is read (not recursively) and
// other files are ignored. The kid of a key is its file's base name without
// the extension, so "keys/2024-06.pem" is kid "2024-06".
//
//   - *.pem: a public key ("PUBLIC KEY" PKIX or "RSA PUBLIC KEY") or a private
//     key ("PRIVATE KEY" PKCS#8, "RSA PRIVATE KEY", "EC PRIVATE KEY") from
//     which the public key is derived. Only the public key is kept.
//   - *.secret: an HS256 secret; trailing whitespace is trimmed; at least 32
//     bytes.
//
// A duplicate kid, an unreadable or unsupported key, or finding no key at
// all is an error naming the file.
func LoadKeys(paths ...string) (*KeySet, error) {
	ks := NewKeySet()
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("auth: load keys: %w", err)
		}
		if !fi.IsDir() {
			if err := ks.loadFile(p); err != nil {
				return nil, err
			}
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("auth: load keys: %w", err)
		}
		for _, e := range entries { // sorted by name: errors are deterministic
			ext := filepath.Ext(e.Name())
			if e.IsDir() || (ext != extPEM && ext != extSecret) {
				continue
			}
			if err := ks.loadFile(filepath.Join(p, e.Name())); err != nil {
				return nil, err
			}
		}
	}
	if ks.Len() == 0 {
		return nil, fmt.Errorf("auth: load keys: no *%s or *%s key file found in %s", extPEM, extSecret, strings.Join(paths, ", "))
	}
	return ks, nil
}

// loadFile adds the key in one file, named by its base name.
func (k *KeySet) loadFile(path string) error {
	kid, ext := kidOf(path)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("auth: load keys: %w", err)
	}
	switch ext {
	case extSecret:
		err = k.AddHMAC(kid, trimSecret(data))
	case extPEM:
		var pub crypto.PublicKey
		if pub, _, err = parsePEMKey(data); err == nil {
			err = k.AddPublic(kid, pub)
		}
	default:
		err = fmt.Errorf("want a *%s or *%s file", extPEM, extSecret)
	}
	if err != nil {
		return fmt.Errorf("auth: key file %s: %w", path, err)
	}
	return nil
}

// kidOf returns the kid (base name without extension) and the extension.
func kidOf(path string) (kid, ext string) {
	base := filepath.Base(path)
	ext = filepath.Ext(base)
	return strings.TrimSuffix(base, ext), ext
}

// trimSecret drops the trailing newline and spaces editors and `echo` add.
func trimSecret(b []byte) []byte {
	return []byte(strings.TrimRight(string(b), " \t\r\n"))
}

// parsePEMKey decodes the one key block of a PEM file. It returns the public
// key, and the private key too when the file holds one. An "EC PARAMETERS"
// block, as `openssl ecparam -genkey` writes before the key, is skipped.
func parsePEMKey(data []byte) (crypto.PublicKey, crypto.Signer, error) {
	var block *pem.Block
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "EC PARAMETERS" {
			continue
		}
		if block != nil {
			return nil, nil, errors.New("more than one PEM key block; put one key in each file")
		}
		block = b
	}
	if block == nil {
		return nil, nil, errors.New("no PEM block found")
	}
	if _, encrypted := block.Headers["Proc-Type"]; encrypted {
		return nil, nil, errors.New("encrypted PEM keys are not supported")
	}
	var (
		priv any
		err  error
	)
	switch block.Type {
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("parse PKIX public key: %w", err)
		}
		return pub, nil, nil
	case "RSA PUBLIC KEY":
		pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("parse PKCS#1 public key: %w", err)
		}
		return pub, nil, nil
	case "PRIVATE KEY":
		if priv, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
			return nil, nil, fmt.Errorf("parse PKCS#8 private key: %w", err)
		}
	case "RSA PRIVATE KEY":
		if priv, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return nil, nil, fmt.Errorf("parse PKCS#1 private key: %w", err)
		}
	case "EC PRIVATE KEY":
		if priv, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
			return nil, nil, fmt.Errorf("parse EC private key: %w", err)
		}
	default:
		return nil, nil, fmt.Errorf("unsupported PEM block type %q; want PUBLIC KEY, RSA PUBLIC KEY, PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY", block.Type)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("unsupported private key type %T", priv)
	}
	return signer.Public(), signer, nil
}
