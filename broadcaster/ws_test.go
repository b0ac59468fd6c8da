package broadcaster_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

// TestSeedClient drives the server exactly like the contest platform's
// "Real-time Updates" page: auth, subscribe, switch on message.type.
func TestSeedClient(t *testing.T) {
	e := newEnv(t, nil)
	cl := e.dial(dialOpts{})
	cl.send(map[string]any{"type": "auth", "token": e.token("contestant1", func(c *auth.Claims) { c.Contests = []string{"annual-2024"} })})
	cl.send(map[string]any{"type": "subscribe", "channel": "/contest/annual-2024"})
	cl.send(map[string]any{"type": "subscribe", "channel": "/user/contestant1"})

	seen := map[string]int{}
	handle := func(m map[string]any) {
		switch m["type"] {
		case "run_update", "scoreboard_update", "clarification", "contest_update", "auth_success", "subscribed", "error":
			seen[m["type"].(string)]++
		default:
			t.Errorf("unexpected message %v", m)
		}
	}
	for range 3 {
		handle(cl.next())
	}
	if seen["auth_success"] != 1 || seen["subscribed"] != 2 {
		t.Fatalf("handshake: %v", seen)
	}
	// Published on NATS by a publisher (raw JSON on the subject), and over HTTP.
	nc := e.bus.Conn()
	raw := `{"type":"run_update","channel":"/contest/annual-2024","user":"contestant1","public":false,"data":{"guid":"abc123def456","verdict":"AC","score":1.0}}`
	if _, err := e.bus.JetStream().Publish(context.Background(), "arenacast.contest.annual-2024", []byte(raw)); err != nil {
		t.Fatal(err)
	}
	_ = nc
	m := cl.expect("run_update", map[string]any{"channel": "/contest/annual-2024"})
	if d := m["data"].(map[string]any); d["guid"] != "abc123def456" || d["verdict"] != "AC" {
		t.Fatalf("data %v", d)
	}
	if m["id"] == "" || m["timestamp"] == nil {
		t.Fatalf("missing id/timestamp: %v", m)
	}
	for _, ev := range []string{
		`{"type":"scoreboard_update","channel":"/contest/annual-2024","public":true,"data":{"contest_alias":"annual-2024"}}`,
		`{"type":"clarification","channel":"/contest/annual-2024","public":true,"data":{"clarification_id":567}}`,
		`{"type":"contest_update","channel":"/contest/annual-2024","public":true,"data":{"event":"extended"}}`,
		`{"type":"run_update","channel":"/user/contestant1","data":{"guid":"x"}}`,
	} {
		resp := httpPublish(t, e, "test-publish-key", ev)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("publish: %s", resp.Status)
		}
	}
	for _, want := range []string{"scoreboard_update", "clarification", "contest_update", "run_update"} {
		handle(cl.expect(want, nil))
	}
}

