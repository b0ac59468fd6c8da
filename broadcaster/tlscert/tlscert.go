// Package tlscert serves a TLS certificate that can be replaced while the
// server runs, so a renewal needs no restart: Reload reads the certificate
// and key files again (on SIGHUP, say), and Watch does so whenever their
// contents change. A pair that fails to load (unreadable, malformed, a key
// that does not match) leaves the certificate in use as it was.
package tlscert

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Reloader holds the certificate a TLS server presents. Its GetCertificate
// is safe for concurrent handshakes; reloads are serialized.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger

	cert  atomic.Pointer[tls.Certificate] // the pair new handshakes get
	polls atomic.Int64                    // reads by Watch, for tests to wait on

	mu   sync.Mutex // guards last and serializes reloads
	last [2][sha256.Size]byte
}

// New loads the pair from certFile and keyFile (PEM, as
// tls.LoadX509KeyPair reads them); log receives reload outcomes (nil:
// slog.Default). The error names the files, never their contents.
func New(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("tlscert: a certificate file and a key file are both required")
	}
	if log == nil {
		log = slog.Default()
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log}
	if _, err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

// GetCertificate is a tls.Config.GetCertificate: the pair last loaded.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// Certificate is the pair in use.
func (r *Reloader) Certificate() *tls.Certificate { return r.cert.Load() }

// Reload reads both files again. On success new handshakes get the new
// pair (connections already open keep theirs); on failure the pair in use
// stays and the error, naming the files, is returned and logged.
func (r *Reloader) Reload() error {
	changed, err := r.load()
	r.report(changed, err, "reload")
	return err
}

// Watch reads both files every interval until ctx ends and reloads the
// pair when their contents changed since the last load or attempt. A
// failed attempt is logged once per distinct contents: a renewal that
// writes the certificate before the key fails once, then loads when the
// key arrives.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed := r.filesChanged()
		r.polls.Add(1)
		if !changed {
			continue
		}
		changed, err := r.load()
		r.report(changed, err, "files changed")
	}
}

func (r *Reloader) report(changed bool, err error, trigger string) {
	if err != nil {
		r.log.Error("TLS certificate not reloaded; keeping the one in use", "trigger", trigger, "err", err)
		return
	}
	if c := r.cert.Load(); c.Leaf != nil {
		r.log.Info("TLS certificate loaded", "trigger", trigger, "changed", changed, "cert", r.certFile,
			"subject", c.Leaf.Subject.String(), "not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

// read returns both files' contents.
func (r *Reloader) read() (cert, key []byte, err error) {
	if cert, err = os.ReadFile(r.certFile); err != nil {
		return nil, nil, fmt.Errorf("tlscert: reading certificate: %w", err)
	}
	if key, err = os.ReadFile(r.keyFile); err != nil {
		return nil, nil, fmt.Errorf("tlscert: reading key: %w", err)
	}
	return cert, key, nil
}

// filesChanged reports whether the files differ from the last load or
// attempt (an unreadable file counts as a change, so it is reported).
func (r *Reloader) filesChanged() bool {
	cert, key, err := r.read()
	if err != nil {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return [2][sha256.Size]byte{sha256.Sum256(cert), sha256.Sum256(key)} != r.last
}

// load reads and parses the pair and, if it is good, puts it in use. It
// reports whether the contents differ from the last load or attempt.
func (r *Reloader) load() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	certPEM, keyPEM, err := r.read()
	if err != nil {
		return true, fmt.Errorf("%w (certificate %s, key %s)", err, r.certFile, r.keyFile)
	}
	sums := [2][sha256.Size]byte{sha256.Sum256(certPEM), sha256.Sum256(keyPEM)}
	changed := sums != r.last
	r.last = sums
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return changed, fmt.Errorf("tlscert: certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert.Store(&pair)
	return changed, nil
}
