package broadcaster_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/broadcaster/natsbus"
	"github.com/arenacast/arenacast/protocol"
)

// presenceInterval is the tests' presence interval: short, so counts
// converge in well under a second; the waits below allow far more.
const presenceInterval = 50 * time.Millisecond

func withPresence(o *broadcaster.Options) { o.PresenceInterval = presenceInterval }

// presenceNumbers is the part of a presence body the tests compare.
type presenceNumbers struct {
	Contestants, Admins, Viewers struct{ Connections, Users int }
	Nodes                        int
}

func (p presenceNumbers) String() string {
	return fmt.Sprintf("contestants %d/%d admins %d/%d viewers %d nodes %d",
		p.Contestants.Connections, p.Contestants.Users, p.Admins.Connections, p.Admins.Users, p.Viewers.Connections, p.Nodes)
}

func numbers(c, cu, a, au, v, nodes int) presenceNumbers {
	var p presenceNumbers
	p.Contestants.Connections, p.Contestants.Users = c, cu
	p.Admins.Connections, p.Admins.Users = a, au
	p.Viewers.Connections = v
	p.Nodes = nodes
	return p
}

// getPresence asks GET /presence<query> with an Authorization bearer (none
// when empty) and returns the status and body.
func (e *env) getPresence(query, bearer string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.http.URL+"/presence"+query, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatalf("GET /presence: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// waitPresence polls GET /presence?contest= on e until it reports want.
func (e *env) waitPresence(contest string, want presenceNumbers) {
	e.t.Helper()
	deadline := time.Now().Add(waitFor)
	var got presenceNumbers
	for time.Now().Before(deadline) {
		status, b := e.getPresence("?contest="+contest, "test-publish-key")
		if status != http.StatusOK {
			e.t.Fatalf("GET /presence: %d %s", status, b)
		}
		got = presenceNumbers{}
		if err := json.Unmarshal(b, &got); err != nil {
			e.t.Fatalf("GET /presence body %s: %v", b, err)
		}
		if got == want {
			return
		}
		time.Sleep(presenceInterval) // polling an endpoint, not synchronizing
	}
	e.t.Fatalf("presence of %s on %s: %v, want %v", contest, e.http.URL, got, want)
}

// waitPresenceEvent reads cl's messages until a presence event on channel
// carries want; other messages are skipped.
func (cl *client) waitPresenceEvent(channel string, want presenceNumbers) map[string]any {
	cl.t.Helper()
	var last presenceNumbers
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		m := cl.next()
		if m["type"] != "presence" {
			continue
		}
		if m["channel"] != channel {
			cl.t.Fatalf("presence event on %v, want %s", m["channel"], channel)
		}
		if _, has := m["id"]; has {
			cl.t.Fatalf("presence event carries an id: %v", m)
		}
		b, _ := json.Marshal(m["data"])
		last = presenceNumbers{}
		json.Unmarshal(b, &last)
		if last == want {
			return m
		}
	}
	cl.t.Fatalf("no presence event with %v; last %v", want, last)
	return nil
}

func TestPresenceAcrossThreeNodes(t *testing.T) {
	a := newNode(t, nodeConfig{natsListen: "127.0.0.1:-1", opts: withPresence})
	b := newNode(t, nodeConfig{natsURL: a.bus.ClientURL(), opts: withPresence})
	c := newNode(t, nodeConfig{natsURL: a.bus.ClientURL(), opts: withPresence})
	contestant := func(e *env, user string) string {
		return e.token(user, func(cl *auth.Claims) { cl.Contests = []string{"c1"} })
	}
	admin := a.token("root", func(cl *auth.Claims) { cl.ContestsAdmin = []string{"c1"} })
	board := a.scoreboardToken("c1")

	sub := func(e *env, tok, channel string) *client {
		t.Helper()
		cl := e.dial(dialOpts{})
		if tok != "" {
			cl.auth(tok)
		}
		if r := cl.subscribe(channel); r["type"] != "subscribed" {
			t.Fatalf("subscribe %s: %v", channel, r)
		}
		return cl
	}
	// Node a: alice, the admin (on both contest channels, one connection),
	// a viewer. Node b: alice again, bob, two viewers. Node c: carol over
	// SSE, a viewer. Another contest's contestant on c counts elsewhere.
	aliceA := sub(a, contestant(a, "alice"), "/contest/c1")
	root := sub(a, admin, "/contest/c1/admin")
	if r := root.subscribe("/contest/c1"); r["type"] != "subscribed" {
		t.Fatalf("admin on /contest/c1: %v", r)
	}
	sub(a, "", "/scoreboard/"+board)
	aliceB := sub(b, contestant(b, "alice"), "/contest/c1")
	sub(b, contestant(b, "bob"), "/contest/c1")
	viewerB := sub(b, "", "/scoreboard/"+board)
	sub(b, "", "/scoreboard/"+board)
	carol := c.openSSE(sseQuery([]string{"/contest/c1"}), bearerHeader(contestant(c, "carol")))
	carol.expect("subscribed", nil)
	sub(c, "", "/scoreboard/"+board)
	other := c.token("dave", func(cl *auth.Claims) { cl.Contests = []string{"c2"} })
	sub(c, other, "/contest/c2")

	all := numbers(4, 3, 1, 1, 4, 3)
	for _, e := range []*env{a, b, c} {
		e.waitPresence("c1", all)
	}
	root.waitPresenceEvent("/contest/c1/admin", all)

	// Nobody but the admin channel's subscribers gets the event: a marker
	// published after the admin had one reaches alice (same node) with no
	// presence event before it.
	a.publish("marker", "/contest/c1", "", true, `{}`)
	for _, m := range aliceA.drainUntil(func(m map[string]any) bool { return m["type"] == "marker" }) {
		if m["type"] == "presence" {
			t.Fatalf("a contestant got a presence event: %v", m)
		}
	}

	// alice leaves node b (she is still on a), and one viewer leaves b.
	aliceB.c.CloseNow()
	viewerB.c.CloseNow()
	less := numbers(3, 3, 1, 1, 3, 3)
	for _, e := range []*env{a, b, c} {
		e.waitPresence("c1", less)
	}
	root.waitPresenceEvent("/contest/c1/admin", less)

	// Node c stops: carol and its viewer are gone, and so is the node.
	c.close()
	fewer := numbers(2, 2, 1, 1, 2, 2)
	a.waitPresence("c1", fewer)
	b.waitPresence("c1", fewer)
	root.waitPresenceEvent("/contest/c1/admin", fewer)
	if status, body := a.getPresence("?contest=c2", "test-publish-key"); status != http.StatusOK {
		t.Fatalf("c2: %d %s", status, body)
	}
}

func TestPresenceAuthorization(t *testing.T) {
	e := newNode(t, nodeConfig{opts: withPresence})
	contestant := e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })
	admin := e.token("root", func(c *auth.Claims) { c.ContestsAdmin = []string{"c1"} })
	publisher := e.token("ops", func(c *auth.Claims) { c.Publish = true })
	for _, tc := range []struct {
		name, query, bearer string
		status              int
	}{
		{"no credential", "?contest=c1", "", http.StatusUnauthorized},
		{"bad token", "?contest=c1", "not-a-token", http.StatusUnauthorized},
		{"contestant", "?contest=c1", contestant, http.StatusForbidden},
		{"admin of another contest", "?contest=c2", admin, http.StatusForbidden},
		{"admin, every contest", "", admin, http.StatusForbidden},
		{"admin of the contest", "?contest=c1", admin, http.StatusOK},
		{"publish key", "?contest=c1", "test-publish-key", http.StatusOK},
		{"publish key, every contest", "", "test-publish-key", http.StatusOK},
		{"publisher token", "", publisher, http.StatusOK},
		{"bad alias", "?contest=a/b", "test-publish-key", http.StatusBadRequest},
		{"two contests", "?contest=c1&contest=c2", "test-publish-key", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.getPresence(tc.query, tc.bearer)
			if status != tc.status {
				t.Fatalf("got %d %s, want %d", status, body, tc.status)
			}
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if status != http.StatusOK && m["error"] != "unauthorized" && m["error"] != "bad_request" {
				t.Fatalf("refusal body %s", body)
			}
		})
	}
	// A contestant cannot reach the admin channel, where the event goes.
	cl := e.dial(dialOpts{})
	cl.auth(contestant)
	if r := cl.subscribe("/contest/c1/admin"); r["type"] != "error" || r["error"] != "unauthorized" {
		t.Fatalf("a contestant on the admin channel: %v", r)
	}
}

