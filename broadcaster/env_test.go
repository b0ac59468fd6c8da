package broadcaster_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/broadcaster/natsbus"
	"github.com/arenacast/arenacast/protocol"
)

// waitFor is the generous deadline every wait in these tests uses: long
// enough for a busy 2-core machine under -race, short enough to end a hung
// test.
const waitFor = 20 * time.Second

var testSecret = []byte("arenacast-test-secret-0123456789abcdef")

// env is one broadcaster node on a real (embedded, in-process) NATS with
// JetStream, served over loopback.
type env struct {
	t      *testing.T
	bus    *natsbus.Bus
	srv    *broadcaster.Server
	http   *httptest.Server
	signer *auth.Signer
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once // guards close
}

// nodeConfig tweaks a test node.
type nodeConfig struct {
	opts       func(*broadcaster.Options)
	natsURL    string // empty: a fresh embedded server
	natsListen string // embedded server's client address, for other nodes
	dataDir    string
	// maxMsgs bounds the stream's history (natsbus.Config.MaxMsgs); every
	// node on one NATS must use the same value, or the last one opened
	// reshapes the stream. 0: natsbus's default.
	maxMsgs int64
	// ticketTTL and ticketClock shape the node's SSE tickets. Zero: one
	// minute on the real clock.
	ticketTTL   time.Duration
	ticketClock func() time.Time
	// http2 serves the node over TLS with HTTP/2 (httptest), where SSE
	// stays with net/http instead of taking the connection over.
	http2 bool
	// beforeRun runs just before the node's Run starts (its bus open and
	// read); readyWithin, when set, replaces waitFor as the wait for ready.
	beforeRun   func()
	readyWithin time.Duration
}

func newEnv(t *testing.T, tweak func(*broadcaster.Options)) *env {
	return newNode(t, nodeConfig{opts: tweak})
}

