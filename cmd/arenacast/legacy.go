package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/broadcaster/legacy"
)

// legacyFlags are serve's --legacy-* flags: the omegaUp drop-in
// (broadcaster/legacy, docs/migrating-from-omegaup.md). Off unless
// --legacy-frontend-url is set.
type legacyFlags struct {
	frontend, internal               *string
	cert, key, clientCA, token       *string
	validateTimeout, cacheTTL, cycle *time.Duration
}

func (l *legacyFlags) register(e *envFlags) {
	l.frontend = e.String("legacy-frontend-url", "", "omegaUp drop-in: the platform's base URL (validateFilter, scoreboard refresh), e.g. https://omegaup.com/; empty: off")
	l.internal = e.String("legacy-internal-listen", "", "omegaUp drop-in: serve /broadcast/ and /deauthenticate/ on this separate address; empty: on --listen, with a publisher credential")
	l.cert = e.String("legacy-tls-cert", "", "omegaUp drop-in: TLS certificate of --legacy-internal-listen")
	l.key = e.String("legacy-tls-key", "", "omegaUp drop-in: TLS key of --legacy-internal-listen")
	l.clientCA = e.String("legacy-client-ca", "", "omegaUp drop-in: CA bundle; --legacy-internal-listen then requires client certificates it signed (mutual TLS) and accepts them as publishers")
	l.validateTimeout = e.Duration("legacy-validate-timeout", 5*time.Second, "omegaUp drop-in: timeout of one validateFilter call (504 past it)")
	l.cacheTTL = e.Duration("legacy-cache-ttl", 10*time.Second, "omegaUp drop-in: reuse a validateFilter answer this long for the same credential and filters; negative: off")
	l.cycle = e.Duration("legacy-refresh-interval", 0, "omegaUp drop-in: after runs, ask the platform to refresh a contest's scoreboard at most once per interval; 0: off")
	l.token = e.String("legacy-refresh-token", "", "omegaUp drop-in: token sent with scoreboard refreshes (prefer the environment variable)")
}

// check validates the flags after parsing.
func (l *legacyFlags) check() error {
	if *l.frontend == "" {
		if *l.internal != "" || *l.cert != "" || *l.clientCA != "" || *l.cycle > 0 {
			return errors.New("--legacy-* flags need --legacy-frontend-url")
		}
		return nil
	}
	if (*l.cert == "") != (*l.key == "") {
		return errors.New("--legacy-tls-cert and --legacy-tls-key go together")
	}
	if (*l.cert != "" || *l.clientCA != "") && *l.internal == "" {
		return errors.New("--legacy-tls-* and --legacy-client-ca need --legacy-internal-listen")
	}
	if *l.clientCA != "" && *l.cert == "" {
		return errors.New("--legacy-client-ca needs --legacy-tls-cert and --legacy-tls-key")
	}
	if *l.cycle > 0 && *l.token == "" {
		return errors.New("--legacy-refresh-interval needs --legacy-refresh-token")
	}
	return nil
}

// start builds the adapter; it returns handler wrapped (legacy /events/
// connections) and, when the publisher side shares the main listener,
// with /broadcast/ and /deauthenticate/ mounted. A separate internal
// listener is started here; stop closes it and the adapter. The adapter
// is returned for its metrics (nil when the drop-in is off).
func (l *legacyFlags) start(srv *broadcaster.Server, bus broadcaster.Bus, maxEvent int, handler http.Handler, log *slog.Logger) (http.Handler, *legacy.Adapter, func(), error) {
	if *l.frontend == "" {
		return handler, nil, func() {}, nil
	}
	ad, err := legacy.New(legacy.Config{
		Server: srv, Bus: bus, FrontendURL: *l.frontend,
		ValidateTimeout: *l.validateTimeout, CacheTTL: *l.cacheTTL, MaxEventSize: maxEvent,
		RefreshInterval: *l.cycle, RefreshToken: *l.token, Logger: log,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", ad.Events(handler))
	if *l.internal == "" {
		mux.Handle("/broadcast/", ad.Internal())
		mux.Handle("/broadcast", ad.Internal())
		mux.Handle("/deauthenticate/", ad.Internal())
		log.Info("omegaUp drop-in on", "frontend", *l.frontend, "broadcast", "main listener (publisher credential)")
		return mux, ad, ad.Close, nil
	}
	hs := &http.Server{Handler: ad.Internal(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	if *l.cert != "" {
		cert, err := tls.LoadX509KeyPair(*l.cert, *l.key)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--legacy-tls-cert/--legacy-tls-key: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if *l.clientCA != "" {
			pem, err := os.ReadFile(*l.clientCA)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("--legacy-client-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, nil, nil, fmt.Errorf("--legacy-client-ca %s: no PEM certificate", *l.clientCA)
			}
			hs.TLSConfig.ClientCAs = pool
			hs.TLSConfig.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	ln, err := net.Listen("tcp", *l.internal)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--legacy-internal-listen %s: %w", *l.internal, err)
	}
	if hs.TLSConfig != nil {
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	go hs.Serve(ln)
	log.Info("omegaUp drop-in on", "frontend", *l.frontend, "broadcast", ln.Addr().String(), "tls", *l.cert != "", "mtls", *l.clientCA != "")
	return mux, ad, func() { hs.Close(); ad.Close() }, nil
}
