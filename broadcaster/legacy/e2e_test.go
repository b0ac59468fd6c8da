package legacy_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster/legacy"
	"github.com/arenacast/arenacast/broadcaster/natsbus"
)

// Messages as omegaUp's publishers write them (the grader's run update,
// the frontend's clarification and scoreboard), deliberately not compact:
// legacy clients must receive these bytes exactly.
const (
	annRun        = `{"message":"/run/update/","run":{"username":"ann","contest_alias":"c1","alias":"sum","guid":"g1","status":"ready","verdict":"AC","score":1,"contest_score":100,"runtime":0.045,"memory":2048,"time":1704067200}}`
	publicClar    = `{"message":"/clarification/update/", "clarification":{"clarification_id":567,"contest_alias":"c1","problem_alias":"sum","author":"admin","message":"n > 0","answer":null,"public":true}}`
	scoreboardMsg = `{"message":"/scoreboard/update/","scoreboard":{"ranking":[{"username":"ann","total":{"points":100}}],"time":1704067300}}`
)

// TestLegacyAndArenaClients is the drop-in: omegaUp's backend publishes
// envelopes, omegaUp's frontend (legacy clients) and a seed 002 client on
// the same node see the same events within their rights, and a run asks
// the platform to refresh its scoreboard, which it then broadcasts.
func TestLegacyAndArenaClients(t *testing.T) {
	n := newNode(t, func(c *legacy.Config) {
		c.RefreshInterval = time.Hour // one call now; the trailing one never comes in this test
		c.RefreshToken = "refresh-secret"
	})
	ann, _, _ := n.dialLegacy("ann-session", "/problemset/7")
	bob, _, _ := n.dialLegacy("bob-session", "/problemset/7")
	judge, _, _ := n.dialLegacy("admin-session", "/problemset/7")
	anon, _, _ := n.dialLegacy("", "/problemset/7/sbtok")
	both, _, _ := n.dialLegacy("ann-session", "/contest/c1", "/problemset/7") // one envelope, two of its filters
	arena := n.dialArena("ann", func(c *auth.Claims) { c.Contests = []string{"c1"} }, "/contest/c1")
	arenaBob := n.dialArena("bob", func(c *auth.Claims) { c.Contests = []string{"c1"} }, "/contest/c1")

	// 1. The grader's run update for ann: private, with contest, problemset
	// and problem.
	if st, body := n.broadcast(envelope("c1", 7, "sum", "ann", false, annRun)); st != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("broadcast: %d %s", st, body)
	}
	for name, c := range map[string]*legacyClient{"ann": ann, "judge": judge, "ann on two filters": both} {
		if got := string(c.next()); got != annRun {
			t.Fatalf("%s got %s, want the run update's bytes", name, got)
		}
	}
	ev := arena.expect("run_update")
	if ev["channel"] != "/contest/c1" || ev["id"] == nil {
		t.Fatalf("arena client got %v", ev)
	}
	if data, _ := json.Marshal(ev["data"]); !strings.Contains(string(data), `"guid":"g1"`) {
		t.Fatalf("arena run_update data %s", data)
	}

	// 2. The run asked the platform to refresh c1's scoreboard.
	select {
	case got := <-n.front.refreshes:
		if got.alias != "c1" || got.token != "refresh-secret" {
			t.Fatalf("refresh %+v", got)
		}
	case <-time.After(waitFor):
		t.Fatal("no scoreboard refresh after a run")
	}

	// 3. The platform broadcasts the scoreboard and a public clarification.
	if st, body := n.broadcast(envelope("c1", 7, "", "", true, scoreboardMsg)); st != http.StatusOK {
		t.Fatalf("broadcast: %d %s", st, body)
	}
	if st, body := n.broadcast(envelope("c1", 7, "sum", "", true, publicClar)); st != http.StatusOK {
		t.Fatalf("broadcast: %d %s", st, body)
	}
	// bob and the anonymous scoreboard viewer never see ann's run: their
	// first message is the public scoreboard.
	for name, c := range map[string]*legacyClient{"ann": ann, "bob": bob, "judge": judge, "anonymous": anon, "ann on two filters": both} {
		if got := string(c.next()); got != scoreboardMsg {
			t.Fatalf("%s got %s, want the scoreboard", name, got)
		}
		if got := string(c.next()); got != publicClar {
			t.Fatalf("%s got %s, want the clarification", name, got)
		}
	}
	arena.expect("scoreboard_update")
	if m := arena.expect("clarification"); m["channel"] != "/contest/c1" {
		t.Fatalf("arena clarification %v", m)
	}
	arenaBob.expect("scoreboard_update") // not ann's run
	arenaBob.expect("clarification")

	// 4. Our own publishers' events (not legacy-shaped) never reach a
	// legacy connection; legacy ones still do after them.
	if st, body := n.post("/publish", []byte(`{"type":"run_update","channel":"/contest/c1","public":true,"data":{"guid":"native"}}`), "Bearer "+publishKey); st != http.StatusAccepted {
		t.Fatalf("publish: %d %s", st, body)
	}
	arenaBob.expect("run_update")
	if st, _ := n.broadcast(envelope("c1", 7, "", "", true, scoreboardMsg)); st != http.StatusOK {
		t.Fatal("broadcast failed")
	}
	if got := string(bob.next()); got != scoreboardMsg {
		t.Fatalf("bob got %s after a native event, want only the legacy scoreboard", got)
	}
}