func newNode(t *testing.T, nc nodeConfig) *env {
	t.Helper()
	ctx := context.Background()
	dir := nc.dataDir
	if dir == "" {
		dir = t.TempDir()
	}
	bus, err := natsbus.Open(ctx, natsbus.Config{URL: nc.natsURL, Listen: nc.natsListen, DataDir: dir, MaxAge: time.Hour, MaxMsgs: nc.maxMsgs})
	if err != nil {
		t.Fatalf("natsbus.Open: %v", err)
	}
	keys := auth.NewKeySet()
	if err := keys.AddHMAC("test", testSecret); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.VerifierOptions{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	ttl := nc.ticketTTL
	if ttl == 0 {
		ttl = time.Minute
	}
	secret, err := bus.SharedSecret(ctx, "sse-ticket-secret")
	if err != nil {
		t.Fatal(err)
	}
	tickets, err := broadcaster.NewHMACTickets(secret, ttl, nc.ticketClock)
	if err != nil {
		t.Fatal(err)
	}
	revs, err := bus.Revocations(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	o := broadcaster.Options{Verifier: v, Bus: bus, Tickets: tickets, Revocations: revs, PublishKey: "test-publish-key"}
	o.PresenceLink = bus.PresenceLink() // nodes on one NATS count presence together
	if nc.opts != nil {
		nc.opts(&o)
	}
	srv, err := broadcaster.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, bus: bus, srv: srv, signer: auth.NewHMACSigner("test", testSecret), done: make(chan struct{})}
	rctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	if nc.beforeRun != nil {
		nc.beforeRun()
	}
	go func() {
		defer close(e.done)
		if err := srv.Run(rctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	readyWithin := waitFor
	if nc.readyWithin > 0 {
		readyWithin = nc.readyWithin
	}
	select {
	case <-srv.Ready():
	case <-e.done:
		t.Fatal("Run ended before the server was ready")
	case <-time.After(readyWithin):
		t.Fatal("server not ready")
	}
	if err := revs.Watch(rctx, srv, func(key string, err error) { t.Errorf("bad revocation %s: %v", key, err) }); err != nil {
		t.Fatal(err)
	}
	if nc.http2 {
		e.http = httptest.NewUnstartedServer(srv.Handler())
		e.http.EnableHTTP2 = true
		e.http.StartTLS()
	} else {
		e.http = httptest.NewServer(srv.Handler())
	}
	t.Cleanup(e.close)
	return e
}

// close stops the node (server, HTTP listener, NATS); it is safe to call
// before the test's cleanup does.
func (e *env) close() { e.once.Do(e.doClose) }

func (e *env) doClose() {
	sctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	e.srv.Shutdown(sctx, 0)
	e.http.CloseClientConnections()
	e.http.Close()
	e.cancel()
	<-e.done
	e.bus.Close()
}

// token mints a user token.
func (e *env) token(user string, mod func(*auth.Claims)) string {
	e.t.Helper()
	c := auth.Claims{}
	c.Subject = user
	if mod != nil {
		mod(&c)
	}
	tok, err := e.signer.UserToken(c, time.Hour, time.Now())
	if err != nil {
		e.t.Fatalf("minting token: %v", err)
	}
	return tok
}

func (e *env) scoreboardToken(contest string) string {
	e.t.Helper()
	tok, err := e.signer.ScoreboardToken(contest, time.Hour, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// publish puts an event on the stream through the bus and returns its id.
func (e *env) publish(typ, channel, user string, public bool, data string) uint64 {
	e.t.Helper()
	ev := &protocol.Event{Type: typ, Channel: channel, User: user, Public: public, Data: json.RawMessage(data)}
	if err := ev.Validate(); err != nil {
		e.t.Fatalf("bad test event: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	id, err := e.bus.Publish(ctx, ev)
	if err != nil {
		e.t.Fatalf("publish: %v", err)
	}
	return id
}

// wsURL is the WebSocket URL of the node's events endpoint.
func (e *env) wsURL() string { return "ws" + strings.TrimPrefix(e.http.URL, "http") + "/events/" }

// client is a test WebSocket client that reads in the background.
type client struct {
	t    *testing.T
	c    *websocket.Conn
	msgs chan map[string]any
	raw  chan []byte
	done chan struct{}
	mu   sync.Mutex
	err  error
}

type dialOpts struct {
	query  string
	header http.Header
	noRead bool // do not start the background reader
	// t is the test the client fails (a subtest); defaults to the node's.
	t *testing.T
}

func (e *env) dial(o dialOpts) *client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, _, err := websocket.Dial(ctx, e.wsURL()+o.query, &websocket.DialOptions{HTTPHeader: o.header})
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(1 << 20)
	ct := e.t
	if o.t != nil {
		ct = o.t
	}
	cl := &client{t: ct, c: c, msgs: make(chan map[string]any, 10000), raw: make(chan []byte, 10000), done: make(chan struct{})}
	e.t.Cleanup(func() { c.CloseNow() })
	if !o.noRead {
		go cl.readLoop()
	}
	return cl
}

func (cl *client) readLoop() {
	defer close(cl.done)
	for {
		_, b, err := cl.c.Read(context.Background())
		if err != nil {
			cl.mu.Lock()
			cl.err = err
			cl.mu.Unlock()
			return
		}
		cl.raw <- b
		for _, line := range strings.Split(string(b), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				cl.t.Errorf("server sent non-JSON %q", line)
				continue
			}
			cl.msgs <- m
		}
	}
}

func (cl *client) send(v any) {
	cl.t.Helper()
	b, _ := json.Marshal(v)
	cl.sendRaw(b)
}

func (cl *client) sendRaw(b []byte) {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := cl.c.Write(ctx, websocket.MessageText, b); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
}

// next returns the next message or fails the test.
func (cl *client) next() map[string]any {
	cl.t.Helper()
	select {
	case m := <-cl.msgs:
		return m
	case <-cl.done:
		select {
		case m := <-cl.msgs:
			return m
		default:
		}
		cl.t.Fatalf("connection ended while waiting for a message: %v", cl.closeErr())
	case <-time.After(waitFor):
		cl.t.Fatal("timed out waiting for a message")
	}
	return nil
}

// expect reads the next message and checks its type (and the given fields).
func (cl *client) expect(typ string, fields map[string]any) map[string]any {
	cl.t.Helper()
	m := cl.next()
	if m["type"] != typ {
		cl.t.Fatalf("got %v, want type %q", m, typ)
	}
	for k, v := range fields {
		if m[k] != v {
			cl.t.Fatalf("got %v, want %s=%v", m, k, v)
		}
	}
	return m
}

// auth authenticates and waits for auth_success.
func (cl *client) auth(token string) {
	cl.t.Helper()
	cl.send(map[string]any{"type": "auth", "token": token})
	cl.expect("auth_success", nil)
}

// subscribe subscribes and waits for the reply, which it returns; presence
// events that arrive first are skipped.
func (cl *client) subscribe(channel string) map[string]any {
	cl.t.Helper()
	cl.send(map[string]any{"type": "subscribe", "channel": channel})
	for {
		// A presence event of a channel subscribed before may come first
		// (TestPresenceAcrossThreeNodes: the admin's second subscribe).
		if m := cl.next(); m["type"] != protocol.TypePresence {
			return m
		}
	}
}

// closeErr waits for the connection to end and returns why.
func (cl *client) closeErr() error {
	select {
	case <-cl.done:
	case <-time.After(waitFor):
		cl.t.Fatal("connection did not end")
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.err
}

// expectClose waits for the connection to end with code.
func (cl *client) expectClose(code protocol.CloseCode) {
	cl.t.Helper()
	err := cl.closeErr()
	if got := websocket.CloseStatus(err); got != websocket.StatusCode(code) {
		cl.t.Fatalf("closed with %v (%v), want %d", got, err, code)
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) && ce.Reason != code.Reason() {
		cl.t.Fatalf("close reason %q, want %q", ce.Reason, code.Reason())
	}
}

// drainUntil reads messages until one satisfies stop, returning all read.
func (cl *client) drainUntil(stop func(map[string]any) bool) []map[string]any {
	cl.t.Helper()
	var out []map[string]any
	for {
		m := cl.next()
		out = append(out, m)
		if stop(m) {
			return out
		}
	}
}