func httpPublish(t *testing.T, e *env, key, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.http.URL+"/publish", strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestPublishHTTP covers the publish endpoint's answers.
func TestPublishHTTP(t *testing.T) {
	e := newEnv(t, nil)
	good := `{"type":"run_update","channel":"/contest/c1","data":{}}`
	pubTok := e.token("grader", func(c *auth.Claims) { c.Publish = true })
	cases := []struct {
		name, key, body string
		want            int
	}{
		{"static key", "test-publish-key", good, 202},
		{"publisher token", pubTok, good, 202},
		{"no credential", "", good, 401},
		{"user token without publish claim", e.token("u", nil), good, 401},
		{"wrong key", "nope", good, 401},
		{"not json", "test-publish-key", "{", 400},
		{"unknown field", "test-publish-key", `{"type":"run_update","channel":"/contest/c1","pubilc":true,"data":{}}`, 400},
		{"bad type", "test-publish-key", `{"type":"Run","channel":"/contest/c1","data":{}}`, 400},
		{"scoreboard channel", "test-publish-key", `{"type":"scoreboard_update","channel":"/scoreboard/x","data":{}}`, 400},
		{"bad channel", "test-publish-key", `{"type":"run_update","channel":"/contest/a b","data":{}}`, 400},
		{"unknown channel", "test-publish-key", `{"type":"run_update","channel":"/foo/bar","data":{}}`, 400},
		{"bad data", "test-publish-key", `{"type":"run_update","channel":"/contest/c1","data":{nope}}`, 400},
		{"invalid UTF-8 in data", "test-publish-key", "{\"type\":\"run_update\",\"channel\":\"/contest/c1\",\"data\":{\"s\":\"\xff\xfe\xc0\"}}", 400},
		{"truncated UTF-8 in data", "test-publish-key", "{\"type\":\"run_update\",\"channel\":\"/contest/c1\",\"data\":\"\xe2\x82\"}", 400},
		{"UTF-8 surrogate half in data", "test-publish-key", "{\"type\":\"run_update\",\"channel\":\"/contest/c1\",\"data\":\"\xed\xa0\x80\"}", 400},
		{"valid UTF-8 and escapes", "test-publish-key", "{\"type\":\"run_update\",\"channel\":\"/contest/c1\",\"data\":\"\u00e9 \xc3\xa9 \\ud83d\\ude00\"}", 202},
		{"too big", "test-publish-key", `{"type":"run_update","channel":"/contest/c1","data":"` + strings.Repeat("x", 70000) + `"}`, 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if resp := httpPublish(t, e, tc.key, tc.body); resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

// TestMalformedFromNATS: bad events on the stream are counted and skipped;
// the consumer keeps going and clients never see them.
func TestMalformedFromNATS(t *testing.T) {
	e := newEnv(t, nil)
	cl := e.dial(dialOpts{})
	cl.auth(e.token("admin", func(c *auth.Claims) { c.SiteAdmin = true }))
	if m := cl.subscribe("/contest/c1"); m["type"] != "subscribed" {
		t.Fatal(m)
	}
	js := e.bus.JetStream()
	ctx := context.Background()
	for _, bad := range []string{
		`not json`,
		`{"type":"run_update","channel":"/contest/other","public":true,"data":{}}`, // channel != subject
		`{"type":"BAD","channel":"/contest/c1","public":true,"data":{}}`,
		`{"type":"run_update","channel":"/contest/c1","public":true,"data":{},"extra":1}`,
		"{\"type\":\"run_update\",\"channel\":\"/contest/c1\",\"public\":true,\"data\":{\"s\":\"\xff\xfe\xc0\"}}", // not UTF-8
	} {
		if _, err := js.Publish(ctx, "arenacast.contest.c1", []byte(bad)); err != nil {
			t.Fatal(err)
		}
	}
	e.publish("contest_update", "/contest/c1", "", true, `{"ok":true}`)
	m := cl.expect("contest_update", nil)
	if m["data"].(map[string]any)["ok"] != true {
		t.Fatal(m)
	}
	if got := e.srv.Stats().EventsBad; got != 5 {
		t.Fatalf("EventsBad = %d, want 5", got)
	}
}

// TestAuthorizationMatrix checks every principal on every channel kind
// against public and private events.
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t, nil)
	type principal struct {
		name  string
		token func() string // "" for anonymous
	}
	principals := []principal{
		{"anonymous", func() string { return "" }},
		{"contestant", func() string {
			return e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })
		}},
		{"other", func() string { return e.token("bob", func(c *auth.Claims) { c.Contests = []string{"c1"} }) }},
		{"contest_admin", func() string {
			return e.token("carol", func(c *auth.Claims) { c.ContestsAdmin = []string{"c1"} })
		}},
		{"problem_viewer", func() string { return e.token("dave", func(c *auth.Claims) { c.Problems = []string{"p1"} }) }},
		{"site_admin", func() string { return e.token("root", func(c *auth.Claims) { c.SiteAdmin = true }) }},
	}
	sb := "/scoreboard/" + e.scoreboardToken("c1")
	channels := []string{"/contest/c1", "/contest/c1/admin", "/user/alice", "/problem/p1", "/contest/c2", sb}
	// allowed[principal][channel]
	allowed := map[string]map[string]bool{
		"anonymous":      {sb: true},
		"contestant":     {"/contest/c1": true, "/user/alice": true, sb: true},
		"other":          {"/contest/c1": true, sb: true},
		"contest_admin":  {"/contest/c1": true, "/contest/c1/admin": true, sb: true},
		"problem_viewer": {"/problem/p1": true, sb: true},
		"site_admin":     {"/contest/c1": true, "/contest/c1/admin": true, "/user/alice": true, "/problem/p1": true, "/contest/c2": true, sb: true},
	}
	// Events: on each publishable channel, public/private x owner.
	type evSpec struct {
		typ, channel, user string
		public             bool
	}
	var events []evSpec
	for _, ch := range []string{"/contest/c1", "/contest/c1/admin", "/user/alice", "/problem/p1", "/contest/c2"} {
		events = append(events,
			evSpec{"run_update", ch, "alice", false},
			evSpec{"run_update", ch, "bob", false},
			evSpec{"clarification", ch, "", false},
			evSpec{"clarification", ch, "", true},
			evSpec{"scoreboard_update", ch, "", true},
			evSpec{"scoreboard_update", ch, "", false},
			evSpec{"run_update", ch, "alice", true},
		)
	}
	// wantSees is the contract's rule, written independently of auth.CanSee.
	wantSees := func(p, sub string, ev evSpec) bool {
		if sub == sb {
			return ev.channel == "/contest/c1" && ev.public && (ev.typ == "scoreboard_update" || ev.typ == "contest_update")
		}
		if ev.channel != sub {
			return false
		}
		admin := p == "site_admin" || p == "contest_admin" && strings.HasPrefix(sub, "/contest/c1")
		switch {
		case admin, sub == "/user/alice", sub == "/contest/c1/admin":
			return true
		case ev.public:
			return true
		}
		user := map[string]string{"contestant": "alice", "other": "bob", "problem_viewer": "dave"}[p]
		return ev.user != "" && ev.user == user
	}
	type cell struct {
		p, ch string
		cl    *client
	}
	var cells []cell
	for _, p := range principals {
		for _, ch := range channels {
			t.Run(fmt.Sprintf("subscribe/%s%s", p.name, strings.ReplaceAll(ch, "/", "_")), func(t *testing.T) {
				cl := e.dial(dialOpts{})
				cl.t = t
				if tok := p.token(); tok != "" {
					cl.auth(tok)
				}
				m := cl.subscribe(ch)
				if allowed[p.name][ch] {
					if m["type"] != "subscribed" {
						t.Fatalf("got %v, want subscribed", m)
					}
					cells = append(cells, cell{p.name, ch, cl})
				} else if m["type"] != "error" || m["error"] != "unauthorized" {
					t.Fatalf("got %v, want unauthorized", m)
				}
			})
		}
	}
	// The subscribed cells' snapshots: none exist yet (no scoreboard published).
	var ids []uint64
	for _, ev := range events {
		ids = append(ids, e.publish(ev.typ, ev.channel, ev.user, ev.public, fmt.Sprintf(`{"n":%d}`, len(ids))))
	}
	// A final public contest_update on every channel marks the end; every
	// allowed subscriber sees it. (Not a scoreboard_update: a queued one
	// may be coalesced into it.)
	for _, ch := range []string{"/contest/c1", "/contest/c1/admin", "/user/alice", "/problem/p1", "/contest/c2"} {
		e.publish("contest_update", ch, "", true, `{"end":true}`)
	}
	for _, c := range cells {
		t.Run(fmt.Sprintf("deliver/%s%s", c.p, strings.ReplaceAll(c.ch, "/", "_")), func(t *testing.T) {
			c.cl.t = t
			got := map[string]bool{}
			for _, m := range c.cl.drainUntil(func(m map[string]any) bool {
				d, _ := m["data"].(map[string]any)
				return d != nil && d["end"] == true
			}) {
				if d, ok := m["data"].(map[string]any); ok && d["n"] != nil {
					got[m["id"].(string)] = true
				}
			}
			for i, ev := range events {
				id := protocol.IDString(ids[i])
				if want := wantSees(c.p, c.ch, ev); got[id] != want {
					t.Errorf("event %+v: received=%v, want %v", ev, got[id], want)
				}
			}
		})
	}
}

