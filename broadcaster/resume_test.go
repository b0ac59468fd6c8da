package broadcaster_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

// published is an event a test put on the stream, with what decides who
// sees it.
type published struct {
	id      uint64
	channel string
	user    string
	public  bool
}

// visibleTo is auth.CanSee for a contest participant, restated so the test
// does not trust the code it checks.
func (p published) visibleTo(user string) bool { return p.public || p.user == user }

// stream is one subscriber opened with a resume position, over either
// transport: the subscribed reply, then next for every later message.
type stream struct {
	subscribed map[string]any
	next       func() map[string]any
	// drain returns what arrives until the connection ends.
	drain func() []map[string]any
}

// openResumed subscribes to channel with since (empty: a plain subscribe)
// over transport "ws" or "sse".
func openResumed(t *testing.T, e *env, transport, tok, channel, since string) stream {
	t.Helper()
	switch transport {
	case "ws":
		cl := e.dial(dialOpts{t: t})
		cl.auth(tok)
		sub := map[string]any{"type": "subscribe", "channel": channel}
		if since != "" {
			sub["since"] = since
		}
		cl.send(sub)
		return stream{
			subscribed: cl.expect("subscribed", map[string]any{"channel": channel}),
			next:       cl.next,
			drain: func() []map[string]any {
				var out []map[string]any
				<-cl.done
				for {
					select {
					case m := <-cl.msgs:
						out = append(out, m)
					default:
						return out
					}
				}
			},
		}
	case "sse":
		hdr := bearerHeader(tok)
		if since != "" {
			hdr.Set("Last-Event-ID", since)
		}
		c := e.openSSEFor(t, sseQuery([]string{channel}), hdr)
		next := func() map[string]any {
			t.Helper()
			ev := c.next()
			m := ev.msg(t)
			if m["id"] != nil && ev.id != m["id"] {
				t.Fatalf("SSE id %q, message id %v", ev.id, m["id"])
			}
			return m
		}
		return stream{
			subscribed: c.expect("subscribed", map[string]any{"channel": channel}),
			next:       next,
			drain: func() []map[string]any {
				var out []map[string]any
				c.endErr()
				for {
					select {
					case ev := <-c.events:
						if !ev.isComment && ev.data != "" {
							out = append(out, ev.msg(t))
						}
					default:
						return out
					}
				}
			},
		}
	}
	t.Fatalf("unknown transport %q", transport)
	return stream{}
}

// expectEvents reads len(want) messages and checks they are exactly the
// events with those ids, in order.
func expectEvents(t *testing.T, s stream, want []uint64) {
	t.Helper()
	for i, id := range want {
		m := s.next()
		if m["id"] != protocol.IDString(id) {
			t.Fatalf("message %d of %d: got %v, want event %d", i, len(want), m, id)
		}
	}
}

