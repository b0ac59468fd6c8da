package demo

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

var secret = []byte("arenacast-demo-test-secret-0123456789")

func verifier(t *testing.T, kid string, key []byte) *auth.Verifier {
	t.Helper()
	ks := auth.NewKeySet()
	if err := ks.AddHMAC(kid, key); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.VerifierOptions{Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func get(t *testing.T, h http.Handler, method, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestHandlerServesThePage(t *testing.T) {
	v := verifier(t, "demo", secret)
	h, err := NewHandler(HandlerOptions{Signer: auth.NewHMACSigner("demo", secret), Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, ctype, has string }{
		{"/demo/", "text/html", `<script src="demo.js">`},
		{"/demo/demo.js", "text/javascript", "Generated from client-js/demo/main.ts"},
		{"/demo/demo.css", "text/css", "#feed"},
	} {
		res, body := get(t, h, http.MethodGet, c.path)
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), c.ctype) || !strings.Contains(body, c.has) {
			t.Errorf("GET %s: %d %q, body has %q: %v", c.path, res.StatusCode, res.Header.Get("Content-Type"), c.has, strings.Contains(body, c.has))
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", c.path, csp)
		}
	}
	// The page loads nothing from elsewhere: the machine may have no internet.
	for _, f := range []string{"static/index.html", "static/demo.css"} {
		b, _ := static.ReadFile(f)
		if s := string(b); strings.Contains(s, "http://") || strings.Contains(s, "https://") || strings.Contains(s, "@import") {
			t.Errorf("%s refers to an outside resource", f)
		}
	}
	if res, _ := get(t, h, http.MethodGet, "/demo/nope.js"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown file: %d", res.StatusCode)
	}
	if res, _ := get(t, h, http.MethodPost, "/demo/config.json"); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", res.StatusCode)
	}
}

func TestHandlerConfigTokens(t *testing.T) {
	v := verifier(t, "demo", secret)
	now := time.Now()
	h, err := NewHandler(HandlerOptions{Signer: auth.NewHMACSigner("demo", secret), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	res, body := get(t, h, http.MethodGet, "/demo/config.json")
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("config.json: %d, Cache-Control %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}
	var cfg Config
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Contest != "demo" || cfg.EventsURL != "/events/" || cfg.Viewer != "demo-viewer" || cfg.Expires != now.Add(time.Hour).Unix() {
		t.Errorf("config: %+v", cfg)
	}
	contest, _, err := v.VerifyScoreboard(cfg.ScoreboardToken)
	if err != nil || contest != "demo" {
		t.Errorf("scoreboard token: %q, %v", contest, err)
	}
	if len("/scoreboard/"+cfg.ScoreboardToken) > protocol.MaxChannelLen {
		t.Error("the scoreboard channel name is too long")
	}
	p, err := v.Verify(cfg.ViewerToken)
	if err != nil {
		t.Fatal(err)
	}
	// The viewer sees everything on the demo contest, and nothing else.
	ch := func(s string) protocol.Channel {
		c, err := protocol.ParseChannel(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if p.User != "demo-viewer" || p.SiteAdmin || p.Publish {
		t.Errorf("viewer: %+v", p)
	}
	if a := auth.ChannelAccess(p, ch("/contest/demo")); a != auth.AccessAll {
		t.Errorf("viewer on /contest/demo: %v", a)
	}
	if a := auth.ChannelAccess(p, ch("/contest/other")); a != auth.AccessNone {
		t.Errorf("viewer on /contest/other: %v", a)
	}
}

func TestNewHandlerRefusesAKeyTheBroadcasterDoesNotKnow(t *testing.T) {
	other := verifier(t, "other", []byte("another-secret-of-at-least-32-bytes!!"))
	if _, err := NewHandler(HandlerOptions{Signer: auth.NewHMACSigner("demo", secret), Verifier: other}); err == nil {
		t.Error("want an error")
	}
	if _, err := NewHandler(HandlerOptions{}); err == nil {
		t.Error("no signer: want an error")
	}
}

// TestHandlerFeedSince: config.json names the position the feed resumes
// from, Backfill positions before the stream's end, so a fresh page shows
// the recent events; without a readable stream it names none.
func TestHandlerFeedSince(t *testing.T) {
	cases := []struct {
		name   string
		lastID func(context.Context) (uint64, error)
		want   string
	}{
		{"long stream", func(context.Context) (uint64, error) { return 250, nil }, "150"},
		{"short stream", func(context.Context) (uint64, error) { return 30, nil }, "0"},
		{"stream unavailable", func(context.Context) (uint64, error) { return 0, errors.New("down") }, ""},
		{"no stream", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := NewHandler(HandlerOptions{Signer: auth.NewHMACSigner("demo", secret), LastID: tc.lastID})
			if err != nil {
				t.Fatal(err)
			}
			res, body := get(t, h, http.MethodGet, "/demo/config.json")
			var cfg Config
			if err := json.Unmarshal([]byte(body), &cfg); res.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("%d %v: %s", res.StatusCode, err, body)
			}
			if cfg.FeedSince != tc.want {
				t.Fatalf("feed_since %q, want %q", cfg.FeedSince, tc.want)
			}
			if strings.Join(cfg.Problems, " ") != "sum-two grid-paths brackets orbits" {
				t.Fatalf("problems %v", cfg.Problems)
			}
		})
	}
}
