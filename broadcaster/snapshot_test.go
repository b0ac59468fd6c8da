package broadcaster_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

// TestSnapshot: a subscribe without since to a contest (or its scoreboard
// channel) is followed by the newest scoreboard_update of the view the
// subscriber should get: public for scoreboard token holders, the
// contestant's own (when newer than the public one) for a contestant, the
// admins' view for an admin (never another contestant's). Both from the
// cache of a node that saw the updates live and from the stream on a node
// started after them.
func TestSnapshot(t *testing.T) {
	a := newNode(t, nodeConfig{natsListen: "127.0.0.1:-1"})
	pub := a.publish("scoreboard_update", "/contest/c1", "", true, `{"view":"public"}`)
	mine := a.publish("scoreboard_update", "/contest/c1", "alice", false, `{"view":"alice"}`)
	adm := a.publish("scoreboard_update", "/contest/c1", "", false, `{"view":"admin"}`)
	bob := a.publish("scoreboard_update", "/contest/c1", "bob", false, `{"view":"bob"}`)
	a.publish("scoreboard_update", "/contest/c2", "", true, `{"view":"other contest"}`)
	a.publish("clarification", "/contest/c1", "", true, `{}`)
	// a consumed them live (cache); b starts after them without a
	// warm-up (stream, searched once for all its subscribers); w starts
	// after them and reads them at its warm-up (cache).
	searches := &countingBus{Bus: a.bus}
	b := newNode(t, nodeConfig{natsURL: a.bus.ClientURL(), opts: func(o *broadcaster.Options) {
		o.WarmEvents = -1
		o.Bus = searches
	}})
	w := newNode(t, nodeConfig{natsURL: a.bus.ClientURL()})

	contestant := func(u string) string {
		return a.token(u, func(c *auth.Claims) { c.Contests = []string{"c1"} })
	}
	root := a.token("root", func(c *auth.Claims) { c.SiteAdmin = true })
	board := "/scoreboard/" + a.scoreboardToken("c1")
	cases := []struct {
		name, transport, tok, channel string
		want                          uint64
	}{
		{"scoreboard token", "ws", "", board, pub},
		{"scoreboard token over SSE", "sse", "", board, pub},
		{"contestant", "ws", contestant("alice"), "/contest/c1", mine},
		{"other contestant", "ws", contestant("bob"), "/contest/c1", bob},
		{"contestant without own view", "sse", contestant("carol"), "/contest/c1", pub},
		{"admin", "ws", root, "/contest/c1", adm},
		{"admin over SSE", "sse", root, "/contest/c1", adm},
	}
	last := bob + 2 // the other contest's board and the clarification
	for _, node := range []struct {
		name string
		e    *env
	}{{"cache", a}, {"stream", b}, {"warm-up", w}} {
		for _, tc := range cases {
			t.Run(node.name+"/"+tc.name, func(t *testing.T) {
				// The node must have routed the previous case's live
				// event, or it is live for this subscriber too.
				waitUntil(t, func() bool { return node.e.srv.Stats().LastConsumed >= last })
				s := openSnapshot(t, node.e, tc.transport, tc.tok, tc.channel)
				if _, ok := s.subscribed["recovered"]; ok {
					t.Fatalf("subscribed without since carries recovered: %v", s.subscribed)
				}
				m := s.next()
				if m["type"] != "scoreboard_update" || m["id"] != protocol.IDString(tc.want) || m["channel"] != tc.channel {
					t.Fatalf("snapshot %v, want scoreboard_update %d on %s", m, tc.want, tc.channel)
				}
				// Then live events, nothing else from the past.
				live := a.publish("contest_update", "/contest/c1", "", true, fmt.Sprintf(`{"case":%q}`, tc.name))
				last = live
				if m := s.next(); m["id"] != protocol.IDString(live) {
					t.Fatalf("got %v, want the live event %d", m, live)
				}
			})
		}
	}
	if n := searches.latest.Load(); n != 1 {
		t.Errorf("the node without warm-up searched the stream %d times for one contest, want 1", n)
	}
}

// countingBus is the real bus, counting the stream searches for snapshots.
type countingBus struct {
	broadcaster.Bus
	latest atomic.Int32
}

func (b *countingBus) Latest(ctx context.Context, ch protocol.Channel, upTo uint64, limit int, keep func(*protocol.Event) bool) (*protocol.Event, error) {
	b.latest.Add(1)
	return b.Bus.Latest(ctx, ch, upTo, limit, keep)
}