// TestLegacyConnectRefusals: every refusal comes before the upgrade, as
// HTTP with a JSON error, and leaves connected clients untouched.
func TestLegacyConnectRefusals(t *testing.T) {
	n := newNode(t, func(c *legacy.Config) { c.ValidateTimeout = 300 * time.Millisecond })
	bob, _, _ := n.dialLegacy("bob-session", "/contest/c1")
	for _, tc := range []struct {
		name, session string
		filters       []string
		status        int
		want          string
		reason        string // Stats.Refused
	}{
		{"unknown filter", "bob-session", []string{"/scoreboard/x"}, http.StatusBadRequest, "unknown filter", "bad_request"},
		{"no filter", "bob-session", nil, http.StatusBadRequest, "no filter", "bad_request"},
		{"bad problemset", "bob-session", []string{"/problemset/x"}, http.StatusBadRequest, "positive integer", "bad_request"},
		{"frontend answers 500", "fail-session", []string{"/contest/c1"}, http.StatusBadGateway, "validateFilter failed (HTTP 500)", "platform_error"},
		{"frontend hangs", "hang-session", []string{"/contest/c1"}, http.StatusGatewayTimeout, "did not answer within", "platform_error"},
		{"frontend refuses", "bob-session", []string{"/contest/c2"}, http.StatusForbidden, "refused the filters", "platform"},
		{"anonymous without token", "", []string{"/contest/c1"}, http.StatusForbidden, "refused the filters", "platform"},
		{"unknown session", "stale-session", []string{"/contest/c1"}, http.StatusUnauthorized, "refused the filters", "platform"},
		{"all-events for a non-admin", "bob-session", []string{"/all-events"}, http.StatusForbidden, "site admins", "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := n.adapter.Stats().Refused
			c, status, body := n.dialLegacy(tc.session, tc.filters...)
			if c != nil {
				t.Fatal("connected")
			}
			if status != tc.status || !strings.Contains(body, tc.want) || !strings.Contains(body, `"error":`) {
				t.Fatalf("got %d %s, want %d with %q", status, body, tc.status, tc.want)
			}
			after := n.adapter.Stats().Refused
			for reason, got := range after {
				want := before[reason]
				if reason == tc.reason {
					want++
				}
				if got != want {
					t.Errorf("Refused[%s] went from %d to %d, want %d", reason, before[reason], got, want)
				}
			}
		})
	}
	waitUntil(t, "bob's connection counted", func() bool { return n.adapter.Stats().Connections == 1 })
	if st, _ := n.broadcast(envelope("c1", 0, "", "", true, scoreboardMsg)); st != http.StatusOK {
		t.Fatal("broadcast failed")
	}
	if got := string(bob.next()); got != scoreboardMsg {
		t.Fatalf("bob got %s", got)
	}
}

