package broadcaster

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// gatedTransport holds its writes until opened, then records them.
type gatedTransport struct {
	open chan struct{} // closed by the test: writes go through

	mu     sync.Mutex // guards frames and closed
	frames []*frame
	closed protocol.CloseCode
}

func (g *gatedTransport) write(fs []*frame) error {
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	g.frames = append(g.frames, fs...)
	return nil
}
func (g *gatedTransport) close(code protocol.CloseCode) { g.mu.Lock(); g.closed = code; g.mu.Unlock() }
func (g *gatedTransport) name() string                  { return "websocket" }

// TestReplayLiveOverflow: live events that arrive while a replay waits
// for a client that is not draining, more of them than the queue holds,
// are not a reason to close the connection: the replay reads them from
// history after the backlog, and the client gets every event once, in
// order. The writer is held until the live events have arrived, so the
// overflow is forced, not hoped for.
func TestReplayLiveOverflow(t *testing.T) {
	const queue = 10
	srv := newBenchServer(t, queue)
	srv.opts.QueueBytes = 1 << 20
	srv.recent.start(1)
	const route = "/user/alice"
	next := uint64(1)
	routeOne := func() {
		ev := &protocol.Event{Type: "run_update", Channel: route, User: "alice", Data: json.RawMessage(`{}`), ID: next, Timestamp: 1}
		if err := ev.Validate(); err != nil {
			t.Fatal(err)
		}
		next++
		srv.route(ev)
	}
	for range 10 * queue {
		routeOne() // the backlog, 10 queues long
	}
	g := &gatedTransport{open: make(chan struct{})}
	sess, _ := srv.newSession(g, "127.0.0.1:1")
	sess.principal = &auth.Principal{User: "alice", Expires: time.Now().Add(time.Hour)}
	sess.subscribe("", route, "0", true, subOptions{})

	// The first write (subscribed and the first page) is held; the
	// replay queues the next page and waits for room.
	pollUntil(t, func() bool {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		return sess.writing && len(sess.queue) > 0 && sess.room != nil
	})
	for range 3 * queue {
		routeOne() // live, while the replay waits: more than the queue holds
	}
	sess.mu.Lock()
	overflow := sess.subs[route].st.overflow
	sess.mu.Unlock()
	if !overflow {
		t.Fatal("test setup: the live events did not overflow pending")
	}
	close(g.open)
	want := next - 1
	pollUntil(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.frames) > 0 && g.frames[len(g.frames)-1].seq == want || g.closed != 0
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed != 0 {
		t.Fatalf("closed with %d", g.closed)
	}
	var got []uint64
	for _, f := range g.frames {
		if f.seq != 0 {
			got = append(got, f.seq)
		}
	}
	for i, id := range got {
		if id != uint64(i+1) {
			t.Fatalf("frame %d is event %d; want 1..%d once each, in order (got %v)", i, id, want, got)
		}
	}
	if uint64(len(got)) != want {
		t.Fatalf("got %d events, want %d", len(got), want)
	}
	if !json.Valid(g.frames[0].data) || g.frames[0].typ != protocol.MsgSubscribed {
		t.Fatalf("first frame %s, want subscribed", g.frames[0].data)
	}
	g.mu.Unlock()
	pollUntil(t, func() bool { return srv.Stats().ResumeOK == 1 }) // counted once the replay is over
	g.mu.Lock()
}
