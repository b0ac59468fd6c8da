package auth

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeFiles creates dir/name for each entry and returns dir.
func writeFiles(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestLoadKeysDirectory(t *testing.T) {
	f := fixture()
	ecDER, err := x509.MarshalECPrivateKey(f.ecKey)
	if err != nil {
		t.Fatal(err)
	}
	// `openssl ecparam -genkey` writes an EC PARAMETERS block before the key.
	ecParams := pemBlock("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})
	secret := strings.Repeat("s", 40)
	dir := writeFiles(t, map[string][]byte{
		"rsa-pkcs1.pem":     pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(f.rsaKey)),
		"rsa-pkcs8.pem":     pkcs8PEM(t, f.rsaKey),
		"rsa-pkix.pem":      pkixPEM(t, &f.rsaKey.PublicKey),
		"rsa-pkcs1pub.pem":  pemBlock("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&f.rsaKey.PublicKey)),
		"es-sec1.pem":       append(ecParams, pemBlock("EC PRIVATE KEY", ecDER)...),
		"es-pkcs8.pem":      pkcs8PEM(t, f.ecKey),
		"es-pkix.pem":       pkixPEM(t, &f.ecKey.PublicKey),
		"ed.pem":            pkcs8PEM(t, f.edKey),
		"ed-pkix.pem":       pkixPEM(t, f.edKey.Public()),
		"hs.secret":         []byte(secret + " \n"),
		"README.md":         []byte("not a key"),
		"notes.txt":         []byte("-----BEGIN PRIVATE KEY-----"),
		"nested/deeper.pem": pkcs8PEM(t, f.ed2Key), // not read: no recursion
	})
	ks, err := LoadKeys(dir)
	if err != nil {
		t.Fatalf("LoadKeys: %v", err)
	}
	want := map[string]string{
		"rsa-pkcs1": algRS256, "rsa-pkcs8": algRS256, "rsa-pkix": algRS256, "rsa-pkcs1pub": algRS256,
		"es-sec1": algES256, "es-pkcs8": algES256, "es-pkix": algES256,
		"ed": algEdDSA, "ed-pkix": algEdDSA,
		"hs": algHS256,
	}
	if ks.Len() != len(want) {
		t.Errorf("Len = %d, want %d (%v)", ks.Len(), len(want), ks)
	}
	for kid, alg := range want {
		if got := ks.keys[kid].alg; got != alg {
			t.Errorf("kid %q: alg %q, want %q", kid, got, alg)
		}
	}
	if got := string(ks.keys["hs"].key.([]byte)); got != secret {
		t.Errorf("secret not trimmed: %q", got)
	}

	// Tokens minted under each kid verify against the loaded set.
	v := newTestVerifier(t, ks, "", "")
	signers := []*Signer{NewHMACSigner("hs", []byte(secret))}
	for kid, priv := range map[string]crypto.Signer{
		"rsa-pkcs1": f.rsaKey, "rsa-pkix": f.rsaKey, "rsa-pkcs1pub": f.rsaKey,
		"es-sec1": f.ecKey, "es-pkix": f.ecKey, "ed": f.edKey, "ed-pkix": f.edKey,
	} {
		s, err := NewSigner(kid, priv)
		if err != nil {
			t.Fatal(err)
		}
		signers = append(signers, s)
	}
	for _, s := range signers {
		if _, err := v.Verify(mint(t, s, userClaims("u"))); err != nil {
			t.Errorf("token by %v: %v", s, err)
		}
	}
}

func TestLoadKeysFiles(t *testing.T) {
	f := fixture()
	a := writeFiles(t, map[string][]byte{"one.pem": pkixPEM(t, f.edKey.Public())})
	b := writeFiles(t, map[string][]byte{"two.secret": []byte(strings.Repeat("k", 32))})
	ks, err := LoadKeys(filepath.Join(a, "one.pem"), b)
	if err != nil {
		t.Fatal(err)
	}
	if ks.Len() != 2 || ks.keys["one"].alg != algEdDSA || ks.keys["two"].alg != algHS256 {
		t.Errorf("loaded %v", ks)
	}
}

func TestLoadKeysErrors(t *testing.T) {
	f := fixture()
	ed := pkixPEM(t, f.edKey.Public())
	shortSecret := "tooshort-secret-do-not-print"
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384DER, err := x509.MarshalECPrivateKey(f.p384Key)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1}})

	tests := []struct {
		name  string
		files map[string][]byte // written to a fresh dir
		paths func(dir string) []string
		want  []string // substrings of the error
	}{
		{name: "duplicate kid in one dir", files: map[string][]byte{"k.pem": ed, "k.secret": []byte(strings.Repeat("x", 32))},
			want: []string{"k.secret", `duplicate key id "k"`}},
		{name: "duplicate kid across paths", files: map[string][]byte{"a/k.pem": ed, "b/k.pem": ed},
			paths: func(d string) []string { return []string{filepath.Join(d, "a"), filepath.Join(d, "b", "k.pem")} },
			want:  []string{`duplicate key id "k"`}},
		{name: "short secret", files: map[string][]byte{"hs.secret": []byte(shortSecret + "\n")},
			want: []string{"hs.secret", "28 bytes", "at least 32"}},
		{name: "P-384 SEC 1", files: map[string][]byte{"p384.pem": pemBlock("EC PRIVATE KEY", p384DER)},
			want: []string{"p384.pem", "curve P-384 is not supported"}},
		{name: "P-384 public", files: map[string][]byte{"p384.pem": pkixPEM(t, &f.p384Key.PublicKey)},
			want: []string{"curve P-384 is not supported"}},
		{name: "RSA 1024", files: map[string][]byte{"small.pem": pkcs8PEM(t, rsa1024)},
			want: []string{"small.pem", "1024 bits", "at least 2048"}},
		{name: "X25519", files: map[string][]byte{"x.pem": pkcs8PEM(t, x25519)},
			want: []string{"x.pem", "unsupported private key type"}},
		{name: "not PEM", files: map[string][]byte{"junk.pem": []byte("hello")},
			want: []string{"junk.pem", "no PEM block"}},
		{name: "bad DER", files: map[string][]byte{"bad.pem": pemBlock("PUBLIC KEY", []byte{1, 2, 3})},
			want: []string{"bad.pem", "parse PKIX public key"}},
		{name: "certificate", files: map[string][]byte{"cert.pem": pemBlock("CERTIFICATE", []byte{1})},
			want: []string{"cert.pem", `unsupported PEM block type "CERTIFICATE"`}},
		{name: "two keys in one file", files: map[string][]byte{"two.pem": append(slices.Clone(ed), ed...)},
			want: []string{"two.pem", "more than one PEM key block"}},
		{name: "encrypted", files: map[string][]byte{"enc.pem": encrypted},
			want: []string{"enc.pem", "encrypted PEM keys are not supported"}},
		{name: "empty kid", files: map[string][]byte{".pem": ed},
			want: []string{"kid) must not be empty"}},
		{name: "empty dir", files: map[string][]byte{"README.md": []byte("x")},
			want: []string{"no *.pem or *.secret key file found"}},
		{name: "no paths", files: map[string][]byte{},
			paths: func(string) []string { return nil }, want: []string{"no *.pem or *.secret key file found"}},
		{name: "missing path", files: map[string][]byte{},
			paths: func(d string) []string { return []string{filepath.Join(d, "nope")} }, want: []string{"nope", "no such file"}},
		{name: "file of another extension", files: map[string][]byte{"key.txt": ed},
			paths: func(d string) []string { return []string{filepath.Join(d, "key.txt")} }, want: []string{"key.txt", "want a *.pem or *.secret file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			paths := []string{dir}
			if tt.paths != nil {
				paths = tt.paths(dir)
			}
			ks, err := LoadKeys(paths...)
			if err == nil {
				t.Fatalf("LoadKeys succeeded with %v", ks)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), shortSecret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestKeySetAdd(t *testing.T) {
	f := fixture()
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub := f.edKey.Public().(ed25519.PublicKey)
	tests := []struct {
		name string
		add  func(ks *KeySet) error
		want string // substring of the error; "" = success
		alg  string
	}{
		{"hmac", func(ks *KeySet) error { return ks.AddHMAC("k", f.hmacSecret) }, "", algHS256},
		{"hmac short", func(ks *KeySet) error { return ks.AddHMAC("k", make([]byte, 31)) }, "at least 32", ""},
		{"hmac empty kid", func(ks *KeySet) error { return ks.AddHMAC("", f.hmacSecret) }, "must not be empty", ""},
		{"rsa", func(ks *KeySet) error { return ks.AddPublic("k", &f.rsaKey.PublicKey) }, "", algRS256},
		{"ecdsa", func(ks *KeySet) error { return ks.AddPublic("k", &f.ecKey.PublicKey) }, "", algES256},
		{"ecdsa P-384", func(ks *KeySet) error { return ks.AddPublic("k", &f.p384Key.PublicKey) }, "P-384", ""},
		{"ed25519", func(ks *KeySet) error { return ks.AddPublic("k", edPub) }, "", algEdDSA},
		{"ed25519 pointer", func(ks *KeySet) error { return ks.AddPublic("k", &edPub) }, "", algEdDSA},
		{"ed25519 short", func(ks *KeySet) error { return ks.AddPublic("k", edPub[:31]) }, "31 bytes", ""},
		{"private key", func(ks *KeySet) error { return ks.AddPublic("k", f.edKey) }, "unsupported public key type", ""},
		{"x25519", func(ks *KeySet) error { return ks.AddPublic("k", x25519.PublicKey()) }, "unsupported public key type", ""},
		{"nil", func(ks *KeySet) error { return ks.AddPublic("k", nil) }, "unsupported public key type", ""},
		{"nil rsa", func(ks *KeySet) error { return ks.AddPublic("k", (*rsa.PublicKey)(nil)) }, "empty", ""},
		{"nil ecdsa", func(ks *KeySet) error { return ks.AddPublic("k", (*ecdsa.PublicKey)(nil)) }, "empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks := NewKeySet()
			err := tt.add(ks)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if ks.Len() != 1 || ks.keys["k"].alg != tt.alg {
					t.Fatalf("got %v, want k:%s", ks, tt.alg)
				}
				if err := tt.add(ks); err == nil || !strings.Contains(err.Error(), "duplicate") {
					t.Errorf("second add: %v, want duplicate", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if ks.Len() != 0 {
				t.Errorf("a refused key was added")
			}
		})
	}
}

// TestKeySetString checks that printing a key set shows kids, not secrets.
func TestKeySetString(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	ks := NewKeySet()
	if err := ks.AddHMAC("hs", secret); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(format, ks); strings.Contains(got, "0123456789") || !strings.Contains(got, "hs:HS256") {
			t.Errorf("Sprintf(%q) = %q", format, got)
		}
	}
}
