package broadcaster_test

import (
	"testing"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

// TestResumeFromMemory: a node answers resumes from its recent log, even
// for ids the stream has already discarded, and says recovered:false only
// when its memory no longer reaches back either.
func TestResumeFromMemory(t *testing.T) {
	e := newNode(t, nodeConfig{maxMsgs: 10, opts: func(o *broadcaster.Options) { o.RecentEvents = 20 }})
	tok := e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })
	var ids []uint64
	for i := range 30 {
		user := "alice"
		if i%3 == 0 {
			user = "bob" // never replayed to alice
		}
		id := e.publish("run_update", "/contest/c1", user, false, `{}`)
		ids = append(ids, id)
		// The node must read each event before the 10-event stream discards
		// it (a node that lags behind retention cannot remember what it
		// never saw: TestRecentLogGap).
		waitUntil(t, func() bool { return e.srv.Stats().LastConsumed == id })
	}

	// From the 15th event: the stream keeps only the last 10, memory the last 20.
	cl := e.dial(dialOpts{})
	cl.auth(tok)
	cl.send(map[string]any{"type": "subscribe", "channel": "/contest/c1", "since": protocol.IDString(ids[14])})
	cl.expect("subscribed", map[string]any{"recovered": true})
	for i := 15; i < 30; i++ {
		if i%3 == 0 {
			continue
		}
		cl.expect("run_update", map[string]any{"id": protocol.IDString(ids[i])})
	}
	live := e.publish("run_update", "/contest/c1", "alice", false, `{}`)
	cl.expect("run_update", map[string]any{"id": protocol.IDString(live)})

	// From the 2nd event: evicted from memory and discarded by the stream.
	old := e.dial(dialOpts{})
	old.auth(tok)
	old.send(map[string]any{"type": "subscribe", "channel": "/contest/c1", "since": protocol.IDString(ids[1])})
	old.expect("subscribed", map[string]any{"recovered": false})
}

// TestWarmUp: a node started after events were stored serves them as
// history (snapshot, resume), never as live events.
func TestWarmUp(t *testing.T) {
	a := newNode(t, nodeConfig{natsListen: "127.0.0.1:-1"})
	sb := a.publish("scoreboard_update", "/contest/c1", "", true, `{"v":1}`)
	run := a.publish("run_update", "/contest/c1", "alice", false, `{}`)
	b := newNode(t, nodeConfig{natsURL: a.bus.ClientURL()})
	tok := b.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })
	cl := b.dial(dialOpts{})
	cl.auth(tok)
	cl.subscribe("/contest/c1")
	cl.expect("scoreboard_update", map[string]any{"id": protocol.IDString(sb)}) // the snapshot
	live := b.publish("contest_update", "/contest/c1", "", true, `{}`)
	cl.expect("contest_update", map[string]any{"id": protocol.IDString(live)}) // not the old run
	re := b.dial(dialOpts{})
	re.auth(tok)
	re.send(map[string]any{"type": "subscribe", "channel": "/contest/c1", "since": protocol.IDString(sb)})
	re.expect("subscribed", map[string]any{"recovered": true})
	re.expect("run_update", map[string]any{"id": protocol.IDString(run)})
	re.expect("contest_update", map[string]any{"id": protocol.IDString(live)})
}