// TestBadInput: every kind of bad input gets its documented answer, and a
// bystander keeps receiving. The server's clock is frozen, so no rate
// bucket refills: on the real clock a flood handled slowly (a loaded
// machine, -race) earns a token every 1/MessageRate s, each allowed
// message restarts the count of drops in a row, and the subscribe flood
// was never closed with 4005 (seen under load: 43 subscribed, 157
// rate_limited in two runs of fewer than 2*MessageBurst drops). Timers
// (the auth deadline) still run on real time.
func TestBadInput(t *testing.T) {
	t0 := time.Now()
	e := newEnv(t, func(o *broadcaster.Options) {
		o.AuthTimeout = 2 * time.Second
		o.MaxSubscriptions = 3
		o.Now = func() time.Time { return t0 }
	})
	bystander := e.dial(dialOpts{})
	bystander.auth(e.token("watcher", func(c *auth.Claims) { c.SiteAdmin = true }))
	bystander.subscribe("/contest/c1")
	check := func() {
		t.Helper()
		id := e.publish("contest_update", "/contest/c1", "", true, `{}`)
		m := bystander.expect("contest_update", nil)
		if m["id"] != protocol.IDString(id) {
			t.Fatalf("bystander got %v", m)
		}
	}
	tok := e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1", "c2", "c3", "c4"} })
	other := auth.NewHMACSigner("test", []byte("another-secret-another-secret-0123456789"))
	mint := func(s *auth.Signer, mod func(*auth.Claims)) string {
		c := auth.Claims{}
		c.Subject = "alice"
		if mod != nil {
			mod(&c)
		}
		tok, err := s.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	exp := func(d time.Duration) func(*auth.Claims) {
		return func(c *auth.Claims) { c.ExpiresAt = jwtDate(time.Now().Add(d)) }
	}
	replyCases := []struct {
		name      string
		send      string
		authFirst bool
		wantErr   string
	}{
		{"non-JSON", `hello`, false, "bad_request"},
		{"JSON array", `[1,2]`, false, "bad_request"},
		{"unknown type", `{"type":"shout"}`, false, "bad_request"},
		{"no type", `{"channel":"/contest/c1"}`, false, "bad_request"},
		{"subscribe without channel", `{"type":"subscribe"}`, false, "bad_request"},
		{"auth without token", `{"type":"auth"}`, false, "bad_request"},
		{"channel with dot is fine but with star is not", `{"type":"subscribe","channel":"/contest/a*b"}`, true, "bad_request"},
		{"channel with >", `{"type":"subscribe","channel":"/contest/>"}`, true, "bad_request"},
		{"channel with space", `{"type":"subscribe","channel":"/contest/a b"}`, true, "bad_request"},
		{"300-byte channel", `{"type":"subscribe","channel":"/contest/` + strings.Repeat("a", 300) + `"}`, true, "bad_request"},
		{"65-byte alias", `{"type":"subscribe","channel":"/contest/` + strings.Repeat("a", 65) + `"}`, true, "bad_request"},
		{"unknown channel form", `{"type":"subscribe","channel":"/team/x"}`, true, "not_found"},
		{"no leading slash", `{"type":"subscribe","channel":"contest/c1"}`, true, "bad_request"},
		{"not allowed", `{"type":"subscribe","channel":"/contest/secret"}`, true, "unauthorized"},
		{"before auth", `{"type":"subscribe","channel":"/contest/c1"}`, false, "unauthorized"},
		{"forged scoreboard token", `{"type":"subscribe","channel":"/scoreboard/abc.def.ghi"}`, false, "unauthorized"},
		{"alg none", `{"type":"auth","token":"` + noneToken() + `"}`, false, "unauthorized"},
		{"wrong signature", `{"type":"auth","token":"` + mint(other, exp(time.Hour)) + `"}`, false, "unauthorized"},
		{"expired", `{"type":"auth","token":"` + mint(e.signer, exp(-time.Hour)) + `"}`, false, "token_expired"},
		{"no exp", `{"type":"auth","token":"` + mint(e.signer, nil) + `"}`, false, "unauthorized"},
		{"not yet valid", `{"type":"auth","token":"` + mint(e.signer, func(c *auth.Claims) {
			exp(2 * time.Hour)(c)
			c.NotBefore = jwtDate(time.Now().Add(time.Hour))
		}) + `"}`, false, "unauthorized"},
		{"unknown kid", `{"type":"auth","token":"` + mint(auth.NewHMACSigner("nope", testSecret), exp(time.Hour)) + `"}`, false, "unauthorized"},
		{"garbage token", `{"type":"auth","token":"a.b.c"}`, false, "unauthorized"},
	}
	for _, tc := range replyCases {
		t.Run(tc.name, func(t *testing.T) {
			cl := e.dial(dialOpts{})
			cl.t = t
			if tc.authFirst {
				cl.auth(tok)
			}
			cl.sendRaw([]byte(tc.send))
			m := cl.expect("error", map[string]any{"error": tc.wantErr})
			if strings.Contains(fmt.Sprint(m), "eyJ") {
				t.Fatalf("error reply echoes a token: %v", m)
			}
			// The connection is still usable.
			cl.send(map[string]any{"type": "ping", "id": "p"})
			cl.expect("pong", map[string]any{"id": "p"})
			check()
		})
	}

	t.Run("binary frame", func(t *testing.T) {
		cl := e.dial(dialOpts{})
		ctx := context.Background()
		cl.c.Write(ctx, websocket.MessageBinary, []byte(`{"type":"ping"}`))
		cl.expect("error", map[string]any{"error": "bad_request"})
		check()
	})
	t.Run("bare ping", func(t *testing.T) {
		cl := e.dial(dialOpts{})
		cl.sendRaw([]byte("ping"))
		cl.expect("pong", nil)
	})
	t.Run("oversized frame", func(t *testing.T) {
		cl := e.dial(dialOpts{})
		cl.sendRaw([]byte(`{"type":"ping","id":"` + strings.Repeat("x", 5000) + `"}`))
		if got := websocket.CloseStatus(cl.closeErr()); got != websocket.StatusMessageTooBig {
			t.Fatalf("close %v, want 1009", got)
		}
		check()
	})
	t.Run("auth deadline", func(t *testing.T) {
		cl := e.dial(dialOpts{})
		cl.expectClose(protocol.CloseAuthTimeout)
		check()
	})
	t.Run("too many auth failures", func(t *testing.T) {
		cl := e.dial(dialOpts{})
		for range 5 {
			cl.send(map[string]any{"type": "auth", "token": "x.y.z"})
		}
		for range 5 {
			cl.expect("error", map[string]any{"error": "unauthorized"})
		}
		cl.expectClose(protocol.CloseAuthFailed)
		check()
	})
	t.Run("re-auth as another user", func(t *testing.T) {
		cl := e.dial(dialOpts{})
		cl.auth(tok)
		cl.send(map[string]any{"type": "auth", "token": e.token("mallory", nil)})
		cl.expect("error", map[string]any{"error": "unauthorized"})
		cl.expectClose(protocol.CloseAuthFailed)
	})
	t.Run("malformed flood", func(t *testing.T) {
		cl := e.dial(dialOpts{})
		for range 10 {
			cl.sendRaw([]byte("{"))
		}
		cl.expectClose(protocol.CloseProtocolViolation)
		check()
	})
	t.Run("subscribe flood", func(t *testing.T) {
		cl := e.dial(dialOpts{t: t})
		cl.auth(tok)
		for range 200 {
			b, _ := json.Marshal(map[string]any{"type": "subscribe", "channel": "/contest/c1"})
			if err := cl.c.Write(context.Background(), websocket.MessageText, b); err != nil {
				break
			}
		}
		sawLimited := false
		cl.closeErr() // the reader has stopped: every message is in cl.msgs
		for len(cl.msgs) > 0 {
			if m := <-cl.msgs; m["error"] == "rate_limited" {
				sawLimited = true
			}
		}
		if !sawLimited {
			t.Error("no rate_limited reply")
		}
		cl.expectClose(protocol.CloseRateLimited)
		check()
	})
	t.Run("forbidden origin", func(t *testing.T) {
		ctx := context.Background()
		_, resp, err := websocket.Dial(ctx, e.wsURL(), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("dial from a foreign origin: err=%v resp=%v", err, resp)
		}
		check()
	})
}

// TestSubscriptionCap: subscriptions past the cap are refused with
// limit_exceeded.
func TestSubscriptionCap(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) { o.MaxSubscriptions = 2 })
	cl := e.dial(dialOpts{})
	cl.auth(e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1", "c2", "c3"} }))
	if m := cl.subscribe("/contest/c1"); m["type"] != "subscribed" {
		t.Fatal(m)
	}
	if m := cl.subscribe("/contest/c1"); m["type"] != "subscribed" {
		t.Fatalf("repeat subscribe: %v", m)
	}
	if m := cl.subscribe("/user/alice"); m["type"] != "subscribed" {
		t.Fatal(m)
	}
	if m := cl.subscribe("/contest/c2"); m["error"] != "limit_exceeded" {
		t.Fatalf("got %v, want limit_exceeded", m)
	}
	cl.send(map[string]any{"type": "unsubscribe", "channel": "/contest/c1", "id": "u1"})
	cl.expect("unsubscribed", map[string]any{"channel": "/contest/c1", "reason": "requested", "id": "u1"})
	if m := cl.subscribe("/contest/c2"); m["type"] != "subscribed" {
		t.Fatal(m)
	}
	// Unsubscribed channel gets nothing more; the others still do.
	e.publish("contest_update", "/contest/c1", "", true, `{}`)
	id := e.publish("contest_update", "/contest/c2", "", true, `{}`)
	cl.expect("contest_update", map[string]any{"channel": "/contest/c2", "id": protocol.IDString(id)})
}

