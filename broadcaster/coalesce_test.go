package broadcaster_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

// boardViews publishes n scoreboard updates on /contest/c1 cycling through
// the three views (public, alice's, admins') and returns the newest id of
// each view.
func boardViews(e *env, n int, pad string) (public, alice, admin uint64) {
	for i := range n {
		data := fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, pad)
		switch i % 3 {
		case 0:
			public = e.publish("scoreboard_update", "/contest/c1", "", true, data)
		case 1:
			alice = e.publish("scoreboard_update", "/contest/c1", "alice", false, data)
		case 2:
			admin = e.publish("scoreboard_update", "/contest/c1", "", false, data)
		}
	}
	return
}

// readBoards reads scoreboard updates until every id in want has arrived,
// checking that ids increase, that only views in allowed arrive, and that
// the connection stays open. It returns how many updates arrived.
func readBoards(t *testing.T, cl *client, want ...uint64) int {
	t.Helper()
	pending := map[string]bool{}
	for _, id := range want {
		pending[protocol.IDString(id)] = true
	}
	var last uint64
	n := 0
	for len(pending) > 0 {
		m := cl.next()
		if m["type"] != "scoreboard_update" {
			continue
		}
		id, _ := protocol.ParseID(m["id"].(string))
		if id <= last {
			t.Fatalf("id %d after %d", id, last)
		}
		last = id
		n++
		delete(pending, m["id"].(string))
	}
	return n
}

// TestCoalesceSlowReader: clients that stop reading while 1,000 large
// scoreboard updates are published are not closed (their queue holds 64
// messages) and, reading again, get the newest update of every view they
// may see: the views are never coalesced into each other.
func TestCoalesceSlowReader(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) { o.QueueMessages = 64 })
	admin := e.dial(dialOpts{noRead: true})
	admin.send(map[string]any{"type": "auth", "token": e.token("root", func(c *auth.Claims) { c.SiteAdmin = true })})
	admin.send(map[string]any{"type": "subscribe", "channel": "/contest/c1"})
	alice := e.dial(dialOpts{noRead: true})
	alice.send(map[string]any{"type": "auth", "token": e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })})
	alice.send(map[string]any{"type": "subscribe", "channel": "/contest/c1"})
	deadline := time.Now().Add(waitFor)
	for e.srv.Stats().Subscriptions["contest"] < 2 {
		if time.Now().After(deadline) {
			t.Fatal("subscriptions not registered")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not synchronizing on time
	}
	// 8 KB each: 8 MB in all, far more than the socket buffers take.
	pub, mine, adm := boardViews(e, 1000, strings.Repeat("x", 8000))
	for e.srv.Stats().LastConsumed < max(pub, mine, adm) {
		if time.Now().After(deadline) {
			t.Fatal("events not routed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	go admin.readLoop()
	go alice.readLoop()
	na := readBoards(t, admin, pub, mine, adm)
	nb := readBoards(t, alice, pub, mine)
	st := e.srv.Stats()
	t.Logf("admin got %d, alice %d of 1000 updates; %d coalesced", na, nb, st.Coalesced)
	if st.Coalesced == 0 || st.SlowConsumers != 0 {
		t.Fatalf("coalesced %d, slow consumers %d", st.Coalesced, st.SlowConsumers)
	}
	// Both are still connected and in step.
	for _, cl := range []*client{admin, alice} {
		cl.send(map[string]any{"type": "ping", "id": "p"})
		for m := cl.next(); m["type"] != "pong"; m = cl.next() {
			if m["type"] == "scoreboard_update" && m["data"].(map[string]any)["n"] == nil {
				t.Fatalf("bad update %v", m)
			}
		}
	}
}

// TestScoreboardMinInterval: with a minimum interval, a burst of updates
// per view yields the first at once and the last at the end of the
// interval; those between are dropped. Another event of the channel
// releases a held update first, so ids keep increasing.
func TestScoreboardMinInterval(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) { o.ScoreboardMinInterval = time.Hour })
	cl := e.dial(dialOpts{})
	cl.auth(e.token("root", func(c *auth.Claims) { c.SiteAdmin = true }))
	cl.subscribe("/contest/c1")
	// The first update of each view goes out at once. (Read them before
	// publishing more, or the connection's own coalescing may replace them.)
	p, a, d := boardViews(e, 3, "")
	for _, id := range []uint64{p, a, d} {
		if m := cl.next(); m["id"] != protocol.IDString(id) {
			t.Fatalf("got %v, want id %d", m, id)
		}
	}
	// With an hour's interval the rest are held, the newest of each view
	// replacing the older. A run_update releases them before itself.
	for range 19 {
		p, a, d = boardViews(e, 3, "")
	}
	run := e.publish("run_update", "/contest/c1", "alice", false, `{}`)
	want := []uint64{p, a, d, run}
	for _, id := range want {
		if m := cl.next(); m["id"] != protocol.IDString(id) {
			t.Fatalf("got %v, want id %d (of %v)", m, id, want)
		}
	}
}

// TestScoreboardMinIntervalTrailing: the last update of a burst goes out
// on its own when the interval ends.
func TestScoreboardMinIntervalTrailing(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) { o.ScoreboardMinInterval = 200 * time.Millisecond })
	cl := e.dial(dialOpts{})
	cl.auth(e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} }))
	cl.subscribe("/contest/c1")
	var last uint64
	for i := range 30 {
		last = e.publish("scoreboard_update", "/contest/c1", "", true, fmt.Sprintf(`{"n":%d}`, i))
	}
	got := 0
	for {
		m := cl.expect("scoreboard_update", nil)
		got++
		if m["id"] == protocol.IDString(last) {
			break
		}
	}
	if got >= 30 {
		t.Fatalf("all %d updates went out: nothing was throttled", got)
	}
	t.Logf("%d of 30 updates went out", got)
}
