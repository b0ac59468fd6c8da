package ccs_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/arenacast/arenacast/broadcaster/ccs"
	"github.com/arenacast/arenacast/broadcaster/ccs/ccsfake"
)

// TestServedFeedOptions: since_token resumes after a served token,
// types= filters, stream=true goes on live with the idle newline, and
// every refusal has its status.
func TestServedFeedOptions(t *testing.T) {
	feed := contestFeed(11, false)
	bus := openBus(t)
	fake, url := startFake(t, feed, ccsfake.ServerConfig{})
	half := len(feed.Lines) / 2
	fake.SetAvailable(half)
	node := startFeed(t, bus, 50*time.Millisecond)
	startFollower(t, bus, url)
	admin := node.token(t, "jury", true)
	want := expected(t, feed, half, reader{admin: true})
	waitUntil(t, "the feed to hold half the contest", func() bool { return node.count(t, "?stream=false", admin) >= len(want) })

	all := node.readAll(t, "?stream=false", admin)
	t.Run("since_token", func(t *testing.T) {
		n, _ := ccs.ParseNotification(all[9])
		rest := node.readAll(t, "?stream=false&since_token="+n.Token, admin)
		if !slices.Equal(servedKeys(t, rest), servedKeys(t, all[10:])) {
			t.Fatalf("since_token %s served %d notifications, want the %d after it", n.Token, len(rest), len(all)-10)
		}
	})
	t.Run("types", func(t *testing.T) {
		got := node.readAll(t, "?stream=false&types=problems,teams", admin)
		if len(got) != 5+12 {
			t.Fatalf("types=problems,teams served %d notifications, want 17", len(got))
		}
		for _, l := range got {
			if n, _ := ccs.ParseNotification(l); n.Type != "problems" && n.Type != "teams" {
				t.Fatalf("types=problems,teams served a %s", n.Type)
			}
		}
	})
	t.Run("live with idle newline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		last, _ := ccs.ParseNotification(all[len(all)-1])
		resp := node.get(t, ctx, "wf", "?since_token="+last.Token, admin)
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/x-ndjson" {
			t.Fatalf("live feed: %s, %s", resp.Status, ct)
		}
		br := bufio.NewReader(resp.Body)
		line, err := br.ReadString('\n')
		if err != nil || line != "\n" {
			t.Fatalf("idle live feed sent %q, %v; want the keep-alive newline", line, err)
		}
		fake.SetAvailable(len(feed.Lines))
		for {
			line, err = br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if line != "\n" {
				break
			}
		}
		if got, want := noteKey(t, []byte(line)), expected(t, feed, len(feed.Lines), reader{admin: true})[len(all)]; got != want {
			t.Fatalf("first live notification %s, want %s", got, want)
		}
	})
	other := node.token(t, "someone", false)
	for _, tc := range []struct {
		name, contest, q, tok string
		status                int
	}{
		{"since_token not an id", "wf", "?since_token=tk000001", admin, http.StatusBadRequest},
		{"since_token from the future", "wf", "?since_token=99999999", admin, http.StatusBadRequest},
		{"stream not a boolean", "wf", "?stream=maybe", admin, http.StatusBadRequest},
		{"bad token", "wf", "", "not-a-jwt", http.StatusUnauthorized},
		{"unknown contest, anonymous", "nope", "", "", http.StatusNotFound},
		{"admin of another contest", "nope", "", admin, http.StatusForbidden},
		{"participant of the contest is fine", "wf", "?stream=false", other, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := node.get(t, context.Background(), tc.contest, tc.q, tc.tok)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("got %s, want %d", resp.Status, tc.status)
			}
		})
	}
	t.Run("token of another contest", func(t *testing.T) {
		tok, err := node.signer.UserToken(claimsFor("x", "other"), time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		resp := node.get(t, context.Background(), "wf", "?stream=false", tok)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("got %s, want 403", resp.Status)
		}
	})
}

// TestServedFeedTokenRules: without Anonymous a reader needs a token
// (401), and a live feed ends when its reader's token expires.
func TestServedFeedTokenRules(t *testing.T) {
	feed := contestFeed(13, false)
	bus := openBus(t)
	_, url := startFake(t, feed, ccsfake.ServerConfig{})
	node := startFeed(t, bus, time.Minute, func(c *ccs.FeedConfig) { c.Anonymous = false })
	startFollower(t, bus, url)
	admin := node.token(t, "jury", true)
	waitUntil(t, "the contest on the feed", func() bool { return node.count(t, "?stream=false", admin) > 0 })
	resp := node.get(t, context.Background(), "wf", "?stream=false", "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous reader got %s, want 401", resp.Status)
	}
	c := claimsFor("team-t1", "wf")
	short, err := node.signer.UserToken(c, 2*time.Second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	live := node.get(t, ctx, "wf", "", short)
	defer live.Body.Close()
	if live.StatusCode != http.StatusOK {
		t.Fatalf("live read: %s", live.Status)
	}
	if _, err := io.Copy(io.Discard, live.Body); err != nil {
		t.Fatalf("live feed did not end cleanly at the token's expiry: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("live feed outlived its token")
	}
}
