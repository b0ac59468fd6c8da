package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The objects below were read off Centrifugo v6.9.1 (one frame holds the
// replies to several commands, a line each; the offset case is a
// publication on a channel with history).
func TestParsePeer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		obj     string
		kind    peerKind
		channel string
		data    string // prefix of the data slice
		offset  uint64
		id      int64 // the reply's command id
	}{
		{name: "connect reply", obj: `{"id":1,"connect":{"client":"3c60fb65","version":"0.0.0 OSS","expires":true,"ttl":3600,"ping":25,"pong":true}}`, kind: peerConnected, id: 1},
		{name: "subscribe reply", obj: `{"id":2,"subscribe":{}}`, kind: peerSubscribed, id: 2},
		{name: "error reply", obj: `{"id":3,"error":{"code":105,"message":"already subscribed"}}`, kind: peerError, id: 3},
		{name: "publication", obj: `{"push":{"channel":"/contest/x","pub":{"data":{"r":1,"p":1,"t":5,"a":"pub","pad":"xx"}}}}`,
			kind: peerPub, channel: "/contest/x", data: `{"r":1,"p":1,"t":5,"a":"pub","pad":"xx"}`},
		{name: "publication with offset", obj: `{"push":{"channel":"/contest/x","pub":{"data":{"r":1,"p":1,"t":5,"a":"pub","pad":"xx"},"offset":17}}}`,
			kind: peerPub, channel: "/contest/x", data: `{"r":1,"p":1,"t":5`, offset: 17},
		{name: "ping", obj: `{}`, kind: peerPing},
		{name: "join push", obj: `{"push":{"channel":"/contest/x","join":{"info":{"user":"u1"}}}}`, kind: peerOther},
		{name: "other reply", obj: `{"id":4,"presence":{}}`, kind: peerOther, id: 4},
		{name: "publication without data", obj: `{"push":{"channel":"/contest/x","pub":{"offset":3}}}`, kind: peerBad},
		{name: "Arenacast's event", obj: `{"type":"run_update","channel":"/contest/x","id":"1"}`, kind: peerBad},
		{name: "reply without a number", obj: `{"id":"a","subscribe":{}}`, kind: peerBad},
		{name: "reply that is not JSON", obj: `{"id":2,"subscribe":{`, kind: peerBad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := parsePeer([]byte(tc.obj))
			var id int64
			if f.reply != nil {
				id = f.reply.ID
			}
			if f.kind != tc.kind || string(f.channel) != tc.channel || f.offset != tc.offset ||
				!strings.HasPrefix(string(f.data), tc.data) || id != tc.id {
				t.Errorf("parsePeer = {kind %d channel %q data %q offset %d id %d}, want {%d %q %q... %d %d}",
					f.kind, f.channel, f.data, f.offset, id, tc.kind, tc.channel, tc.data, tc.offset, tc.id)
			}
			if f.kind == peerPub {
				if p, ok := parsePayload(f.data); !ok || p.run != 1 || p.phase != 1 || p.sent != 5 || string(p.aud) != "pub" {
					t.Errorf("payload %+v %v", p, ok)
				}
			}
		})
	}
}

