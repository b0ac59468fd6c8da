// Package legacy lets omegaUp's deployed frontend and backend use Arenacast
// in place of omegaUp's own broadcaster, unchanged: clients connect to
// /events/ with the WebSocket subprotocol com.omegaup.events and filter=
// parameters, the platform's validateFilter decides who they are, and
// publishers POST envelopes to /broadcast/ and drop users with
// /deauthenticate/<user>.
//
// The engine (package broadcaster) does not learn omegaUp's names: the
// adapter maps filters onto channels and the platform's answer onto a
// principal (broadcaster.Attach), and publishes each envelope onto the
// stream as ordinary events (Options.Bus), so legacy publishers get ids,
// history, resume for our own clients and several nodes like every other
// publisher. docs/migrating-from-omegaup.md has the mapping and the steps.
package legacy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

// Subprotocol is the WebSocket subprotocol omegaUp's frontend asks for.
const Subprotocol = "com.omegaup.events"

// Config configures an Adapter. Zero values are the documented defaults.
type Config struct {
	// Server is the node legacy connections attach to. Required.
	Server *broadcaster.Server
	// Bus is where /broadcast/ publishes (the Server's Options.Bus). Required.
	Bus broadcaster.Bus
	// FrontendURL is the platform's base URL, e.g. https://omegaup.com/;
	// validateFilter and scoreboard refreshes are asked below it. Required.
	FrontendURL string
	// Client makes the calls to the platform. Defaults to a client of its own.
	Client *http.Client
	// ValidateTimeout bounds one validateFilter call (else 504). Default 5 s.
	ValidateTimeout time.Duration
	// CacheTTL is how long a validateFilter answer is reused for the same
	// credential and filters. Default 10 s; negative: no cache.
	CacheTTL time.Duration
	// CacheEntries bounds the cache. Default 10,000.
	CacheEntries int
	// MaxEventSize bounds one published event (the message and the
	// routing); larger envelopes are refused with 413. It must not exceed
	// the bus's limit. Default 64 KiB (protocol.DefaultMaxEventSize).
	MaxEventSize int
	// RefreshInterval, when positive, turns on the scoreboard refresh
	// call-out: after a /run/update/ envelope for a contest, POST
	// <frontend>/api/scoreboard/refresh/ (token, alias), at most once per
	// interval per contest (the first at once, one more at the end of the
	// interval if runs came meanwhile). Default 0: off.
	RefreshInterval time.Duration
	// RefreshToken is the token form field of refresh calls (omegaUp's
	// scoreboard update secret).
	RefreshToken string
	// Logger receives structured logs; never credentials or payloads.
	Logger *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// Adapter serves omegaUp's broadcaster protocol on top of a Server.
type Adapter struct {
	cfg       Config // static after New
	log       *slog.Logger
	validator *validator
	refresher *refresher // nil: refresh off
	counts    *counters  // shared with validator and refresher
}

// New checks cfg and returns an Adapter. Call Close when done.
func New(cfg Config) (*Adapter, error) {
	if cfg.Server == nil || cfg.Bus == nil {
		return nil, errors.New("legacy: Config.Server and Config.Bus are required")
	}
	base, err := url.Parse(cfg.FrontendURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("legacy: frontend URL %q: want http(s)://host/", cfg.FrontendURL)
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.ValidateTimeout <= 0 {
		cfg.ValidateTimeout = 5 * time.Second
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 10 * time.Second
	}
	if cfg.CacheEntries <= 0 {
		cfg.CacheEntries = 10_000
	}
	if cfg.MaxEventSize <= 0 {
		cfg.MaxEventSize = protocol.DefaultMaxEventSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Adapter{cfg: cfg, log: cfg.Logger, counts: &counters{}}
	a.validator = &validator{
		endpoint: base.ResolveReference(&url.URL{Path: "api/user/validateFilter/"}),
		client:   cfg.Client, timeout: cfg.ValidateTimeout, ttl: cfg.CacheTTL, max: cfg.CacheEntries, now: cfg.Now, counts: a.counts,
		cache: make(map[[32]byte]validation), inflight: make(map[[32]byte]*call),
	}
	if cfg.RefreshInterval > 0 {
		a.refresher = newRefresher(base.ResolveReference(&url.URL{Path: "api/scoreboard/refresh/"}),
			cfg.Client, cfg.RefreshToken, cfg.RefreshInterval, cfg.ValidateTimeout, a.log, a.counts)
	}
	return a, nil
}

// Close stops the scoreboard refreshes still scheduled.
func (a *Adapter) Close() {
	if a.refresher != nil {
		a.refresher.close()
	}
}

// IsLegacy reports whether r is a connection of omegaUp's frontend: it has
// filter= parameters or offers the com.omegaup.events subprotocol. Our own
// clients use neither.
func IsLegacy(r *http.Request) bool {
	if r.URL.Query().Has("filter") {
		return true
	}
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if strings.TrimSpace(p) == Subprotocol {
				return true
			}
		}
	}
	return false
}

// Events wraps the node's handler: legacy connections to /events/ are
// served here, everything else goes to next.
func (a *Adapter) Events(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.URL.Path == "/events/" || r.URL.Path == "/events") && IsLegacy(r) {
			a.serveEvents(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Internal serves the publisher side: POST /broadcast/ and
// /deauthenticate/<user>. Mount it on the internal listener.
func (a *Adapter) Internal() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/broadcast/", a.serveBroadcast)
	mux.HandleFunc("/broadcast", a.serveBroadcast)
	mux.HandleFunc("/deauthenticate/", a.serveDeauthenticate)
	return mux
}

// serveEvents is the connect path: filters, validateFilter, then the
// upgrade; every refusal comes before it, as HTTP with a JSON body.
func (a *Adapter) serveEvents(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		a.refuse(w, refusedBadRequest, http.StatusMethodNotAllowed, protocol.ErrBadRequest, "use GET")
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		a.refuse(w, refusedBadRequest, http.StatusBadRequest, protocol.ErrBadRequest, "legacy connections are WebSocket only (subprotocol "+Subprotocol+")")
		return
	}
	values := r.URL.Query()["filter"]
	filters, err := parseFilters(values)
	if err != nil {
		a.refuse(w, refusedBadRequest, http.StatusBadRequest, protocol.ErrBadRequest, err.Error())
		return
	}
	res, err := a.validator.validate(r.Context(), credentialOf(r), joinFilters(values))
	if err != nil {
		var ve *validateError
		status, code, why := http.StatusBadGateway, protocol.ErrInternal, refusedPlatformError
		if errors.As(err, &ve) {
			status = ve.Status
		}
		if status < 500 {
			code, why = protocol.ErrUnauthorized, refusedPlatform
		}
		a.log.Info("legacy connection refused", "remote", r.RemoteAddr, "status", status, "reason", err.Error())
		a.refuse(w, why, status, code, err.Error())
		return
	}
	g, channels, err := grants(filters, res.v)
	if err == nil && g.User != "" && !protocol.ValidName(g.User) {
		err = errors.New("the platform named a user that is not a valid username")
	}
	if err != nil {
		a.refuse(w, refusedForbidden, http.StatusForbidden, protocol.ErrUnauthorized, err.Error())
		return
	}
	// Seconds, rounded down, like a token's iat: a /deauthenticate/ in the
	// same second as the answer still voids it.
	g.IssuedAt = res.at.Truncate(time.Second)
	p, err := auth.NewPrincipal(g)
	if err != nil {
		a.refuse(w, refusedForbidden, http.StatusForbidden, protocol.ErrUnauthorized, err.Error())
		return
	}
	enc := newEncoder(len(channels))
	err = a.cfg.Server.Attach(w, r, broadcaster.Attachment{
		Principal: p, Channels: channels, Subprotocol: Subprotocol, Encode: enc.encode,
	})
	switch {
	case err == nil:
		a.counts.connections.Add(1)
	case errors.Is(err, broadcaster.ErrAttachOrigin):
		a.refuse(w, refusedForbidden, http.StatusForbidden, protocol.ErrUnauthorized, "origin not allowed")
	case errors.Is(err, broadcaster.ErrAttachRefused):
		a.refuse(w, refusedForbidden, http.StatusForbidden, protocol.ErrUnauthorized, err.Error())
	default:
		a.refuse(w, refusedBadRequest, http.StatusBadRequest, protocol.ErrBadRequest, err.Error())
	}
}

// refuse answers a connection attempt before the upgrade and counts it
// under why (Stats.Refused).
func (a *Adapter) refuse(w http.ResponseWriter, why, status int, code protocol.ErrorCode, msg string) {
	a.counts.refused[why].Add(1)
	writeError(w, status, code, msg)
}

// writeError answers with Arenacast's JSON error body.
func writeError(w http.ResponseWriter, status int, code protocol.ErrorCode, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(protocol.ErrorBody{Error: code, Message: msg}.Encode())
}