// TestBroadcastRefusals: bad envelopes get a clear 4xx and publish
// nothing; the next good one is delivered as usual.
func TestBroadcastRefusals(t *testing.T) {
	n := newNode(t, nil)
	bob, _, _ := n.dialLegacy("bob-session", "/contest/c1")
	arena := n.dialArena("bob", func(c *auth.Claims) { c.Contests = []string{"c1"} }, "/contest/c1")
	for _, tc := range []struct {
		name   string
		body   string
		authz  string
		status int
		want   string
	}{
		{"non-JSON message", `{"contest":"c1","public":true,"message":"not json {"}`, "Bearer " + publishKey, 400, "message is not JSON"},
		{"message not an object", `{"contest":"c1","public":true,"message":"[1,2]"}`, "Bearer " + publishKey, 400, "first member"},
		{"message member not first", `{"contest":"c1","public":true,"message":"{\"run\":{},\"message\":\"/run/update/\"}"}`, "Bearer " + publishKey, 400, "first member"},
		{"no message", `{"contest":"c1","public":true}`, "Bearer " + publishKey, 400, "message is missing"},
		{"not an envelope", `[1]`, "Bearer " + publishKey, 400, "not a JSON object"},
		{"bad contest", `{"contest":"c 1","message":"{\"message\":\"/x/\"}"}`, "Bearer " + publishKey, 400, "contest must be a valid name"},
		{"bad problemset", `{"problemset":"x","message":"{\"message\":\"/x/\"}"}`, "Bearer " + publishKey, 400, "problemset must be"},
		{"no credential", `{"contest":"c1","public":true,"message":"{\"message\":\"/x/\"}"}`, "", 401, "publisher credential"},
		{"wrong credential", `{"contest":"c1","public":true,"message":"{\"message\":\"/x/\"}"}`, "Bearer nope", 401, "publisher credential"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body := n.post("/broadcast/", []byte(tc.body), tc.authz)
			if st != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %s, want %d with %q", st, body, tc.status, tc.want)
			}
		})
	}
	big := `{"message":"/scoreboard/update/","pad":"` + strings.Repeat("x", 70<<10) + `"}`
	if st, body := n.broadcast(envelope("c1", 0, "", "", true, big)); st != http.StatusRequestEntityTooLarge || !strings.Contains(body, "--max-event-size") {
		t.Fatalf("an envelope over the event size: %d %s, want 413 naming --max-event-size", st, body)
	}
	if st, _ := n.broadcast(envelope("c1", 0, "", "", true, publicClar)); st != http.StatusOK {
		t.Fatal("broadcast failed")
	}
	if got := string(bob.next()); got != publicClar {
		t.Fatalf("bob got %s, want the clarification first", got)
	}
	arena.expect("clarification")
	st := n.adapter.Stats()
	// The public contest envelope is two events: /contest/c1 and all-events.
	if st.Broadcasts["refused"] != 10 || st.Broadcasts["published"] != 1 || st.Broadcasts["failed"] != 0 || st.BroadcastEvents != 2 {
		t.Errorf("Broadcasts %v, BroadcastEvents %d; want 10 refused, 1 published, 2 events", st.Broadcasts, st.BroadcastEvents)
	}
}

// TestDeauthenticate closes the user's connections (4503) on the node and
// refuses its cached answer; others stay.
func TestDeauthenticate(t *testing.T) {
	n := newNode(t, nil)
	ann, _, _ := n.dialLegacy("ann-session", "/contest/c1")
	bob, _, _ := n.dialLegacy("bob-session", "/contest/c1")
	if st, body := n.post("/deauthenticate/ann", nil, ""); st != http.StatusUnauthorized {
		t.Fatalf("deauthenticate without credential: %d %s", st, body)
	}
	if st, body := n.post("/deauthenticate/a%20b", nil, "Bearer "+publishKey); st != http.StatusBadRequest {
		t.Fatalf("deauthenticate of a bad name: %d %s", st, body)
	}
	if st, body := n.post("/deauthenticate/ann", nil, "Bearer "+publishKey); st != http.StatusOK {
		t.Fatalf("deauthenticate: %d %s", st, body)
	}
	if code := ann.closed(); code != websocket.StatusCode(4503) {
		t.Fatalf("ann closed with %d, want 4503", code)
	}
	if st, _ := n.broadcast(envelope("c1", 0, "", "", true, scoreboardMsg)); st != http.StatusOK {
		t.Fatal("broadcast failed")
	}
	if got := string(bob.next()); got != scoreboardMsg {
		t.Fatalf("bob got %s", got)
	}
	if st := n.adapter.Stats(); st.Deauthenticated != 1 {
		t.Errorf("Deauthenticated = %d, want 1 (the refused requests do not count)", st.Deauthenticated)
	}
}

// TestValidateCache: reconnects within the cache's lifetime ask the
// platform once.
func TestValidateCache(t *testing.T) {
	n := newNode(t, func(c *legacy.Config) { c.CacheTTL = 10 * time.Minute }) // far above the test's length
	for range 3 {
		c, st, body := n.dialLegacy("bob-session", "/contest/c1")
		if c == nil {
			t.Fatalf("dial: %d %s", st, body)
		}
		c.c.CloseNow()
	}
	if got := n.front.validates.Load(); got != 1 {
		t.Fatalf("validateFilter asked %d times, want 1", got)
	}
	if c, _, _ := n.dialLegacy("ann-session", "/contest/c1"); c == nil {
		t.Fatal("dial")
	}
	if got := n.front.validates.Load(); got != 2 {
		t.Fatalf("validateFilter asked %d times for two credentials, want 2", got)
	}
	if st := n.adapter.Stats(); st.ValidateAsked != 2 || st.ValidateReused != 2 {
		t.Errorf("ValidateAsked %d, ValidateReused %d; want 2, 2", st.ValidateAsked, st.ValidateReused)
	}
	// Counted once Attach returns, which may be after the client's Dial.
	waitUntil(t, "four connections counted", func() bool { return n.adapter.Stats().Connections == 4 })
}

