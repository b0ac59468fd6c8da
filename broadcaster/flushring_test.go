package broadcaster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/broadcaster/uring"
	"github.com/arenacast/arenacast/protocol"
)

// ringAvailable reports whether this machine has io_uring (the flushers
// then batch their writes through it).
func ringAvailable(t *testing.T) bool {
	r, err := uring.New(4)
	if err != nil {
		t.Logf("no io_uring here (%v): the flushers write a system call per connection", err)
		return false
	}
	r.Close()
	return true
}

// TestIOUringFanout: with the ring (default size, and one smaller than a
// round, so a round takes several submissions) and without it, every
// WebSocket and SSE subscriber gets every event, in order, and the ring's
// counter says which way they went.
func TestIOUringFanout(t *testing.T) {
	have := ringAvailable(t)
	for _, tc := range []struct {
		name    string
		entries int
		ring    bool
	}{
		{"default ring", 0, true},
		{"ring smaller than a round", 4, true},
		{"off", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *broadcaster.Options) { o.IOUringEntries = tc.entries })
			tok := e.token("root", func(c *auth.Claims) { c.SiteAdmin = true })
			var ws []*client
			for range 24 {
				cl := e.dial(dialOpts{t: t})
				cl.auth(tok)
				if r := cl.subscribe("/contest/c1"); r["type"] != "subscribed" {
					t.Fatalf("subscribe: %v", r)
				}
				ws = append(ws, cl)
			}
			var sse []*sseClient
			for range 8 {
				c := e.openSSEFor(t, sseQuery([]string{"/contest/c1"}), bearerHeader(tok))
				c.expect("subscribed", nil)
				sse = append(sse, c)
			}
			const events = 30
			ids := make([]string, events)
			for i := range events {
				ids[i] = protocol.IDString(e.publish("run_update", "/contest/c1", "alice", false, fmt.Sprintf(`{"n":%d}`, i)))
			}
			for k, cl := range ws {
				for i := range events {
					if m := cl.expect("run_update", nil); m["id"] != ids[i] {
						t.Fatalf("WebSocket %d: event %d has id %v, want %s", k, i, m["id"], ids[i])
					}
				}
			}
			for k, c := range sse {
				for i := range events {
					if m := c.expect("run_update", nil); m["id"] != ids[i] {
						t.Fatalf("SSE %d: event %d has id %v, want %s", k, i, m["id"], ids[i])
					}
				}
			}
			got := e.srv.Stats().RingWrites
			switch {
			case tc.ring && have && got == 0:
				t.Fatal("RingWrites is 0: nothing went through the ring")
			case (!tc.ring || !have) && got != 0:
				t.Fatalf("RingWrites is %d with the ring off or missing", got)
			}
		})
	}
}

// TestIOUringChurn: connections close, abruptly, while the flushers write
// them in batches, and new ones take their place (and, as the kernel
// reuses the lowest free numbers, their file descriptors). No connection
// ever receives another's bytes: every frame a client reads is one of its
// own channel's events, and the steady clients get all of theirs in order.
func TestIOUringChurn(t *testing.T) {
	if !ringAvailable(t) {
		t.Skip("no io_uring: nothing batched to churn under")
	}
	e := newEnv(t, nil)
	const steady, churners, rounds, lives = 6, 8, 40, 25
	steadyCl := make([]*client, steady)
	for i := range steadyCl {
		user := fmt.Sprintf("s%d", i)
		cl := e.dial(dialOpts{})
		cl.auth(e.token(user, nil))
		if r := cl.subscribe("/user/" + user); r["type"] != "subscribed" {
			t.Fatalf("subscribe: %v", r)
		}
		steadyCl[i] = cl
	}
	// Each churner connects, subscribes to its own channel, reads a few
	// frames and drops the connection, lives times.
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, churners)
	for c := range churners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("c%d", c)
			for life := range lives {
				if err := churnOnce(ctx, e, user, life); err != nil {
					errs <- fmt.Errorf("churner %s, life %d: %w", user, life, err)
					return
				}
			}
		}()
	}
	// Steady channels get rounds events; churners' channels get events
	// until every churner has lived all its lives.
	churned := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		for r := 0; ; r++ {
			if r < rounds {
				for i := range steady {
					u := fmt.Sprintf("s%d", i)
					e.publish("run_update", "/user/"+u, u, false, fmt.Sprintf(`{"to":%q,"n":%d}`, u, r))
				}
			}
			select {
			case <-churned:
				if r >= rounds {
					return
				}
			default:
				for c := range churners {
					u := fmt.Sprintf("c%d", c)
					e.publish("run_update", "/user/"+u, u, false, fmt.Sprintf(`{"to":%q,"n":%d}`, u, r))
				}
			}
		}
	}()
	wg.Wait()
	close(churned)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	<-published
	for i, cl := range steadyCl {
		u := fmt.Sprintf("s%d", i)
		for r := range rounds {
			m := cl.expect("run_update", nil)
			d, _ := m["data"].(map[string]any)
			if d["to"] != u || d["n"] != float64(r) {
				t.Fatalf("steady client %s, event %d: got %v", u, r, m)
			}
		}
	}
}

// churnOnce is one life of a churning client: it reads its own channel
// until it has seen an event or two, checks each frame is its own, and
// drops the connection without a close handshake.
func churnOnce(ctx context.Context, e *env, user string, life int) error {
	c, _, err := websocket.Dial(ctx, e.wsURL(), nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	send := func(v any) error {
		b, _ := json.Marshal(v)
		return c.Write(ctx, websocket.MessageText, b)
	}
	if err := send(map[string]any{"type": "auth", "token": e.token(user, nil)}); err != nil {
		return err
	}
	if err := send(map[string]any{"type": "subscribe", "channel": "/user/" + user}); err != nil {
		return err
	}
	events := 0
	for events < 1+life%2 {
		_, b, err := c.Read(ctx)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				return fmt.Errorf("a frame that is not JSON: %q", line)
			}
			switch m["type"] {
			case "auth_success", "subscribed":
			case "run_update":
				d, _ := m["data"].(map[string]any)
				if d["to"] != user || m["channel"] != "/user/"+user {
					return fmt.Errorf("got another connection's event: %v", m)
				}
				events++
			default:
				return fmt.Errorf("unexpected %v", m)
			}
		}
	}
	return nil
}
