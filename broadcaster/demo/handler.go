package demo

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// The page: index.html and demo.css are written by hand; demo.js is built
// from client-js/demo/main.ts by `make demo-assets` (a test in client-js
// fails when it is stale).
//
//go:embed static/index.html static/demo.css static/demo.js
var static embed.FS

// HandlerOptions configures NewHandler. Zero fields take their defaults.
type HandlerOptions struct {
	// Signer mints the page's tokens. Required; it must sign with a key the
	// broadcaster verifies, and with EdDSA, ES256 or HS256 (an RS256
	// scoreboard token does not fit in a channel name).
	Signer *auth.Signer
	// Verifier, when set, checks at NewHandler that the minted tokens
	// verify, so a signing key the broadcaster does not know is reported at
	// startup rather than as a page that never connects.
	Verifier *auth.Verifier
	// Contest is the contest shown. Defaults to DefaultContest ("demo").
	Contest string
	// Viewer is the username of the page's feed connection, an admin of
	// Contest (so it sees every run). Defaults to "demo-viewer".
	Viewer string
	// EventsURL is where the page connects, absolute or relative to the
	// page. Defaults to "/events/".
	EventsURL string
	// TokenTTL is the lifetime of the tokens in /demo/config.json. The
	// page fetches fresh ones before they expire. Defaults to 1 h.
	TokenTTL time.Duration
	// LastID, when set, is the stream's newest id: config.json then names
	// a position Backfill stream positions before it, from which the
	// page's feed resumes, so that a fresh page shows the recent events
	// (those its viewer may see) instead of starting empty.
	LastID func(ctx context.Context) (uint64, error)
	// Backfill is how many stream positions back the feed starts.
	// Defaults to 100.
	Backfill uint64
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// Config is what GET <mount>/config.json returns: where to connect and the
// tokens to connect with, minted afresh for each request.
type Config struct {
	Contest   string `json:"contest"`
	EventsURL string `json:"events_url"`
	// ScoreboardToken names the public channel /scoreboard/<token>.
	ScoreboardToken string `json:"scoreboard_token"`
	// Viewer and ViewerToken authenticate the feed connection as an admin
	// of Contest.
	Viewer      string `json:"viewer"`
	ViewerToken string `json:"viewer_token"`
	// Expires is when both tokens expire, in Unix seconds.
	Expires int64 `json:"expires"`
	// Problems are the simulated contest's problem aliases in the board's
	// column order (A, B, ...), so the page names each by letter and alias
	// from the start.
	Problems []string `json:"problems"`
	// FeedSince, when set, is the event id the feed subscribes with
	// (since): its history is the recent events. Absent without LastID
	// or when the stream cannot be read.
	FeedSince string `json:"feed_since,omitempty"`
}

// handler serves the page and its config.
type handler struct {
	o HandlerOptions // static after NewHandler
}

// NewHandler returns the demo page's handler. It serves index.html for any
// path ending in "/", and demo.js, demo.css and config.json by their last
// path element, so it works wherever it is mounted (`serve --demo` mounts
// it at /demo/).
func NewHandler(o HandlerOptions) (http.Handler, error) {
	if o.Signer == nil {
		return nil, errors.New("demo: HandlerOptions.Signer is required")
	}
	if o.Contest == "" {
		o.Contest = DefaultContest
	}
	if o.Viewer == "" {
		o.Viewer = "demo-viewer"
	}
	if !protocol.ValidName(o.Contest) || !protocol.ValidName(o.Viewer) {
		return nil, fmt.Errorf("demo: contest %q and viewer %q must be valid names", o.Contest, o.Viewer)
	}
	if o.EventsURL == "" {
		o.EventsURL = "/events/"
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Backfill == 0 {
		o.Backfill = 100
	}
	h := &handler{o: o}
	cfg, err := h.config()
	if err != nil {
		return nil, err
	}
	if v := o.Verifier; v != nil {
		if _, err := v.Verify(cfg.ViewerToken); err != nil {
			return nil, fmt.Errorf("demo: the broadcaster refuses the demo's tokens (is the demo key among --keys?): %w", err)
		}
		if _, _, err := v.VerifyScoreboard(cfg.ScoreboardToken); err != nil {
			return nil, fmt.Errorf("demo: the broadcaster refuses the demo's scoreboard token: %w", err)
		}
	}
	return h, nil
}

// config mints the page's tokens.
func (h *handler) config() (*Config, error) {
	now := h.o.Now()
	sb, err := h.o.Signer.ScoreboardToken(h.o.Contest, h.o.TokenTTL, now)
	if err != nil {
		return nil, fmt.Errorf("demo: minting the scoreboard token: %w", err)
	}
	var c auth.Claims
	c.Subject = h.o.Viewer
	c.ContestsAdmin = []string{h.o.Contest}
	vt, err := h.o.Signer.UserToken(c, h.o.TokenTTL, now)
	if err != nil {
		return nil, fmt.Errorf("demo: minting the viewer token: %w", err)
	}
	return &Config{
		Contest: h.o.Contest, EventsURL: h.o.EventsURL,
		ScoreboardToken: sb, Viewer: h.o.Viewer, ViewerToken: vt,
		Expires: now.Add(h.o.TokenTTL).Unix(), Problems: problemAliases(),
	}, nil
}

var files = map[string]struct{ name, contentType string }{
	"":         {"static/index.html", "text/html; charset=utf-8"},
	"demo.js":  {"static/demo.js", "text/javascript; charset=utf-8"},
	"demo.css": {"static/demo.css", "text/css; charset=utf-8"},
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := path.Base(r.URL.Path)
	if r.URL.Path == "" || r.URL.Path[len(r.URL.Path)-1] == '/' {
		name = ""
	}
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	if name == "config.json" {
		cfg, err := h.config()
		if err != nil {
			http.Error(w, "cannot mint the demo's tokens", http.StatusInternalServerError)
			return
		}
		if h.o.LastID != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			last, err := h.o.LastID(ctx)
			cancel()
			if err == nil {
				cfg.FeedSince = protocol.IDString(last - min(last, h.o.Backfill))
			}
		}
		hd.Set("Content-Type", "application/json")
		hd.Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(cfg)
		return
	}
	f, ok := files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	b, err := static.ReadFile(f.name)
	if err != nil {
		http.Error(w, "missing asset", http.StatusInternalServerError)
		return
	}
	hd.Set("Content-Type", f.contentType)
	hd.Set("Cache-Control", "no-cache")
	// Everything comes from this server; the page opens its WebSocket (or
	// SSE stream) to the same origin.
	hd.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.Write(b)
}

// problemAliases are the aliases of the simulated problems, in order.
func problemAliases() []string {
	out := make([]string, len(problems))
	for i, p := range problems {
		out[i] = p.alias
	}
	return out
}