// TestRateLimit: a reconnect's auth and a full set of subscribes, sent at
// once, are all answered; past the allowance every dropped message gets a
// rate_limited reply naming its id (and channel), and a flood that goes on
// is closed with 4005. The clock is frozen, so the bucket never refills.
func TestRateLimit(t *testing.T) {
	t0 := time.Now()
	e := newEnv(t, func(o *broadcaster.Options) {
		o.MaxSubscriptions = 60
		o.MessageBurst = 10
		o.Now = func() time.Time { return t0 }
	})
	cl := e.dial(dialOpts{})
	ctx := context.Background()
	write := func(v any) {
		t.Helper()
		b, _ := json.Marshal(v)
		if err := cl.c.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	// 1 + 60 messages at once, then the 9 left of burst + cap (70).
	write(map[string]any{"type": "auth", "id": "a", "token": e.token("root", func(c *auth.Claims) { c.SiteAdmin = true })})
	for i := range 60 {
		write(map[string]any{"type": "subscribe", "id": fmt.Sprint("s", i), "channel": fmt.Sprint("/problem/p", i)})
	}
	for i := range 9 {
		write(map[string]any{"type": "ping", "id": fmt.Sprint("p", i)})
	}
	got := map[string]int{}
	for range 70 {
		m := cl.next()
		got[m["type"].(string)]++
		if m["type"] == "error" {
			t.Fatalf("within the allowance: %v", m)
		}
	}
	if got["auth_success"] != 1 || got["subscribed"] != 60 || got["pong"] != 9 {
		t.Fatalf("replies %v", got)
	}
	// Past the allowance: each dropped message is named in its reply.
	cases := []struct {
		msg         any
		id, channel string
	}{
		{map[string]any{"type": "subscribe", "id": "x1", "channel": "/problem/extra"}, "x1", "/problem/extra"},
		{map[string]any{"type": "subscribe", "channel": "/problem/noid"}, "", "/problem/noid"},
		{map[string]any{"type": "unsubscribe", "id": "x2", "channel": "/problem/p0"}, "x2", "/problem/p0"},
		{map[string]any{"type": "ping", "id": "x3"}, "x3", ""},
		{json.RawMessage(`{"type":"nonsense","id":"x4"}`), "", ""},
	}
	for _, tc := range cases {
		write(tc.msg)
		m := cl.expect("error", map[string]any{"error": "rate_limited"})
		if id, _ := m["id"].(string); id != tc.id {
			t.Errorf("%v: reply id %q, want %q", tc.msg, id, tc.id)
		}
		if ch, _ := m["channel"].(string); ch != tc.channel {
			t.Errorf("%v: reply channel %q, want %q", tc.msg, ch, tc.channel)
		}
	}
	// The flood goes on: more than 2 × burst drops in a row close it.
	for i := len(cases); i < 20; i++ {
		write(map[string]any{"type": "ping"})
		cl.expect("error", map[string]any{"error": "rate_limited"})
	}
	write(map[string]any{"type": "ping"})
	cl.expectClose(protocol.CloseRateLimited)
}

// TestSlowConsumer: a client that stops reading is closed with 4001 while
// a fast client on the same channel receives everything.
func TestSlowConsumer(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) {
		o.QueueMessages = 32
		o.QueueBytes = 256 << 10
	})
	tok := e.token("root", func(c *auth.Claims) { c.SiteAdmin = true })
	slow := e.dial(dialOpts{noRead: true})
	ctx := context.Background()
	slow.send(map[string]any{"type": "auth", "token": tok})
	slow.send(map[string]any{"type": "subscribe", "channel": "/contest/c1"})
	fast := e.dial(dialOpts{})
	fast.auth(tok)
	fast.subscribe("/contest/c1")
	payload := `{"pad":"` + strings.Repeat("x", 16000) + `"}`
	n := 0
	for e.srv.Stats().SlowConsumers == 0 {
		if n > 5000 {
			t.Fatal("slow client never closed")
		}
		e.publish("clarification", "/contest/c1", "", true, payload)
		n++
		// Keep the fast client in step so it is never slow itself.
		fast.expect("clarification", nil)
	}
	t.Logf("slow consumer detected after %d events", n)
	// The fast client got every event; now the slow one reads and finds
	// the close.
	go slow.readLoop()
	for {
		select {
		case <-slow.msgs:
			continue
		case <-slow.done:
		case <-time.After(waitFor):
			t.Fatal("slow client not closed")
		}
		break
	}
	if got := e.srv.Stats().Closes[protocol.CloseSlowConsumer]; got != 1 {
		t.Fatalf("slow-consumer closes = %d", got)
	}
	if code := websocket.CloseStatus(slow.closeErr()); code != -1 && code != websocket.StatusCode(protocol.CloseSlowConsumer) {
		t.Fatalf("slow client closed with %v", code)
	}
	_ = ctx
}

