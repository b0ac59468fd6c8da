package broadcaster_test

import (
	"testing"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// TestSnapshotMarked: the stored scoreboard a subscribe without since gets
// is marked "snapshot":true, over WebSocket and SSE; live events, and the
// history a resume replays, are not.
func TestSnapshotMarked(t *testing.T) {
	e := newEnv(t, nil)
	first := e.publish("clarification", "/contest/c1", "", true, `{"q":1}`)
	storedID := e.publish("scoreboard_update", "/contest/c1", "", true, `{"r":1}`)
	stored := protocol.IDString(storedID)
	// Routed by the node, so both are history when the client subscribes.
	waitUntil(t, func() bool { return e.srv.Stats().LastConsumed >= storedID })
	tok := e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })

	cl := e.dial(dialOpts{})
	cl.auth(tok)
	if m := cl.subscribe("/contest/c1"); m["type"] != "subscribed" {
		t.Fatal(m)
	}
	cl.expect("scoreboard_update", map[string]any{"id": stored, "snapshot": true})
	liveID := e.publish("scoreboard_update", "/contest/c1", "", true, `{"r":2}`)
	live := protocol.IDString(liveID)
	if m := cl.expect("scoreboard_update", map[string]any{"id": live}); m["snapshot"] != nil {
		t.Fatalf("a live event marked: %v", m)
	}
	waitUntil(t, func() bool { return e.srv.Stats().LastConsumed >= liveID })

	sse := e.openSSE(sseQuery([]string{"/contest/c1"}), bearerHeader(tok))
	sse.expect("subscribed", nil)
	sse.expect("scoreboard_update", map[string]any{"id": live, "snapshot": true})

	// A resume replays history, unmarked.
	res := e.dial(dialOpts{})
	res.auth(tok)
	res.send(map[string]any{"type": "subscribe", "channel": "/contest/c1", "since": protocol.IDString(first)})
	res.expect("subscribed", map[string]any{"recovered": true})
	// The newer scoreboard may replace the older one in the queue (§6).
	m := res.next()
	if m["id"] == stored {
		if m["snapshot"] != nil {
			t.Fatalf("replayed history marked: %v", m)
		}
		m = res.next()
	}
	if m["id"] != live || m["snapshot"] != nil {
		t.Fatalf("replayed history: %v, want %s unmarked", m, live)
	}
}
