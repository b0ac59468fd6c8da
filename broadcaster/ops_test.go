package broadcaster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/broadcaster/metrics"
	"github.com/arenacast/arenacast/protocol"
)

func postJSON(t *testing.T, url, bearer, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRevocation: the platform withdraws one contest grant, then every
// session of a user, before the tokens expire.
func TestRevocation(t *testing.T) {
	e := newEnv(t, nil)
	oldTok := e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1", "c2"} })
	alice := e.dial(dialOpts{})
	alice.auth(oldTok)
	alice.subscribe("/contest/c1")
	alice.subscribe("/contest/c2")
	bob := e.dial(dialOpts{})
	bob.auth(e.token("bob", func(c *auth.Claims) { c.Contests = []string{"c1"} }))
	bob.subscribe("/contest/c1")

	if code, body := postJSON(t, e.http.URL+"/revoke", "test-publish-key", `{"user":"alice","contest":"c1"}`); code != 202 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	alice.expect("unsubscribed", map[string]any{"channel": "/contest/c1", "reason": "revoked"})
	id := e.publish("contest_update", "/contest/c2", "", true, `{}`)
	alice.expect("contest_update", map[string]any{"id": protocol.IDString(id)})
	if m := alice.subscribe("/contest/c1"); m["error"] != "unauthorized" {
		t.Fatalf("re-subscribe after revocation: %v", m)
	}
	id = e.publish("contest_update", "/contest/c1", "", true, `{}`)
	bob.expect("contest_update", map[string]any{"id": protocol.IDString(id)})

	// A token issued after the revocation grants c1 again.
	c := auth.Claims{Contests: []string{"c1", "c2"}}
	c.Subject = "alice"
	newTok, err := e.signer.UserToken(c, time.Hour, time.Now().Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	fresh := e.dial(dialOpts{})
	fresh.auth(newTok)
	if m := fresh.subscribe("/contest/c1"); m["type"] != "subscribed" {
		t.Fatalf("fresh token: %v", m)
	}

	// Every session of alice issued before now ends with 4503; bob stays.
	if code, body := postJSON(t, e.http.URL+"/revoke", "test-publish-key", `{"user":"alice"}`); code != 202 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	alice.expectClose(protocol.CloseSessionRevoked)
	again := e.dial(dialOpts{})
	again.send(map[string]any{"type": "auth", "token": oldTok})
	again.expect("error", map[string]any{"error": "unauthorized"})
	id = e.publish("contest_update", "/contest/c1", "", true, `{}`)
	bob.expect("contest_update", map[string]any{"id": protocol.IDString(id)})

	for _, bad := range []struct{ key, body string }{
		{"test-publish-key", `{"user":"a b"}`},
		{"test-publish-key", `{"user":"alice","contest":"c1","problem":"p"}`},
		{"test-publish-key", `{"usr":"alice"}`},
	} {
		if code, _ := postJSON(t, e.http.URL+"/revoke", bad.key, bad.body); code != 400 {
			t.Errorf("%s: status %d, want 400", bad.body, code)
		}
	}
	if code, _ := postJSON(t, e.http.URL+"/revoke", e.token("alice", nil), `{"user":"bob"}`); code != 401 {
		t.Errorf("a user token revoked someone: %d", code)
	}
}

// TestMetrics scrapes /metrics after a known sequence of events.
func TestMetrics(t *testing.T) {
	e := newEnv(t, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.New(e.srv, e.bus))
	ms := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer ms.Close()

	cl := e.dial(dialOpts{})
	cl.send(map[string]any{"type": "auth", "token": e.token("alice", nil) + "x"})
	cl.expect("error", map[string]any{"error": "unauthorized"})
	cl.auth(e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} }))
	cl.subscribe("/contest/c1")
	for range 2 {
		e.publish("clarification", "/contest/c1", "", true, `{}`)
		cl.expect("clarification", nil)
	}
	e.publish("run_update", "/contest/c1", "bob", false, `{}`) // consumed, delivered to nobody
	// A write is counted (its latency observed) after the socket took it,
	// so the client may read an event before its write is counted: wait
	// for both writes as for the consumed events (seen under load:
	// latency count 1, frames written 4, right after the second event
	// arrived).
	waitUntil(t, func() bool {
		st := e.srv.Stats()
		var writes uint64
		for _, n := range st.LatencyCounts {
			writes += n
		}
		return st.EventsConsumed == 3 && writes >= 2
	})

	resp, err := http.Get(ms.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		"arenacast_events_consumed_total 3",
		"arenacast_events_delivered_total 2",
		`arenacast_auth_failures_total{reason="signature"} 1`,
		`arenacast_connections_open{transport="websocket"} 1`,
		`arenacast_subscriptions{kind="contest"} 1`,
		"arenacast_delivery_latency_seconds_count 2", // two writes, one event each
		`arenacast_delivery_latency_seconds_bucket{le="0.025"} `,
		`arenacast_delivery_latency_seconds_bucket{le="+Inf"} 2`,
		"arenacast_nats_connected 1",
		"arenacast_consumer_lag_events 0",
		`arenacast_events_dropped_total{reason="slow_consumer"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readyz(t *testing.T, e *env) (int, broadcaster.Readiness) {
	t.Helper()
	resp, err := http.Get(e.http.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r broadcaster.Readiness
	json.NewDecoder(resp.Body).Decode(&r)
	return resp.StatusCode, r
}

// TestNATSRestart: /readyz follows NATS down and up again; clients keep
// their connections and receive events published after NATS returns.
func TestNATSRestart(t *testing.T) {
	opts := jetStreamOptions(t.TempDir())
	ns := natstest.RunServer(&opts)
	url := ns.ClientURL()
	e := newNode(t, nodeConfig{natsURL: url})
	cl := e.dial(dialOpts{})
	cl.auth(e.token("root", func(c *auth.Claims) { c.SiteAdmin = true }))
	cl.subscribe("/contest/c1")
	if code, r := readyz(t, e); code != 200 || !r.Ready || r.Clients["websocket"] != 1 {
		t.Fatalf("readyz before: %d %+v", code, r)
	}
	resp, _ := http.Get(e.http.URL + "/healthz")
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	resp.Body.Close()

	port := ns.Addr().(*net.TCPAddr).Port
	ns.Shutdown()
	ns.WaitForShutdown()
	waitUntil(t, func() bool { code, _ := readyz(t, e); return code == 503 })

	opts.Port = port
	ns2 := natstest.RunServer(&opts)
	defer ns2.Shutdown()
	waitUntil(t, func() bool { code, _ := readyz(t, e); return code == 200 })
	id := e.publish("contest_update", "/contest/c1", "", true, `{"after":"restart"}`)
	cl.expect("contest_update", map[string]any{"id": protocol.IDString(id)})
}

// TestRunWaitsForNATS: a node whose NATS goes away between opening its
// stream and Run reading the stream's position waits for NATS (logging
// each failed attempt) instead of ending Run with an error, and once NATS
// is back it gets ready and delivers.
func TestRunWaitsForNATS(t *testing.T) {
	opts := jetStreamOptions(t.TempDir())
	ns := natstest.RunServer(&opts)
	port := ns.Addr().(*net.TCPAddr).Port
	logs := &lockedBuffer{}
	back := make(chan *natsserver.Server, 1)
	e := newNode(t, nodeConfig{
		natsURL:     ns.ClientURL(),
		opts:        func(o *broadcaster.Options) { o.Logger = slog.New(slog.NewTextHandler(logs, nil)) },
		readyWithin: 3 * waitFor, // the first attempt waits out the request timeout (5 s)
		beforeRun: func() {
			ns.Shutdown()
			ns.WaitForShutdown()
			go func() { // NATS returns once Run has tried and failed
				deadline := time.Now().Add(3 * waitFor)
				for !strings.Contains(logs.String(), "reading the stream position failed; retrying") && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				o := opts
				o.Port = port
				back <- natstest.RunServer(&o)
			}()
		},
	})
	ns2 := <-back
	defer ns2.Shutdown()
	if !strings.Contains(logs.String(), "reading the stream position failed; retrying") {
		t.Fatal("ready without a failed attempt: NATS was not away when Run started")
	}
	cl := e.dial(dialOpts{})
	cl.auth(e.token("root", func(c *auth.Claims) { c.SiteAdmin = true }))
	cl.subscribe("/contest/c1")
	id := e.publish("contest_update", "/contest/c1", "", true, `{"after":"wait"}`)
	cl.expect("contest_update", map[string]any{"id": protocol.IDString(id)})
}

// jetStreamOptions are a test NATS server's options with JetStream storing
// in dir, on a port of its own.
func jetStreamOptions(dir string) natsserver.Options {
	opts := natstest.DefaultTestOptions
	opts.Port = -1
	opts.JetStream = true
	opts.StoreDir = dir
	return opts
}

// lockedBuffer is a log sink that the node's goroutines write while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestGracefulShutdown: every client is told to reconnect (4000), spread
// over the drain window, and the node reports not ready while draining.
func TestGracefulShutdown(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.token("root", func(c *auth.Claims) { c.SiteAdmin = true })
	var clients []*client
	for range 5 {
		cl := e.dial(dialOpts{})
		cl.auth(tok)
		clients = append(clients, cl)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(ctx, 500*time.Millisecond) }()
	waitUntil(t, func() bool { code, r := readyz(t, e); return code == 503 && r.Draining })
	for _, cl := range clients {
		cl.expectClose(protocol.CloseServerShutdown)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Five closes, four pauses of a fifth of the window between them: the
	// spread can only make shutdown slower, so this bound is deterministic.
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("closes not spread: shutdown took %v", d)
	}
	// New connections are sent away while draining, with a reconnect code
	// (a terminal one would strand clients during a rolling deploy).
	cl := e.dial(dialOpts{})
	cl.expectClose(protocol.CloseServerShutdown)
}

// TestShutdownWritesCloseFrames: when Shutdown returns, every client's
// 4000 close frame has been written, so a process that exits right then
// (here: every server-side connection closed at once) still tells every
// client to reconnect.
func TestShutdownWritesCloseFrames(t *testing.T) {
	e := newEnv(t, nil)
	var mu sync.Mutex
	var conns []net.Conn
	hs := httptest.NewUnstartedServer(e.srv.Handler())
	hs.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateHijacked {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}
	hs.Start()
	orig := e.http
	e.http = hs
	t.Cleanup(orig.Close)
	tok := e.token("root", func(c *auth.Claims) { c.SiteAdmin = true })
	var clients []*client
	for range 50 {
		cl := e.dial(dialOpts{})
		cl.auth(tok)
		clients = append(clients, cl)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := e.srv.Shutdown(ctx, 0); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	for _, cl := range clients {
		cl.expectClose(protocol.CloseServerShutdown)
	}
}

// TestConnectionLimit: past MaxConnections a WebSocket is closed with 4502
// and an SSE request gets 503; the connections already open keep working.
func TestConnectionLimit(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) { o.MaxConnections = 1 })
	tok := e.token("root", func(c *auth.Claims) { c.SiteAdmin = true })
	first := e.dial(dialOpts{})
	first.auth(tok)
	first.subscribe("/contest/c1")
	second := e.dial(dialOpts{})
	second.expectClose(protocol.CloseConnectionLimit)
	req, _ := http.NewRequest(http.MethodGet, e.http.URL+"/events/?channel=/contest/c1", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("SSE past the limit: %d", resp.StatusCode)
	}
	id := e.publish("contest_update", "/contest/c1", "", true, `{}`)
	first.expect("contest_update", map[string]any{"id": protocol.IDString(id)})
}

// TestKeepaliveTimeout: a client that never answers pings is closed with
// 4002; a client that does stays.
func TestKeepaliveTimeout(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) {
		o.PingInterval = 100 * time.Millisecond
		o.PongTimeout = 300 * time.Millisecond
	})
	tok := e.token("root", func(c *auth.Claims) { c.SiteAdmin = true })
	deaf := e.dial(dialOpts{noRead: true}) // pongs are sent only while reading
	deaf.send(map[string]any{"type": "auth", "token": tok})
	alive := e.dial(dialOpts{})
	alive.auth(tok)
	alive.subscribe("/contest/c1")
	waitUntil(t, func() bool { return e.srv.Stats().Closes[protocol.CloseKeepaliveTimeout] == 1 })
	id := e.publish("contest_update", "/contest/c1", "", true, `{}`)
	alive.expect("contest_update", map[string]any{"id": protocol.IDString(id)})
}

// TestTokenRefresh: re-auth with a token that drops a grant ends that
// subscription and keeps the others without repeating events.
func TestTokenRefresh(t *testing.T) {
	e := newEnv(t, nil)
	cl := e.dial(dialOpts{})
	cl.auth(e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1", "c2"} }))
	cl.subscribe("/contest/c1")
	cl.subscribe("/contest/c2")
	id1 := e.publish("contest_update", "/contest/c1", "", true, `{}`)
	cl.expect("contest_update", map[string]any{"id": protocol.IDString(id1)})
	cl.auth(e.token("alice", func(c *auth.Claims) { c.ContestsAdmin = []string{"c1"} }))
	cl.expect("unsubscribed", map[string]any{"channel": "/contest/c2", "reason": "revoked"})
	// Now an admin of c1: sees private events there.
	id2 := e.publish("run_update", "/contest/c1", "bob", false, `{}`)
	e.publish("contest_update", "/contest/c2", "", true, `{}`)
	id3 := e.publish("contest_update", "/contest/c1", "", true, `{}`)
	cl.expect("run_update", map[string]any{"id": protocol.IDString(id2)})
	cl.expect("contest_update", map[string]any{"id": protocol.IDString(id3)})
}

// TestTokenExpiry: the server warns before expiry and closes with 4003 when
// no fresh token came.
func TestTokenExpiry(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) {
		o.ExpiryWarning = time.Hour // warn at once
		o.ExpiryGrace = 100 * time.Millisecond
	})
	c := auth.Claims{}
	c.Subject = "alice"
	tok, err := e.signer.UserToken(c, 2*time.Second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cl := e.dial(dialOpts{})
	cl.auth(tok)
	cl.expect("error", map[string]any{"error": "token_expired"})
	cl.expectClose(protocol.CloseTokenExpired)
}

// TestReadinessConsumerStall: a node whose consumer makes no progress
// while the stream grows turns unready ("consumer":"stalled", with its
// lag), though NATS is connected and the stream answers. The consumer is
// stopped outright here (a single real NATS server); after a stream
// leader dies the drills saw the same from the outside: connected, the
// lag rising, nothing delivered.
func TestReadinessConsumerStall(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) { o.ConsumerStall = 300 * time.Millisecond })
	id := e.publish("clarification", "/contest/c1", "", true, `{}`)
	waitUntil(t, func() bool { return e.srv.Stats().LastConsumed >= id })
	if code, r := readyz(t, e); code != 200 || r.Consumer != "ok" || r.Lag != 0 {
		t.Fatalf("readyz %d %+v, want 200, consumer ok, lag 0", code, r)
	}
	e.cancel() // the consumer stops; NATS and the HTTP side stay
	<-e.done
	for range 3 {
		e.publish("clarification", "/contest/c1", "", true, `{}`)
	}
	var r broadcaster.Readiness
	waitUntil(t, func() bool {
		var code int
		code, r = readyz(t, e)
		return code == http.StatusServiceUnavailable
	})
	if r.Ready || r.Consumer != "stalled" || r.NATS != "connected" || r.Lag != 3 {
		t.Fatalf("readyz %+v, want consumer stalled with lag 3 while NATS is connected", r)
	}
}