// TestResumeMatrix: over WebSocket and SSE, on the node the events were
// published through and on another node, a resume from an id inside the
// history, older than the history, and unknown (past the last id) yields
// exactly the stored events after the id that the subscriber may see, in
// order, with the right recovered flag; then live events follow.
func TestResumeMatrix(t *testing.T) {
	const history = 30 // the stream keeps only the newest 30 events
	// The nodes' in-memory recent log is off: this matrix is about the
	// stream's history (TestResumeFromMemory covers the log).
	streamOnly := func(o *broadcaster.Options) { o.RecentEvents, o.WarmEvents = -1, -1 }
	a := newNode(t, nodeConfig{natsListen: "127.0.0.1:-1", maxMsgs: history, opts: streamOnly})
	b := newNode(t, nodeConfig{natsURL: a.bus.ClientURL(), maxMsgs: history, opts: streamOnly})
	tok := a.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })

	var mu sync.Mutex // guards all
	var all []published
	pub := func(channel, user string, public bool) uint64 {
		typ := "run_update"
		if public {
			typ = "clarification"
		}
		id := a.publish(typ, channel, user, public, `{"n":1}`)
		mu.Lock()
		all = append(all, published{id, channel, user, public})
		mu.Unlock()
		return id
	}
	for i := range 60 {
		switch i % 5 {
		case 0:
			pub("/contest/c1", "", true)
		case 1:
			pub("/contest/c1", "alice", false)
		case 2:
			pub("/contest/c1", "bob", false) // another contestant's: never replayed
		case 3:
			pub("/contest/c1", "", false) // admins only
		case 4:
			pub("/contest/c2", "", true) // another channel: ids are not contiguous
		}
	}
	// stored returns the ids alice may see on /contest/c1 after since
	// that the stream still holds.
	stored := func(since uint64) []uint64 {
		last, err := a.bus.LastID(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		first := last - history + 1
		var out []uint64
		mu.Lock()
		defer mu.Unlock()
		for _, p := range all {
			if p.id > since && p.id >= first && p.channel == "/contest/c1" && p.visibleTo("alice") {
				out = append(out, p.id)
			}
		}
		return out
	}
	idAt := func(i int) uint64 { mu.Lock(); defer mu.Unlock(); return all[i].id }

	cases := []struct {
		name      string
		since     func() uint64
		recovered bool
	}{
		// The newest events are kept; 10 from the end is well inside.
		{"inside history", func() uint64 { mu.Lock(); defer mu.Unlock(); return all[len(all)-10].id }, true},
		{"older than history", func() uint64 { return idAt(3) }, false},
		{"unknown id past the last", func() uint64 { mu.Lock(); defer mu.Unlock(); return all[len(all)-1].id + 1000 }, false},
	}
	for _, transport := range []string{"ws", "sse"} {
		for _, node := range []struct {
			name string
			e    *env
		}{{"same node", a}, {"other node", b}} {
			for _, tc := range cases {
				t.Run(fmt.Sprintf("%s/%s/%s", transport, node.name, tc.name), func(t *testing.T) {
					since := tc.since()
					want := stored(since)
					if tc.name == "inside history" && len(want) == 0 {
						t.Fatal("test setup: nothing to replay")
					}
					s := openResumed(t, node.e, transport, tok, "/contest/c1", protocol.IDString(since))
					if s.subscribed["recovered"] != tc.recovered {
						t.Fatalf("subscribed %v, want recovered=%v", s.subscribed, tc.recovered)
					}
					expectEvents(t, s, want)
					// Nothing more from history: the next message is a live
					// event published now, also for an id the stream never had.
					live := pub("/contest/c1", "alice", false)
					expectEvents(t, s, []uint64{live})
				})
			}
		}
	}
}

// TestResumeSeam: while a publisher keeps publishing, clients resume from
// ids behind the head, over both transports and on both nodes. Each gets
// every event after its id exactly once, in order: no gap and no duplicate
// where the replayed history meets the live stream.
func TestResumeSeam(t *testing.T) {
	a := newNode(t, nodeConfig{natsListen: "127.0.0.1:-1"})
	b := newNode(t, nodeConfig{natsURL: a.bus.ClientURL()})
	tok := a.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })

	const total = 400
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	var ids []uint64 // ids alice may see, in publish order
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := range total {
			var id uint64
			var err error
			ev := &protocol.Event{Type: "run_update", Channel: "/contest/c1", Data: []byte(`{}`)}
			switch i % 3 {
			case 0:
				ev.Public = true
			case 1:
				ev.User = "alice"
			case 2:
				ev.User = "bob"
			}
			if err = ev.Validate(); err == nil {
				id, err = a.bus.Publish(context.Background(), ev)
			}
			if err != nil {
				t.Errorf("publish: %v", err)
				return
			}
			mu.Lock()
			if ev.User != "bob" {
				ids = append(ids, id)
			}
			cond.Broadcast()
			mu.Unlock()
		}
	}()
	waitLen := func(n int) uint64 {
		mu.Lock()
		defer mu.Unlock()
		for len(ids) < n {
			cond.Wait()
		}
		return ids[n-1]
	}

	type resumed struct {
		s     stream
		since uint64
	}
	var rs []resumed
	for i, c := range []struct {
		transport string
		e         *env
	}{{"ws", a}, {"sse", b}, {"sse", a}, {"ws", b}} {
		// Resume 20 events behind the head, at staggered points.
		waitLen(30 + i*50)
		var since uint64
		mu.Lock()
		for j := len(ids) - 1; j >= 0 && len(ids)-j <= 20; j-- {
			since = ids[j] // 20 behind the newest, or fewer if the head moved
		}
		mu.Unlock()
		s := openResumed(t, c.e, c.transport, tok, "/contest/c1", protocol.IDString(since))
		if s.subscribed["recovered"] != true {
			t.Fatalf("%s: subscribed %v", c.transport, s.subscribed)
		}
		rs = append(rs, resumed{s, since})
	}
	<-pubDone
	if t.Failed() {
		return
	}
	for i, r := range rs {
		var want []uint64
		for _, id := range ids {
			if id > r.since {
				want = append(want, id)
			}
		}
		t.Run(fmt.Sprint("client", i), func(t *testing.T) { expectEvents(t, r.s, want) })
	}
}

