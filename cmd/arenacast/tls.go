package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/arenacast/arenacast/broadcaster/tlscert"
)

// tlsFlags are serve's --tls-* and --h2c flags: TLS (with HTTP/2) or
// HTTP/2 without TLS on --listen (docs/operations.md, "TLS and HTTP/2").
type tlsFlags struct {
	cert, key *string
	reload    *time.Duration
	h2c       *bool
}

func (f *tlsFlags) register(e *envFlags) {
	f.cert = e.String("tls-cert", "", "serve --listen over TLS with this PEM certificate (chain); with --tls-key. HTTP/2 and HTTP/1.1 are offered; reloaded on SIGHUP and when the files change")
	f.key = e.String("tls-key", "", "the PEM private key of --tls-cert")
	f.reload = e.Duration("tls-reload-interval", 5*time.Second, "--tls-cert: read the certificate and key files this often and reload them when they changed; 0: on SIGHUP only")
	f.h2c = e.Bool("h2c", false, "also accept HTTP/2 without TLS (prior knowledge) on --listen, for a proxy that speaks it to the node; not with --tls-cert")
}

// check validates the flags after parsing.
func (f *tlsFlags) check() error {
	if (*f.cert == "") != (*f.key == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if *f.h2c && *f.cert != "" {
		return errors.New("--h2c is HTTP/2 without TLS: leave it out with --tls-cert, over which HTTP/2 is negotiated anyway")
	}
	if *f.reload < 0 {
		return errors.New("--tls-reload-interval must not be negative (0: reload on SIGHUP only)")
	}
	return nil
}

// on reports whether --listen serves TLS.
func (f *tlsFlags) on() bool { return *f.cert != "" }

// scheme is the scheme of a URL on --listen: "http" or "https" (WebSocket:
// "ws" or "wss").
func (f *tlsFlags) scheme(ws bool) string {
	switch {
	case ws && f.on():
		return "wss"
	case ws:
		return "ws"
	case f.on():
		return "https"
	}
	return "http"
}

// setup gives hs its protocols and, with --tls-cert, a certificate that
// reloads every --tls-reload-interval when the files changed, until ctx
// ends. It returns how to serve a plain listener and, with TLS, the
// reload for SIGHUP (else nil).
//
// WebSocket stays on HTTP/1.1: the server does not offer RFC 8441
// (WebSocket over HTTP/2), so a browser on an HTTP/2 connection opens an
// HTTP/1.1 one for its WebSocket. SSE streams share the HTTP/2 connection.
func (f *tlsFlags) setup(ctx context.Context, hs *http.Server, log *slog.Logger) (serve func(net.Listener) error, reload func(), err error) {
	var p http.Protocols
	p.SetHTTP1(true)
	if !f.on() {
		p.SetUnencryptedHTTP2(*f.h2c)
		hs.Protocols = &p
		return hs.Serve, nil, nil
	}
	p.SetHTTP2(true)
	hs.Protocols = &p
	certs, err := tlscert.New(*f.cert, *f.key, log)
	if err != nil {
		return nil, nil, err
	}
	hs.TLSConfig = &tls.Config{GetCertificate: certs.GetCertificate, MinVersion: tls.VersionTLS12}
	if *f.reload > 0 {
		go certs.Watch(ctx, *f.reload)
	}
	attrs := []any{"cert", *f.cert, "reload_interval", *f.reload}
	if leaf := certs.Certificate().Leaf; leaf != nil {
		attrs = append(attrs, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	log.Info("TLS on --listen", attrs...)
	// ServeTLS offers h2 and http/1.1 by ALPN, as hs.Protocols says.
	reload = func() { certs.Reload() } // logs its outcome
	return func(ln net.Listener) error { return hs.ServeTLS(ln, "", "") }, reload, nil
}