// TestWriteTimeout: a client that stops reading, with a queue too large
// to fill first, is closed once one write stays blocked for longer than
// WriteTimeout; a fast client on the same channel goes on receiving.
func TestWriteTimeout(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) {
		o.QueueMessages = 1 << 20
		o.QueueBytes = 1 << 30
		o.WriteTimeout = 300 * time.Millisecond
	})
	tok := e.token("root", func(c *auth.Claims) { c.SiteAdmin = true })
	slow := e.dial(dialOpts{noRead: true})
	slow.send(map[string]any{"type": "auth", "token": tok})
	slow.send(map[string]any{"type": "subscribe", "channel": "/contest/c1"})
	fast := e.dial(dialOpts{})
	fast.auth(tok)
	fast.subscribe("/contest/c1")
	// 200 events of 60 KB (12 MB) are more than the loopback socket
	// buffers of a reader that never reads hold (4 MB send, 128 KB
	// receive here), so the slow client's writer ends up blocked.
	payload := `{"pad":"` + strings.Repeat("x", 60000) + `"}`
	for range 200 {
		e.publish("clarification", "/contest/c1", "", true, payload)
		fast.expect("clarification", nil)
	}
	waitUntil(t, func() bool { return e.srv.Stats().WriteTimeouts == 1 })
	go slow.readLoop()
	select {
	case <-slow.done:
	case <-time.After(waitFor):
		t.Fatal("slow client not closed")
	}
	if st := e.srv.Stats(); st.SlowConsumers != 0 || st.Open["websocket"] != 1 {
		t.Fatalf("slow consumers %d, open websockets %d; want 0 and 1 (the fast client)", st.SlowConsumers, st.Open["websocket"])
	}
	id := e.publish("contest_update", "/contest/c1", "", true, `{}`)
	fast.expect("contest_update", map[string]any{"id": protocol.IDString(id)})
}