// TestPeerRecovery: subscribe replies in the form Centrifugo v6.9.1 with
// history sends them (the epoch; after a drop, was_recovering, recovered
// and the publications brought back) feed the client's resume state and its
// deliveries.
func TestPeerRecovery(t *testing.T) {
	m := newMeter()
	m.runID = 1
	c := newClient(&clientSpec{user: "u", role: roleMember, channels: []string{"/contest/a", "/contest/b"}, peer: true}, m)
	c.ready, c.pending = make(chan struct{}), 2
	c.handlePeer(nil, []byte(`{"id":2,"subscribe":{"recoverable":true,"epoch":"Ab","offset":4,"positioned":true}}`), 10)
	c.handlePeer(nil, []byte(`{"id":3,"subscribe":{"recoverable":true,"epoch":"Cd","positioned":true}}`), 10)
	if c.epochs[0] != "Ab" || c.epochs[1] != "Cd" || c.pending != 0 || m.recovered.Load()+m.notRecov.Load() != 0 {
		t.Fatalf("after the first subscribes: epochs %q pending %d", c.epochs, c.pending)
	}
	c.last[0] = 4
	cmds := peerConnectCommands("tok", c.spec.channels, true, c.epochs, c.last)
	if got, want := string(cmds[1]), `{"id":2,"subscribe":{"channel":"/contest/a","recover":true,"epoch":"Ab","offset":4}}`; got != want {
		t.Errorf("resubscribe %s, want %s", got, want)
	}
	if got, want := string(cmds[2]), `{"id":3,"subscribe":{"channel":"/contest/b","recover":true,"epoch":"Cd","offset":0}}`; got != want {
		t.Errorf("resubscribe %s, want %s", got, want)
	}
	if got, want := string(peerConnectCommands("tok", c.spec.channels, false, c.epochs, c.last)[1]), `{"id":2,"subscribe":{"channel":"/contest/a"}}`; got != want {
		t.Errorf("a first subscribe %s, want %s", got, want)
	}
	c.ready, c.pending = make(chan struct{}), 2
	// As read off the server (its own offset field after a recovery is not
	// the newest publication's; the client goes by the publications').
	c.handlePeer(nil, []byte(`{"id":2,"subscribe":{"recoverable":true,"epoch":"Ab","publications":[`+
		`{"data":{"r":1,"p":1,"t":2,"a":"pub","pad":"x"},"offset":5},{"data":{"r":1,"p":1,"t":3,"a":"pub","pad":"x"},"offset":6}],`+
		`"recovered":true,"offset":1,"positioned":true,"was_recovering":true}}`), 10)
	// A wrong epoch (the peer restarted): not recovered, nothing brought back.
	c.handlePeer(nil, []byte(`{"id":3,"subscribe":{"recoverable":true,"epoch":"Ef","offset":9,"positioned":true,"was_recovering":true}}`), 10)
	if c.last[0] != 6 || c.received.Load() != 2 || m.recovered.Load() != 1 || m.notRecov.Load() != 1 || c.epochs[1] != "Ef" || c.pending != 0 {
		t.Errorf("after recovery: last %v received %d recovered %d/%d epochs %q pending %d",
			c.last, c.received.Load(), m.recovered.Load(), m.notRecov.Load(), c.epochs, c.pending)
	}
	c.handlePeer(nil, []byte(`{"id":9,"subscribe":{}}`), 10)
	if m.badFrames.Load() != 1 {
		t.Errorf("a reply to no command of ours: %d bad frames, want 1", m.badFrames.Load())
	}
}

func TestPeerPublishBody(t *testing.T) {
	var cmds []byte
	d1 := appendPayload(nil, 3, 1, "pub", 80)
	d2 := appendPayload(nil, 3, 2, "pub", 80)
	cmds = appendPeerPublish(cmds, 0, "/contest/a", d1)
	cmds = appendPeerPublish(cmds, 1, "/contest/b", d2)
	var req struct {
		Commands []struct {
			Publish struct {
				Channel string          `json:"channel"`
				Data    json.RawMessage `json:"data"`
			} `json:"publish"`
		} `json:"commands"`
	}
	if err := json.Unmarshal(peerBatchBody(cmds), &req); err != nil {
		t.Fatalf("batch body is not JSON: %v: %s", err, peerBatchBody(cmds))
	}
	if len(req.Commands) != 2 || req.Commands[0].Publish.Channel != "/contest/a" || req.Commands[1].Publish.Channel != "/contest/b" ||
		string(req.Commands[0].Publish.Data) != string(d1) || string(req.Commands[1].Publish.Data) != string(d2) {
		t.Errorf("decoded %+v", req)
	}
	for body, want := range map[string]uint64{
		`{"replies":[{"publish":{}},{"publish":{}}]}`:                                             0,
		`{"replies":[{"publish":{}},{"error":{"code":107,"message":"bad request"}}]}`:             1,
		`{"replies":[{"error":{"code":102,"message":"x"}},{"error":{"code":102,"message":"x"}}]}`: 2,
	} {
		if got := peerFailed([]byte(body)); got != want {
			t.Errorf("peerFailed(%s) = %d, want %d", body, got, want)
		}
	}
}

