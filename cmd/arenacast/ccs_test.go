package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/arenacast/arenacast/broadcaster/ccs/ccsfake"
)

// TestCCSFollowEndToEnd runs the real program: serve --ccs-feed with an
// embedded NATS listening on loopback, ccs-follow against a fake CCS that
// drops connections, and an anonymous reader of the served feed, which ends
// up with the contest's public view, releases at the thaw included.
func TestCCSFollowEndToEnd(t *testing.T) {
	dir := t.TempDir()
	keys, _ := filepath.Abs("../../testdata/devkeys")
	addrFile := filepath.Join(dir, "addr")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var serveOut syncBuffer
	served := make(chan int, 1)
	go func() {
		served <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--addr-file", addrFile, "--nats-listen", "127.0.0.1:0",
			"--data-dir", filepath.Join(dir, "data"), "--keys", keys, "--shutdown-drain", "10ms", "--ccs-feed",
			"--metrics-listen", "127.0.0.1:0"}, &serveOut, &serveOut)
	}()
	natsRe := regexp.MustCompile(`url=(nats://127\.0\.0\.1:\d+)`)
	var addr, natsURL string
	deadline := time.Now().Add(serveStartWithin)
	for addr == "" {
		if b, err := os.ReadFile(addrFile); err == nil {
			addr = string(b)
		}
		select {
		case code := <-served:
			t.Fatalf("serve exited with %d: %s", code, serveOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", serveOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	m := natsRe.FindStringSubmatch(serveOut.String())
	if m == nil {
		t.Fatalf("no embedded NATS URL in the log: %s", serveOut.String())
	}
	natsURL = m[1]

	feed := ccsfake.Generate(ccsfake.Config{Teams: 6, Problems: 3, Submissions: 40, Clarifications: 8, Malformed: 2, Seed: 4})
	want, withheld := 0, map[string]bool{}
	for _, l := range feed.Lines {
		switch {
		case l.Malformed:
		case l.Vis == ccsfake.VisPublic:
			want++
		case l.Vis == ccsfake.VisWithheld:
			withheld[l.Type+"/"+l.ID] = true
		}
	}
	want += len(withheld)
	fake := ccsfake.NewServer(feed, ccsfake.ServerConfig{Username: "cds", Password: "pw", DropEvery: 30, Seed: 1})
	hs := httptest.NewServer(fake)
	// Stop the follower first: Close waits for its open feed request (a
	// failing check would otherwise hang here).
	defer func() { stop(); hs.Close() }()

	var followOut syncBuffer
	followed := make(chan int, 1)
	t.Setenv("ARENACAST_CCS_PASSWORD", "pw")
	go func() {
		followed <- run(ctx, []string{"ccs-follow", "--feed-url", hs.URL + "/api/contests/wf/event-feed", "--ccs-user", "cds",
			"--contest", "wf", "--nats-url", natsURL, "--min-backoff", "1ms", "--max-backoff", "20ms",
			"--metrics-listen", "127.0.0.1:0"}, &followOut, &followOut)
	}()
	count := func() int {
		resp, err := http.Get("http://" + addr + "/api/contests/wf/event-feed?stream=false")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return -1
		}
		n := 0
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if len(sc.Bytes()) > 0 {
				n++
			}
		}
		return n
	}
	deadline = time.Now().Add(60 * time.Second)
	for got := count(); got != want; got = count() {
		if time.Now().After(deadline) || got > want {
			t.Fatalf("public feed has %d notifications, want %d\nfollower: %s", got, want, followOut.String())
		}
		select {
		case code := <-followed:
			t.Fatalf("ccs-follow exited with %d: %s", code, followOut.String())
		default:
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The served lines are on serve's /metrics (each count() above read
	// them all), what the follower published on its own.
	scrape := func(who, log string) string {
		t.Helper()
		mm := regexp.MustCompile(`"metrics listening" addr=(\S+)`).FindStringSubmatch(log)
		if mm == nil {
			t.Fatalf("no metrics address in %s's log: %s", who, log)
		}
		resp, err := http.Get("http://" + mm[1] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	nonZero := func(body, series string) bool {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\d+)$`).FindStringSubmatch(body)
		return m != nil && m[1] != "0"
	}
	if body := scrape("serve", serveOut.String()); !nonZero(body, "arenacast_ccs_feed_lines_total") ||
		!strings.Contains(body, "arenacast_ccs_feed_ready 1") {
		t.Fatalf("serve's /metrics without the feed's lines and readiness: %.2000s", body)
	}
	if body := scrape("ccs-follow", followOut.String()); !nonZero(body, `arenacast_ccs_follow_published_total{contest="wf"}`) ||
		!nonZero(body, `arenacast_ccs_follow_skipped_total{contest="wf",reason="malformed"}`) {
		t.Fatalf("ccs-follow's /metrics without what it published and skipped: %.2000s", body)
	}
	if regexp.MustCompile(`pw\b`).MatchString(followOut.String()) {
		t.Fatalf("the follower logged the CCS password: %s", followOut.String())
	}
	stop()
	if code := <-followed; code != 0 {
		t.Fatalf("ccs-follow exited with %d: %s", code, followOut.String())
	}
	if code := <-served; code != 0 {
		t.Fatalf("serve exited with %d: %s", code, serveOut.String())
	}
}