// TestStalledClientClose: a client that stopped reading, whose writer is
// blocked on a full socket, is still closed: as a slow consumer, and by a
// policy close (here: shutdown) that must wait for the write in progress.
// The write watch is out of play (a one-hour write timeout), so only the
// close's own deadline (CloseTimeout) can end these; before it existed,
// both hung until the process exited and Shutdown never returned.
func TestStalledClientClose(t *testing.T) {
	payload := `{"pad":"` + strings.Repeat("x", 60000) + `"}`
	for _, tc := range []struct {
		name  string
		queue int
		// stall publishes until the slow client's writer is blocked.
		stall func(e *env, fast *client)
	}{
		{"slow consumer", 16, func(e *env, fast *client) {
			// The writer blocks after ~4 MB; then the queue of 16 fills.
			for i := 0; e.srv.Stats().SlowConsumers == 0; i++ {
				if i == 1000 {
					e.t.Fatal("no slow consumer after 1000 events of 60 KB")
				}
				e.publish("clarification", "/contest/c1", "", true, payload)
				fast.expect("clarification", nil)
			}
		}},
		{"shutdown behind a blocked write", 1 << 20, func(e *env, fast *client) {
			// 12 MB: more than a reader that never reads can buffer.
			for range 200 {
				e.publish("clarification", "/contest/c1", "", true, payload)
				fast.expect("clarification", nil)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *broadcaster.Options) {
				o.QueueMessages = tc.queue
				o.QueueBytes = 1 << 30
				o.WriteTimeout = time.Hour
				o.CloseTimeout = 200 * time.Millisecond
			})
			tok := e.token("root", func(c *auth.Claims) { c.SiteAdmin = true })
			slow := e.dial(dialOpts{noRead: true})
			slow.send(map[string]any{"type": "auth", "token": tok})
			slow.send(map[string]any{"type": "subscribe", "channel": "/contest/c1"})
			fast := e.dial(dialOpts{})
			fast.auth(tok)
			fast.subscribe("/contest/c1")
			tc.stall(e, fast)

			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			start := time.Now()
			if err := e.srv.Shutdown(ctx, 0); err != nil {
				t.Fatalf("shutdown with a stalled client: %v", err)
			}
			// coder/websocket gives up on a close frame it cannot write
			// after 5 s; the close timeout (200 ms) must end it first.
			if d := time.Since(start); d > 4*time.Second {
				t.Fatalf("shutdown took %v: the stalled close outlived CloseTimeout", d)
			}
			fast.expectClose(protocol.CloseServerShutdown)
			go slow.readLoop()
			select {
			case <-slow.done:
			case <-time.After(waitFor):
				t.Fatal("stalled client's connection not closed")
			}
			if st := e.srv.Stats(); st.WriteTimeouts != 0 || st.Open["websocket"] != 0 {
				t.Fatalf("write timeouts %d, open websockets %d; want 0 and 0", st.WriteTimeouts, st.Open["websocket"])
			}
		})
	}
}