// TestArenaResumesLegacyEvents: envelopes are stream events with ids, so a
// seed 002 client that reconnects resumes after the last one it saw.
func TestArenaResumesLegacyEvents(t *testing.T) {
	n := newNode(t, nil)
	var ids []string
	for _, msg := range []string{annRun, publicClar} {
		st, body := n.broadcast(envelope("c1", 7, "sum", "ann", msg == publicClar, msg))
		var res struct{ IDs map[string]string }
		if st != http.StatusOK || json.Unmarshal([]byte(body), &res) != nil || res.IDs["/contest/c1"] == "" {
			t.Fatalf("broadcast: %d %s", st, body)
		}
		ids = append(ids, res.IDs["/contest/c1"])
	}
	arena := n.dialArena("ann", func(c *auth.Claims) { c.Contests = []string{"c1"} })
	arena.send(map[string]any{"type": "subscribe", "channel": "/contest/c1", "since": ids[0]})
	if m := arena.expect("subscribed"); m["recovered"] != true {
		t.Fatalf("resume: %v", m)
	}
	if m := arena.expect("clarification"); m["id"] != ids[1] {
		t.Fatalf("resumed %v, want the clarification %s", m, ids[1])
	}
}

// TestLegacyOrigin: a cross-origin page not in --allowed-origins is
// refused before the upgrade, as for every client.
func TestLegacyOrigin(t *testing.T) {
	n := newNode(t, nil)
	req, _ := http.NewRequest(http.MethodGet, n.http.URL+"/events/?filter=/contest/c1", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Protocol", legacy.Subprotocol)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Cookie", "ouat=bob-session")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin legacy connect: %d, want 403", resp.StatusCode)
	}
	// Legacy SSE (or any plain GET with filters) is refused with a reason.
	req, _ = http.NewRequest(http.MethodGet, n.http.URL+"/events/?filter=/contest/c1", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	body, _ := io.ReadAll(resp2.Body)
	if resp2.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "WebSocket only") {
		t.Fatalf("legacy SSE: %d %s, want 400", resp2.StatusCode, body)
	}
	if r := n.adapter.Stats().Refused; r["forbidden"] != 1 || r["bad_request"] != 1 {
		t.Errorf("Refused = %v, want the origin under forbidden and the SSE request under bad_request", r)
	}
}

// TestTwoNodes: an envelope posted to one node reaches legacy and seed 002
// clients on another, with the same ids, as every stream event does.
func TestTwoNodes(t *testing.T) {
	a := newNodeOn(t, natsbus.Config{DataDir: t.TempDir(), MaxAge: time.Hour, Listen: "127.0.0.1:-1"}, nil)
	b := newNodeOn(t, natsbus.Config{URL: a.bus.ClientURL(), MaxAge: time.Hour}, nil)
	bob, _, _ := b.dialLegacy("bob-session", "/problemset/7")
	arena := b.dialArena("bob", func(c *auth.Claims) { c.Contests = []string{"c1"} }, "/contest/c1")
	st, body := a.broadcast(envelope("c1", 7, "", "", true, scoreboardMsg))
	var res struct{ IDs map[string]string }
	if st != http.StatusOK || json.Unmarshal([]byte(body), &res) != nil {
		t.Fatalf("broadcast on node a: %d %s", st, body)
	}
	if got := string(bob.next()); got != scoreboardMsg {
		t.Fatalf("legacy client on node b got %s", got)
	}
	if m := arena.expect("scoreboard_update"); m["id"] != res.IDs["/contest/c1"] {
		t.Fatalf("seed client on node b got %v, want id %s", m, res.IDs["/contest/c1"])
	}
}

// TestBroadcastStreamUnavailable: with the stream gone, a broadcast is
// answered 503 internal_error and counted as failed.
func TestBroadcastStreamUnavailable(t *testing.T) {
	n := newNode(t, nil)
	if st, body := n.broadcast(envelope("c1", 0, "", "", true, publicClar)); st != http.StatusOK {
		t.Fatalf("broadcast before: %d %s", st, body)
	}
	if err := n.bus.JetStream().DeleteStream(context.Background(), "ARENACAST"); err != nil {
		t.Fatal(err)
	}
	st, body := n.broadcast(envelope("c1", 0, "", "", true, publicClar))
	if st != http.StatusServiceUnavailable || !strings.Contains(body, `"error":"internal_error"`) || !strings.Contains(body, "the event stream is unavailable") {
		t.Fatalf("broadcast without the stream: %d %s; want 503, internal_error, the stream unavailable", st, body)
	}
	if got := n.adapter.Stats().Broadcasts; got["failed"] != 1 || got["published"] != 1 {
		t.Fatalf("Broadcasts %v; want 1 published, 1 failed", got)
	}
}
