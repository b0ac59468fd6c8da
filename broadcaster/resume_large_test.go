package broadcaster_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

// TestResumeLargerThanQueue: a client that missed ten times more events
// than its send queue holds resumes over WebSocket and SSE, from the
// node's memory and from the stream, while live events keep arriving: it
// gets subscribed with recovered:true, then every event after its id that
// it may see, exactly once and in order, then the live ones. (Before paced
// replay, the whole backlog went into the queue at once and the resume was
// closed with 4001 on every attempt.)
func TestResumeLargerThanQueue(t *testing.T) {
	const queue = 40
	const backlog = 10 * queue // events alice may see, published while she was away
	sources := []struct {
		name string
		opts func(*broadcaster.Options)
		data string // each event's data
	}{
		{"memory", func(o *broadcaster.Options) { o.QueueMessages, o.RecentEvents = queue, 2*backlog }, `{"guid":"g"}`},
		{"stream", func(o *broadcaster.Options) { o.QueueMessages, o.RecentEvents, o.WarmEvents = queue, -1, -1 }, `{"guid":"g"}`},
		// The byte bound: 40 events of about 1 KiB fill the queue.
		{"stream/bytes", func(o *broadcaster.Options) { o.QueueBytes, o.RecentEvents, o.WarmEvents = queue<<10, -1, -1 },
			`{"pad":"` + strings.Repeat("x", 1000) + `"}`},
	}
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			e := newEnv(t, src.opts)
			tok := e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })
			var mu sync.Mutex // guards seen
			var seen []published
			pub := func(channel, user string, public bool) {
				id := e.publish("run_update", channel, user, public, src.data)
				mu.Lock()
				seen = append(seen, published{id, channel, user, public})
				mu.Unlock()
			}
			since := e.publish("run_update", "/contest/c1", "", true, `{}`)
			for i := range 2 * backlog {
				switch i % 5 {
				case 0, 2:
					pub("/contest/c1", "", true)
				case 1:
					pub("/contest/c1", "alice", false)
				case 3:
					pub("/contest/c1", "bob", false) // never alice's
				case 4:
					pub("/user/alice", "alice", false)
				}
			}
			// want lists what a client on channels may see after since.
			want := func(channels ...string) []uint64 {
				mu.Lock()
				defer mu.Unlock()
				var out []uint64
				for _, p := range seen {
					if slices.Contains(channels, p.channel) && (p.channel == "/user/alice" || p.visibleTo("alice")) {
						out = append(out, p.id)
					}
				}
				return out
			}
			if n := len(want("/contest/c1")); n < backlog {
				t.Fatalf("test setup: %d events to replay, want at least %d", n, backlog)
			}

			for _, transport := range []string{"ws", "sse"} {
				t.Run(transport, func(t *testing.T) {
					channels := []string{"/contest/c1"}
					var s stream
					switch transport {
					case "ws":
						s = openResumed(t, e, "ws", tok, "/contest/c1", protocol.IDString(since))
						if s.subscribed["recovered"] != true {
							t.Fatalf("subscribed %v, want recovered:true", s.subscribed)
						}
					case "sse":
						// Two channels: their histories are merged into one id order.
						channels = append(channels, "/user/alice")
						hdr := bearerHeader(tok)
						hdr.Set("Last-Event-ID", protocol.IDString(since))
						c := e.openSSEFor(t, sseQuery(channels), hdr)
						for range channels {
							m := c.expect("subscribed", map[string]any{"recovered": true})
							if !slices.Contains(channels, m["channel"].(string)) {
								t.Fatalf("subscribed to %v", m)
							}
						}
						s = stream{next: func() map[string]any { t.Helper(); return c.next().msg(t) }}
					}
					// Live events while the backlog is replayed: fewer than the
					// half of the queue the replay leaves free, so a writer that
					// lags (a busy machine) cannot make them a slow consumer.
					liveDone := make(chan struct{})
					go func() {
						defer close(liveDone)
						for range queue/2 - 2 {
							pub("/contest/c1", "alice", false)
						}
					}()
					<-liveDone
					expectEvents(t, s, want(channels...))
					pub("/contest/c1", "", true)
					expectEvents(t, s, want(channels...)[len(want(channels...))-1:])
				})
			}
		})
	}
}