// TestTwoNodes: two nodes on one NATS deliver the same event with the same
// id.
func TestTwoNodes(t *testing.T) {
	a := newNode(t, nodeConfig{natsListen: "127.0.0.1:-1"})
	b := newNode(t, nodeConfig{natsURL: a.bus.ClientURL()})
	tok := a.token("root", func(c *auth.Claims) { c.SiteAdmin = true })
	ca, cb := a.dial(dialOpts{}), b.dial(dialOpts{})
	for _, cl := range []*client{ca, cb} {
		cl.auth(tok)
		cl.subscribe("/contest/c1")
	}
	id := b.publish("run_update", "/contest/c1", "alice", false, `{"guid":"g"}`)
	ma := ca.expect("run_update", nil)
	mb := cb.expect("run_update", nil)
	if ma["id"] != protocol.IDString(id) || mb["id"] != ma["id"] || ma["timestamp"] != mb["timestamp"] {
		t.Fatalf("node a got %v, node b got %v", ma, mb)
	}
}

// jwtDate converts a time for claims.
func jwtDate(t time.Time) *jwt.NumericDate { return jwt.NewNumericDate(t) }

// noneToken is an unsigned token with alg "none".
func noneToken() string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		enc([]byte(fmt.Sprintf(`{"sub":"alice","exp":%d}`, time.Now().Add(time.Hour).Unix()))) + "."
}