func TestPresenceOff(t *testing.T) {
	e := newNode(t, nodeConfig{opts: func(o *broadcaster.Options) { o.PresenceInterval = -1 }})
	if status, body := e.getPresence("?contest=c1", "test-publish-key"); status != http.StatusNotFound {
		t.Fatalf("got %d %s, want 404", status, body)
	}
}

// TestPresenceOverSSE: an admin's SSE stream gets the presence event
// named "presence" with no id: line, so it never moves Last-Event-ID.
func TestPresenceOverSSE(t *testing.T) {
	e := newNode(t, nodeConfig{opts: withPresence})
	admin := e.token("root", func(c *auth.Claims) { c.ContestsAdmin = []string{"c1"} })
	s := e.openSSE(sseQuery([]string{"/contest/c1/admin"}), bearerHeader(admin))
	s.expect("subscribed", nil)
	ev := s.next()
	if ev.event != "presence" || ev.hasID {
		t.Fatalf("got %+v, want a presence event without id", ev)
	}
	m := ev.msg(t)
	b, _ := json.Marshal(m["data"])
	var got presenceNumbers
	json.Unmarshal(b, &got)
	if want := numbers(0, 0, 1, 1, 0, 1); got != want || m["channel"] != "/contest/c1/admin" {
		t.Fatalf("got %v on %v, want %v", got, m["channel"], want)
	}
}

// TestPresenceDeadNodeExpires: a node that stops publishing without a
// goodbye (it died) is dropped from the totals after its ttl_ms. The
// dead node is a summary published on the presence subject by the test.
func TestPresenceDeadNodeExpires(t *testing.T) {
	e := newNode(t, nodeConfig{opts: withPresence})
	ghost := []byte(`{"v":1,"node":"ghost","seq":1,"ttl_ms":500,"contests":{"c1":{"viewers":{"connections":5}}}}`)
	subject := natsbus.PresenceSubject(protocol.DefaultSubjectPrefix)
	deadline := time.Now().Add(waitFor)
	for {
		// Published again while waiting, as a live node would.
		if err := e.bus.Conn().Publish(subject, ghost); err != nil {
			t.Fatal(err)
		}
		_, b := e.getPresence("?contest=c1", "test-publish-key")
		var got presenceNumbers
		json.Unmarshal(b, &got)
		if got == numbers(0, 0, 0, 0, 5, 2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ghost node never counted: %s", b)
		}
		time.Sleep(presenceInterval) // polling an endpoint, not synchronizing
	}
	e.waitPresence("c1", numbers(0, 0, 0, 0, 0, 1))
}