// TestResumeCountedWhenComplete: resumes_total counts a resume once its
// replay went out, not when it started.
func TestResumeCountedWhenComplete(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) { o.QueueMessages = 20 })
	tok := e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })
	since := e.publish("clarification", "/contest/c1", "", true, `{}`)
	var ids []uint64
	for range 100 {
		ids = append(ids, e.publish("clarification", "/contest/c1", "", true, `{}`))
	}
	before := e.srv.Stats().ResumeOK
	s := openResumed(t, e, "ws", tok, "/contest/c1", protocol.IDString(since))
	if s.subscribed["recovered"] != true {
		t.Fatalf("subscribed %v", s.subscribed)
	}
	expectEvents(t, s, ids)
	waitUntil(t, func() bool { return e.srv.Stats().ResumeOK-before >= 1 })
	if got := e.srv.Stats().ResumeOK - before; got != 1 {
		t.Fatalf("resumes counted recovered: %d, want 1", got)
	}
}

// TestForeignSince: a since (or Last-Event-ID) that is no id of this
// server, garbage or another deployment's, is answered like an id the
// stream does not know: subscribed with recovered:false, no history, then
// live events. (It was bad_request, or HTTP 400 on SSE, which left a
// client that does not read errors unsubscribed without noticing.)
func TestForeignSince(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })
	old := e.publish("clarification", "/contest/c1", "", true, `{}`)       // history not to replay
	waitUntil(t, func() bool { return e.srv.Stats().LastConsumed >= old }) // history, not live
	for _, since := range []string{"abc", "-1", "+5", "1e3", "018446744073709551616", "7c2f0a9e-uuid"} {
		for _, transport := range []string{"ws", "sse"} {
			t.Run(transport+"/"+since, func(t *testing.T) {
				s := openResumed(t, e, transport, tok, "/contest/c1", since)
				if s.subscribed["recovered"] != false {
					t.Fatalf("subscribed %v, want recovered:false", s.subscribed)
				}
				live := e.publish("clarification", "/contest/c1", "", true, `{}`)
				expectEvents(t, s, []uint64{live})
			})
		}
	}
}

// TestResubscribeWithSince: a subscribe with since to a channel the
// connection already has replays nothing (the connection already gets
// every event once, in order) and says, in recovered, whether the
// connection has sent or will send every event after since: true for an
// id the subscription covers, false for an older one (refetch state), or
// one this stream does not know.
func TestResubscribeWithSince(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })
	before := e.publish("clarification", "/contest/c1", "", true, `{}`)
	resumeAt := e.publish("clarification", "/contest/c1", "", true, `{}`)
	cl := e.dial(dialOpts{})
	cl.auth(tok)
	cl.send(map[string]any{"type": "subscribe", "channel": "/contest/c1", "since": protocol.IDString(resumeAt)})
	cl.expect("subscribed", map[string]any{"recovered": true})
	ev1 := e.publish("clarification", "/contest/c1", "", true, `{}`)
	cl.expect("clarification", map[string]any{"id": protocol.IDString(ev1)})
	for _, tc := range []struct {
		since     string
		recovered bool
	}{
		{protocol.IDString(ev1), true},      // the newest it got
		{protocol.IDString(resumeAt), true}, // where the subscription began
		{protocol.IDString(before), false},  // before it: this connection never sent what followed
		{protocol.IDString(ev1 + 1000), false},
		{"garbage", false},
	} {
		cl.send(map[string]any{"type": "subscribe", "channel": "/contest/c1", "since": tc.since, "id": tc.since})
		cl.expect("subscribed", map[string]any{"id": tc.since, "recovered": tc.recovered})
	}
	// Nothing was replayed: the next message is the next live event.
	ev2 := e.publish("clarification", "/contest/c1", "", true, `{}`)
	cl.expect("clarification", map[string]any{"id": protocol.IDString(ev2)})
	// A plain subscribe's coverage starts where it went live.
	cl2 := e.dial(dialOpts{})
	cl2.auth(e.token("bob", func(c *auth.Claims) { c.Contests = []string{"c2"} }))
	cl2.send(map[string]any{"type": "subscribe", "channel": "/user/bob"})
	cl2.expect("subscribed", nil)
	cl2.send(map[string]any{"type": "subscribe", "channel": "/user/bob", "since": protocol.IDString(ev2)})
	cl2.expect("subscribed", map[string]any{"recovered": true})
	cl2.send(map[string]any{"type": "subscribe", "channel": "/user/bob", "since": protocol.IDString(before)})
	cl2.expect("subscribed", map[string]any{"recovered": false})
}