// TestWSSmallBuffers checks that messages larger than the connection's
// small read and write buffers pass intact both ways, and that bytes a
// client sends right behind its handshake request, before the 101, are not
// lost when the server swaps in its own reader.
func TestWSSmallBuffers(t *testing.T) {
	e := newEnv(t, nil)

	t.Run("large messages", func(t *testing.T) {
		cl := e.dial(dialOpts{t: t})
		// 3 KiB of JSON whitespace: larger than the read buffer, within
		// the message limit.
		cl.sendRaw([]byte(`{"type":"ping","id":"big"` + strings.Repeat(" ", 3<<10) + `}`))
		cl.expect("pong", map[string]any{"id": "big"})
		cl.auth(e.token("alice", nil))
		cl.subscribe("/user/alice")
		guid := strings.Repeat("g", 3<<10) // an event larger than the write buffer
		e.publish(protocol.TypeRunUpdate, "/user/alice", "alice", false, `{"guid":"`+guid+`"}`)
		m := cl.expect("run_update", nil)
		if d := m["data"].(map[string]any); d["guid"] != guid {
			t.Fatalf("guid of %d bytes, want %d", len(d["guid"].(string)), len(guid))
		}
	})

	t.Run("pipelined", func(t *testing.T) {
		addr := strings.TrimPrefix(e.http.URL, "http://")
		c, err := net.DialTimeout("tcp", addr, waitFor)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitFor))
		msg := []byte(`{"type":"ping","id":"p1"}`)
		var req bytes.Buffer
		fmt.Fprintf(&req, "GET /events/ HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
		// A masked text frame with a zero mask key, in the same write.
		req.Write([]byte{0x81, 0x80 | byte(len(msg)), 0, 0, 0, 0})
		req.Write(msg)
		if _, err := c.Write(req.Bytes()); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("handshake: %s", resp.Status)
		}
		var hdr [2]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			t.Fatal(err)
		}
		if hdr[0] != 0x81 || hdr[1] >= 126 {
			t.Fatalf("frame header %x, want an unmasked short text frame", hdr)
		}
		payload := make([]byte, hdr[1])
		if _, err := io.ReadFull(br, payload); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(payload, &m); err != nil || m["type"] != "pong" || m["id"] != "p1" {
			t.Fatalf("got %q (%v), want the pong of p1", payload, err)
		}
	})
}

// TestPublishInvalidUTF8: an event whose data is not UTF-8 is refused with
// 400 and an error that says so; nothing is stored.
func TestPublishInvalidUTF8(t *testing.T) {
	e := newEnv(t, nil)
	before, err := e.bus.LastID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, e.http.URL+"/publish",
		strings.NewReader("{\"type\":\"run_update\",\"channel\":\"/contest/c1\",\"data\":{\"s\":\"\xff\xfe\xc0\"}}"))
	req.Header.Set("Authorization", "Bearer test-publish-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Error, Message string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 || body.Error != "bad_request" || !strings.Contains(body.Message, "UTF-8") {
		t.Fatalf("%s %+v, want 400 bad_request naming UTF-8", resp.Status, body)
	}
	if after, _ := e.bus.LastID(context.Background()); after != before {
		t.Fatalf("stream moved from %d to %d", before, after)
	}
}
