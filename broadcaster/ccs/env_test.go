package ccs_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster/ccs"
	"github.com/arenacast/arenacast/broadcaster/ccs/ccsfake"
	"github.com/arenacast/arenacast/broadcaster/natsbus"
	"github.com/arenacast/arenacast/protocol"
)

// waitFor bounds every wait: generous for a busy 2-core machine under
// -race.
const waitFor = 60 * time.Second

var testSecret = []byte("arenacast-test-secret-0123456789abcdef")

func openBus(t testing.TB) *natsbus.Bus {
	t.Helper()
	bus, err := natsbus.Open(context.Background(), natsbus.Config{DataDir: t.TempDir(), MaxAge: time.Hour})
	if err != nil {
		t.Fatalf("natsbus.Open: %v", err)
	}
	t.Cleanup(bus.Close)
	return bus
}

// startFake serves feed on loopback and returns the fake and the feed URL.
func startFake(t testing.TB, feed *ccsfake.Feed, cfg ccsfake.ServerConfig) (*ccsfake.Server, string) {
	t.Helper()
	cfg.Username, cfg.Password = "cds", "secret-pw"
	fake := ccsfake.NewServer(feed, cfg)
	hs := httptest.NewServer(fake)
	t.Cleanup(hs.Close)
	return fake, hs.URL + "/api/contests/" + feed.ContestID + "/event-feed"
}

// follower is a running ccs.Follower.
type follower struct {
	*ccs.Follower
	cancel context.CancelFunc
	done   chan struct{}
}

func startFollower(t testing.TB, bus *natsbus.Bus, url string, tweak ...func(*ccs.FollowerConfig)) *follower {
	t.Helper()
	cfg := ccs.FollowerConfig{
		FeedURL: url, Username: "cds", Password: "secret-pw", Contest: "wf", Bus: bus,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	f, err := ccs.NewFollower(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fl := &follower{Follower: f, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(fl.done)
		if err := f.Run(ctx); err != nil {
			t.Errorf("Follower.Run: %v", err)
		}
	}()
	t.Cleanup(fl.stop)
	return fl
}

func (f *follower) stop() {
	f.cancel()
	<-f.done
}

// streamEvents returns the events of /contest/wf on the stream.
func streamEvents(t testing.TB, bus *natsbus.Bus) []*protocol.Event {
	t.Helper()
	ctx := context.Background()
	last, err := bus.LastID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*protocol.Event
	if last == 0 {
		return nil
	}
	ch, _ := protocol.ParseChannel("/contest/wf")
	if _, err := bus.Replay(ctx, ch, 0, last, func(ev *protocol.Event) bool { out = append(out, ev); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

// primaries returns the notifications of the stream's primary ccs events
// (not shares or releases), in order.
func primaries(t testing.TB, evs []*protocol.Event) []*ccs.Notification {
	t.Helper()
	var out []*ccs.Notification
	for _, ev := range evs {
		if !strings.HasPrefix(ev.Type, "ccs_") || strings.HasSuffix(ev.Type, "_share") || strings.HasSuffix(ev.Type, "_release") {
			continue
		}
		n, err := ccs.ParseNotification(ev.Data)
		if err != nil {
			t.Fatalf("event %d holds no notification: %v", ev.ID, err)
		}
		out = append(out, n)
	}
	return out
}

// waitUntil polls cond until it holds or waitFor passes.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitStream waits until the stream holds n primary notifications.
func waitStream(t testing.TB, bus *natsbus.Bus, n int) []*protocol.Event {
	t.Helper()
	var evs []*protocol.Event
	waitUntil(t, "the stream to hold the feed", func() bool {
		evs = streamEvents(t, bus)
		return len(primaries(t, evs)) >= n
	})
	return evs
}

// noteKey identifies a notification's content (type, id, data) whatever
// its token.
func noteKey(t testing.TB, raw []byte) string {
	t.Helper()
	n, err := ccs.ParseNotification(raw)
	if err != nil {
		t.Fatalf("not a notification: %v: %s", err, raw)
	}
	var d bytes.Buffer
	if err := json.Compact(&d, n.Data); err != nil {
		t.Fatal(err)
	}
	return n.Type + "|" + n.ID + "|" + d.String()
}

// feedNode is a ccs.Feed on the bus, served on loopback.
type feedNode struct {
	feed   *ccs.Feed
	url    string
	signer *auth.Signer
}

func startFeed(t testing.TB, bus *natsbus.Bus, keepAlive time.Duration, tweak ...func(*ccs.FeedConfig)) *feedNode {
	t.Helper()
	n := startFeedUnready(t, bus, append([]func(*ccs.FeedConfig){func(c *ccs.FeedConfig) { c.KeepAlive = keepAlive }}, tweak...)...)
	select {
	case <-n.feed.Ready():
	case <-time.After(waitFor):
		t.Fatal("feed not ready")
	}
	return n
}

// startFeedUnready is startFeed without waiting for the feed to be ready.
func startFeedUnready(t testing.TB, bus *natsbus.Bus, tweak ...func(*ccs.FeedConfig)) *feedNode {
	t.Helper()
	keys := auth.NewKeySet()
	if err := keys.AddHMAC("test", testSecret); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.VerifierOptions{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ccs.FeedConfig{Bus: bus, Verifier: v, Anonymous: true}
	for _, f := range tweak {
		f(&cfg)
	}
	feed, err := ccs.NewFeed(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := feed.Run(ctx); err != nil {
			t.Errorf("Feed.Run: %v", err)
		}
	}()
	hs := httptest.NewServer(feed)
	t.Cleanup(func() { hs.Close(); cancel(); <-done })
	return &feedNode{feed: feed, url: hs.URL, signer: auth.NewHMACSigner("test", testSecret)}
}

// token mints a user token for sub with the given grants on contest wf.
func (n *feedNode) token(t testing.TB, sub string, admin bool) string {
	t.Helper()
	c := auth.Claims{}
	c.Subject = sub
	if admin {
		c.ContestsAdmin = []string{"wf"}
	} else {
		c.Contests = []string{"wf"}
	}
	tok, err := n.signer.UserToken(c, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// get requests the feed with query q and bearer token tok ("" for none).
func (n *feedNode) get(t testing.TB, ctx context.Context, contest, q, tok string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.url+"/api/contests/"+contest+"/event-feed"+q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// readAll reads a stream=false feed and returns its lines.
func (n *feedNode) readAll(t testing.TB, q, tok string) [][]byte {
	t.Helper()
	resp := n.get(t, context.Background(), "wf", q, tok)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("feed: %s: %s", resp.Status, b)
	}
	var out [][]byte
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func claimsFor(sub, contest string) auth.Claims {
	c := auth.Claims{Contests: []string{contest}}
	c.Subject = sub
	return c
}
