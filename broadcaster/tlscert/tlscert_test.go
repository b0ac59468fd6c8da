package tlscert

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pair makes a self-signed certificate and its key, PEM-encoded.
func pair(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func write(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
}

func cn(r *Reloader) string {
	c, _ := r.GetCertificate(nil)
	return c.Leaf.Subject.CommonName
}

// TestNewAndReload: New refuses what does not load, naming the files;
// Reload puts a good pair in use and keeps the old one on a bad pair.
func TestNewAndReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	c1, k1 := pair(t, "one")
	c2, k2 := pair(t, "two")
	for _, tc := range []struct {
		name       string
		cert, key  []byte // nil: file absent
		wantErr    string
		wantServed string // after Reload on a Reloader serving "one"
	}{
		{"good pair", c2, k2, "", "two"},
		{"key of another certificate", c2, k1, "private key does not match", "one"},
		{"not PEM", []byte("junk"), k1, "failed to find any PEM data", "one"},
		{"no key file", c2, nil, "reading key", "one"},
		{"no certificate file", nil, k2, "reading certificate", "one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(certFile)
			os.Remove(keyFile)
			write(t, certFile, c1)
			write(t, keyFile, k1)
			r, err := New(certFile, keyFile, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			os.Remove(certFile)
			os.Remove(keyFile)
			if tc.cert != nil {
				write(t, certFile, tc.cert)
			}
			if tc.key != nil {
				write(t, keyFile, tc.key)
			}
			err = r.Reload()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) ||
				!strings.Contains(err.Error(), certFile) || !strings.Contains(err.Error(), keyFile)) {
				t.Fatalf("Reload: %v, want %q naming both files", err, tc.wantErr)
			}
			if got := cn(r); got != tc.wantServed {
				t.Fatalf("serving %q, want %q", got, tc.wantServed)
			}
			// New on the same files fails as Reload did.
			if _, err := New(certFile, keyFile, nil); (err != nil) != (tc.wantErr != "") {
				t.Fatalf("New: %v, want error %v", err, tc.wantErr != "")
			}
		})
	}
	if _, err := New("", keyFile, nil); err == nil {
		t.Fatal("New without a certificate file succeeded")
	}
}

// TestWatch: Watch loads a changed pair and logs a bad one once, however
// many polls see it.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	c1, k1 := pair(t, "one")
	c2, k2 := pair(t, "two")
	write(t, certFile, c1)
	write(t, keyFile, k1)
	var logs syncBuf
	r, err := New(certFile, keyFile, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Watch(ctx, 5*time.Millisecond) }()
	defer func() { cancel(); <-done }()
	wait := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s; log: %s", what, logs.String())
			}
		}
	}
	write(t, certFile, c2) // key still k1: a mismatch
	wait("the refusal", func() bool { return strings.Contains(logs.String(), "not reloaded") })
	// Several more polls see the same bad pair before the key arrives.
	seen := r.polls.Load()
	wait("more polls", func() bool { return r.polls.Load() >= seen+3 })
	write(t, keyFile, k2)
	wait("the new pair", func() bool { return cn(r) == "two" })
	if n := strings.Count(logs.String(), "not reloaded"); n != 1 {
		t.Fatalf("the bad pair was logged %d times, want once: %s", n, logs.String())
	}
	if strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Fatal("key material in the log")
	}
}

// syncBuf is a log sink safe for the watcher's writes and the test's reads.
type syncBuf struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