// TestNodeStopResume: a node stops while events keep coming; its WebSocket
// and SSE clients reconnect to another node with the last id they saw and
// get every event published meanwhile, none twice.
func TestNodeStopResume(t *testing.T) {
	a := newNode(t, nodeConfig{natsListen: "127.0.0.1:-1"})
	b := newNode(t, nodeConfig{natsURL: a.bus.ClientURL()})
	tok := a.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })
	streams := map[string]stream{
		"ws":  openResumed(t, b, "ws", tok, "/contest/c1", ""),
		"sse": openResumed(t, b, "sse", tok, "/contest/c1", ""),
	}

	const total = 300
	var mu sync.Mutex
	var ids []uint64
	pubDone := make(chan struct{})
	stopAt := make(chan struct{})
	stopped := make(chan struct{})
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(func() { close(stopped) }) }
	t.Cleanup(stop) // a failing test must not leave the publisher waiting
	go func() {
		defer close(pubDone)
		for i := range total {
			switch i {
			case 100:
				close(stopAt) // events keep coming while b stops...
			case 150:
				<-stopped // ...and the rest surely after: there is something to resume
			}
			id := a.publish("clarification", "/contest/c1", "", true, `{}`)
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
		}
	}()
	got := map[string][]uint64{}
	add := func(name string, m map[string]any) {
		if m["type"] == "clarification" {
			id, err := protocol.ParseID(m["id"].(string))
			if err != nil {
				t.Fatal(err)
			}
			got[name] = append(got[name], id)
		}
	}
	<-stopAt
	// Each client has an event from b before it stops: without one there
	// is no position to resume from, and the test would prove nothing (on
	// a busy machine b's consumer may not have reached the 100th publish).
	for name, s := range streams {
		for len(got[name]) == 0 {
			add(name, s.next())
		}
	}
	b.close() // clients see 4000 (WebSocket) or the close event (SSE)
	stop()
	for name, s := range streams {
		for _, m := range s.drain() {
			add(name, m)
		}
	}
	for name := range streams {
		before := got[name]
		last := before[len(before)-1]
		s := openResumed(t, a, name, tok, "/contest/c1", protocol.IDString(last))
		if s.subscribed["recovered"] != true {
			t.Fatalf("%s: resume on the other node: %v", name, s.subscribed)
		}
		<-pubDone
		var after []uint64
		for _, id := range ids {
			if id > last {
				after = append(after, id)
			}
		}
		expectEvents(t, s, after)
		all := append(slices.Clone(before), after...)
		if !slices.Equal(all, ids) {
			t.Fatalf("%s: received %d events %v..., published %d", name, len(all), all[:min(5, len(all))], len(ids))
		}
	}
}