func TestPeerToken(t *testing.T) {
	now := time.Now()
	tok, err := peerToken("s3cret", "u7", now)
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.RegisteredClaims
	if _, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return []byte("s3cret"), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired()); err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	if c.Subject != "u7" || c.ExpiresAt.Sub(now) < 59*time.Minute {
		t.Errorf("claims %+v", c)
	}
	if _, err := peerToken("", "u7", now); err == nil {
		t.Error("an empty secret signed a token")
	}
	cmds := peerConnectCommands(tok, []string{"/contest/a", "/contest/b"}, false, nil, nil)
	want := []string{`{"id":1,"connect":{"token":"` + tok + `"}}`, `{"id":2,"subscribe":{"channel":"/contest/a"}}`, `{"id":3,"subscribe":{"channel":"/contest/b"}}`}
	if len(cmds) != len(want) {
		t.Fatalf("%d commands", len(cmds))
	}
	for i := range want {
		if string(cmds[i]) != want[i] {
			t.Errorf("command %d = %s, want %s", i, cmds[i], want[i])
		}
	}
}

func TestParseFlagsPeer(t *testing.T) {
	ok := []string{"--peer", "centrifugo", "--peer-secret", "s", "--peer-api-key", "k", "--publish-http", "http://127.0.0.1:1", "--preset", "fanout,channels"}
	c, err := parseFlags(ok, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseFlags([]string{"--peer", "centrifugo", "--peer-secret", "s", "--peer-api-key", "k", "--preset", "idle"}, io.Discard); err != nil {
		t.Errorf("idle needs no --publish-http: %v", err)
	}
	if c.peer != peerCentrifugo || c.peerSecret != "s" || c.peerAPIKey != "k" {
		t.Errorf("parsed %+v", c)
	}
	for name, extra := range map[string][]string{
		"unknown peer":  {"--peer", "mercure"},
		"other preset":  {"--preset", "contest"},
		"SSE":           {"--transport", "sse"},
		"packed frames": {"--batch"},
		"no HTTP API":   {"--publish-http", ""},
		"no secret":     {"--peer-secret", ""},
		"no API key":    {"--peer-api-key", ""},
	} {
		if _, err := parseFlags(append(append([]string{}, ok...), extra...), io.Discard); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for _, tc := range []struct {
		url  string
		peer bool
		path string
	}{
		{"ws://127.0.0.1:8000", true, peerPath},
		{"ws://127.0.0.1:8000/ws", true, "/ws"},
		{"ws://127.0.0.1:8080", false, "/events/"},
	} {
		if tg, err := parseTarget(tc.url, false, tc.peer); err != nil || tg.path != tc.path {
			t.Errorf("parseTarget(%s, peer %v) = %+v, %v; want path %s", tc.url, tc.peer, tg, err, tc.path)
		}
	}
}

// TestPublisherPeerBatches posts batches the way the peer mode does to a
// loopback HTTP server standing in for the peer's API, and checks what the
// publisher sends and what it counts as not acknowledged.
func TestPublisherPeerBatches(t *testing.T) {
	type got struct {
		key, path string
		commands  int
	}
	seen := make(chan got, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Commands []json.RawMessage `json:"commands"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		seen <- got{r.Header.Get("X-API-Key"), r.URL.Path, len(req.Commands)}
		switch len(req.Commands) {
		case 3: // one error among three replies
			io.WriteString(w, `{"replies":[{"publish":{}},{"error":{"code":102,"message":"unknown channel"}},{"publish":{}}]}`)
		default: // no answer at all: every event of the batch is counted
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			c.Close()
		}
	}))
	defer srv.Close()
	p := &publisher{peer: true}
	p.useHTTP(srv.URL, "k1", 3, time.Hour, 1)
	defer p.close()
	var buf []byte
	var err error
	for i := range 5 {
		if buf, err = p.publish(buf, 9, event{channel: "/contest/a", aud: "pub", phase: 1 + i%2}, 60); err != nil {
			t.Fatal(err)
		}
	}
	p.settle() // the full batch of 3 went at once; settle sends the other 2
	for _, want := range []got{{"k1", "/api/batch", 3}, {"k1", "/api/batch", 2}} {
		select {
		case g := <-seen:
			if g != want {
				t.Errorf("request %+v, want %+v", g, want)
			}
		default:
			t.Errorf("no request %+v", want)
		}
	}
	if f := p.failed.Load(); f != 1+2 {
		t.Errorf("failed %d, want 3 (one error reply, a batch of 2 unanswered)", f)
	}
}