// openSnapshot subscribes without since; tok may be empty for scoreboard
// channels.
func openSnapshot(t *testing.T, e *env, transport, tok, channel string) stream {
	t.Helper()
	if tok != "" {
		return openResumed(t, e, transport, tok, channel, "")
	}
	switch transport {
	case "ws":
		cl := e.dial(dialOpts{t: t})
		cl.send(map[string]any{"type": "subscribe", "channel": channel})
		return stream{subscribed: cl.expect("subscribed", map[string]any{"channel": channel}), next: cl.next}
	default:
		c := e.openSSEFor(t, sseQuery([]string{channel}), nil)
		return stream{subscribed: c.expect("subscribed", map[string]any{"channel": channel}), next: func() map[string]any { return c.next().msg(t) }}
	}
}

// TestSnapshotBudget: over its byte budget the snapshot cache drops the
// contests updated least recently; their subscribers still get the right
// snapshot, from one stream search per contest.
func TestSnapshotBudget(t *testing.T) {
	searches := &countingBus{}
	e := newNode(t, nodeConfig{opts: func(o *broadcaster.Options) {
		o.SnapshotBytes = 1 // room for one contest's views at a time
		searches.Bus = o.Bus
		o.Bus = searches
	}})
	c1 := e.publish("scoreboard_update", "/contest/c1", "", true, `{"board":"c1"}`)
	c2 := e.publish("scoreboard_update", "/contest/c2", "", true, `{"board":"c2"}`) // drops c1's
	waitUntil(t, func() bool { return e.srv.Stats().LastConsumed >= c2 })
	tok := e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1", "c2"} })
	cases := []struct {
		channel  string
		want     uint64
		searches int32
	}{
		{"/contest/c1", c1, 1}, // dropped: searched
		{"/contest/c1", c1, 1}, // the search put it back
		{"/contest/c2", c2, 2}, // dropped by that: searched
	}
	for i, tc := range cases {
		s := openSnapshot(t, e, "ws", tok, tc.channel)
		if m := s.next(); m["type"] != "scoreboard_update" || m["id"] != protocol.IDString(tc.want) {
			t.Fatalf("case %d: snapshot %v, want scoreboard_update %d", i, m, tc.want)
		}
		if n := searches.latest.Load(); n != tc.searches {
			t.Fatalf("case %d: %d stream searches, want %d", i, n, tc.searches)
		}
	}
}

// TestSnapshotSearchFailureShared: when the one stream search a
// contest's subscribers wait on fails, they all share its failure and are
// subscribed without a snapshot at once: they do not retry one after
// another, each waiting for the last one's search to fail.
func TestSnapshotSearchFailureShared(t *testing.T) {
	a := newNode(t, nodeConfig{natsListen: "127.0.0.1:-1"})
	a.publish("scoreboard_update", "/contest/c1", "", true, `{"view":"public"}`)
	failing := &failingSearchBus{countingBus: countingBus{Bus: a.bus}, release: make(chan struct{})}
	b := newNode(t, nodeConfig{natsURL: a.bus.ClientURL(), opts: func(o *broadcaster.Options) {
		o.WarmEvents = -1
		o.Bus = failing
	}})
	// A live event, so the node knows the stream holds history to search.
	live := a.publish("clarification", "/contest/c2", "", true, `{}`)
	waitUntil(t, func() bool { return b.srv.Stats().LastConsumed >= live })
	root := b.token("root", func(c *auth.Claims) { c.SiteAdmin = true })
	const subscribers = 4
	var clients []*client
	for range subscribers {
		cl := b.dial(dialOpts{})
		cl.auth(root)
		cl.send(map[string]any{"type": "subscribe", "channel": "/contest/c1"})
		clients = append(clients, cl)
	}
	// One searches; the others wait on its search.
	waitUntil(t, func() bool { return b.srv.SnapshotWaiters("/contest/c1") == subscribers-1 })
	close(failing.release)
	for _, cl := range clients {
		cl.expect("subscribed", map[string]any{"channel": "/contest/c1"})
	}
	// Subscribed without a snapshot (a subscribe without since gets no
	// error for it): the next thing each sees is live.
	next := a.publish("contest_update", "/contest/c1", "", true, `{}`)
	for _, cl := range clients {
		cl.expect("contest_update", map[string]any{"id": protocol.IDString(next)})
	}
	if n := failing.latest.Load(); n != 1 {
		t.Fatalf("%d stream searches, want 1 shared by %d subscribers", n, subscribers)
	}
}

// failingSearchBus is the real bus whose snapshot searches wait for
// release and then fail: it asks the real bus with a context already
// cancelled, as a search that timed out would.
type failingSearchBus struct {
	countingBus
	release chan struct{}
}

func (b *failingSearchBus) Latest(ctx context.Context, ch protocol.Channel, upTo uint64, limit int, keep func(*protocol.Event) bool) (*protocol.Event, error) {
	b.latest.Add(1)
	<-b.release
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	return b.Bus.Latest(cancelled, ch, upTo, limit, keep)
}
