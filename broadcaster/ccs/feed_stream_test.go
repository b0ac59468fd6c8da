package ccs_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arenacast/arenacast/broadcaster/ccs"
	"github.com/arenacast/arenacast/broadcaster/natsbus"
	"github.com/arenacast/arenacast/protocol"
)

// signalHandler is a slog.Handler that reports each record whose message
// contains substr on ch (without blocking), and drops every record.
type signalHandler struct {
	substr string
	ch     chan string
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h signalHandler) WithGroup(string) slog.Handler            { return h }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.substr) {
		select {
		case h.ch <- r.Message:
		default:
		}
	}
	return nil
}

// TestFeedRetriesTheStream: a feed started while the stream cannot be read
// (here: deleted) logs it, tries again, and serves once the stream is back,
// instead of staying unready until the process restarts.
func TestFeedRetriesTheStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	bus, err := natsbus.Open(ctx, natsbus.Config{DataDir: t.TempDir(), MaxAge: time.Hour, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("natsbus.Open: %v", err)
	}
	t.Cleanup(bus.Close)
	if err := bus.JetStream().DeleteStream(ctx, "ARENACAST"); err != nil {
		t.Fatal(err)
	}

	retried := make(chan string, 1)
	node := startFeedUnready(t, bus, func(c *ccs.FeedConfig) {
		c.Logger = slog.New(signalHandler{substr: "retrying", ch: retried})
		c.MinBackoff, c.MaxBackoff = time.Millisecond, 20*time.Millisecond
	})
	select {
	case <-retried:
	case <-ctx.Done():
		t.Fatal("the feed did not report the unreadable stream")
	}
	select {
	case <-node.feed.Ready():
		t.Fatal("ready without a stream")
	default:
	}

	// The stream comes back (another client creates it), with a notification.
	bus2, err := natsbus.Open(ctx, natsbus.Config{URL: bus.ClientURL(), MaxAge: time.Hour})
	if err != nil {
		t.Fatalf("natsbus.Open: %v", err)
	}
	defer bus2.Close()
	publishNotification(t, bus2, `{"type":"contests","id":"wf","data":{"id":"wf","name":"World Finals"},"token":"t1"}`)
	select {
	case <-node.feed.Ready():
	case <-ctx.Done():
		t.Fatal("the feed did not become ready once the stream was back")
	}
	waitUntil(t, "the notification served", func() bool { return node.count(t, "?stream=false", "") == 1 })
}

// publishNotification puts one followed notification line of contest wf on
// the stream, public, as a Follower would.
func publishNotification(t *testing.T, bus *natsbus.Bus, line string) uint64 {
	t.Helper()
	n, err := ccs.ParseNotification([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	ev := &protocol.Event{Type: ccs.EventType(n.Type), Channel: "/contest/wf", Public: true, Data: json.RawMessage(line)}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	id, err := bus.Publish(ctx, ev)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return id
}

// TestFeedHoldsWhatTheStreamHolds: notifications the stream's limits
// discard leave the served feed too (its memory is the stream's retention),
// and a reader connected before goes on receiving new ones.
func TestFeedHoldsWhatTheStreamHolds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	bus, err := natsbus.Open(ctx, natsbus.Config{DataDir: t.TempDir(), MaxAge: time.Hour, MaxMsgs: 3})
	if err != nil {
		t.Fatalf("natsbus.Open: %v", err)
	}
	t.Cleanup(bus.Close)
	node := startFeed(t, bus, time.Hour, func(c *ccs.FeedConfig) { c.TrimInterval = 5 * time.Millisecond })
	problem := func(i int) string {
		return `{"type":"problems","id":"p` + itoa(i) + `","data":{"id":"p` + itoa(i) + `"}}`
	}
	ids := []uint64{publishNotification(t, bus, problem(0))}
	waitUntil(t, "the contest's feed", func() bool { return node.count(t, "?stream=false", "") == 1 })
	live := node.get(t, ctx, "wf", "", "")
	defer live.Body.Close()
	lines := bufio.NewScanner(live.Body)
	expectLive := func(i int) {
		t.Helper()
		for lines.Scan() {
			if len(lines.Bytes()) == 0 {
				continue // a keep-alive newline
			}
			if want := `"id":"p` + itoa(i) + `"`; !strings.Contains(lines.Text(), want) {
				t.Fatalf("live line = %s, want %s", lines.Text(), want)
			}
			return
		}
		t.Fatalf("live reader ended before p%d: %v", i, lines.Err())
	}
	expectLive(0)
	for i := 1; i < 5; i++ {
		ids = append(ids, publishNotification(t, bus, problem(i)))
		expectLive(i)
	}
	waitUntil(t, "two notifications trimmed", func() bool { return node.feed.Trimmed() == 2 })
	got := node.readAll(t, "?stream=false", "")
	if len(got) != 3 || !strings.Contains(string(got[0]), `"token":"`+protocol.IDString(ids[2])+`"`) {
		t.Fatalf("served after the trim: %q, want the last 3 notifications", got)
	}
	// A token before a trimmed notification may have missed it: 400, read
	// from the start. From the newest trimmed one on, nothing is missing.
	// A node started now, which never saw the discarded ones, answers the same.
	fresh := startFeed(t, bus, time.Hour)
	for _, n := range []struct {
		name string
		node *feedNode
	}{{"trimmed", node}, {"started after", fresh}} {
		for _, tc := range []struct {
			token  uint64
			status int
			lines  int
		}{
			{ids[0], http.StatusBadRequest, 0},
			{ids[1], http.StatusOK, 3},
			{ids[3], http.StatusOK, 1},
		} {
			resp := n.node.get(t, ctx, "wf", "?stream=false&since_token="+protocol.IDString(tc.token), "")
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || (tc.status == http.StatusOK && strings.Count(string(body), "\n") != tc.lines) {
				t.Errorf("%s node, since_token %d: %d %q, want %d with %d lines", n.name, tc.token, resp.StatusCode, body, tc.status, tc.lines)
			}
		}
	}
	// The reader from before the trim goes on with the next notification.
	publishNotification(t, bus, problem(5))
	expectLive(5)

	// Once the stream holds none of the contest's notifications, the
	// contest is unknown here too, as on a node started then: 404.
	for range 3 {
		ev := &protocol.Event{Type: "run_update", Channel: "/contest/other", Public: true, Data: json.RawMessage(`{}`)}
		if err := ev.Validate(); err != nil {
			t.Fatal(err)
		}
		if _, err := bus.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "every notification trimmed", func() bool { return node.feed.Trimmed() == 6 })
	if resp := node.get(t, ctx, "wf", "?stream=false", ""); resp.StatusCode != http.StatusNotFound {
		resp.Body.Close()
		t.Fatalf("a contest trimmed to nothing: %d, want 404", resp.StatusCode)
	} else {
		resp.Body.Close()
	}
}

// flakyBus is the real bus whose Consume calls follow plan, one step each:
// "fail" returns an error at once, "one" returns an error after delivering
// one event; past the plan, Consume is the bus's own.
type flakyBus struct {
	*natsbus.Bus
	mu   sync.Mutex // guards plan
	plan []string
}

func (b *flakyBus) Consume(ctx context.Context, after uint64, fn func(*protocol.Event), bad func(string, uint64, error)) error {
	b.mu.Lock()
	step := ""
	if len(b.plan) > 0 {
		step, b.plan = b.plan[0], b.plan[1:]
	}
	b.mu.Unlock()
	switch step {
	case "fail":
		return errors.New("injected: the stream cannot be read")
	case "one":
		one, cancel := context.WithCancel(ctx)
		defer cancel()
		b.Bus.Consume(one, after, func(ev *protocol.Event) { fn(ev); cancel() }, bad)
		return errors.New("injected: the consumer ended after an event")
	}
	return b.Bus.Consume(ctx, after, fn, bad)
}

// waitsHandler is a slog.Handler that keeps the "in" (wait) of every record
// whose message contains "retrying", and drops every record.
type waitsHandler struct {
	mu    *sync.Mutex
	waits *[]time.Duration
}

func (h waitsHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h waitsHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h waitsHandler) WithGroup(string) slog.Handler            { return h }
func (h waitsHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "retrying") {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "in" {
				h.mu.Lock()
				*h.waits = append(*h.waits, a.Value.Duration())
				h.mu.Unlock()
			}
			return true
		})
	}
	return nil
}

// TestFeedBackoffStartsOver: while the stream cannot be read the feed's
// waits grow; a consumer that made progress before it ended starts them
// over from MinBackoff, and the feed serves what it consumed.
func TestFeedBackoffStartsOver(t *testing.T) {
	bus := openBus(t)
	publishNotification(t, bus, `{"type":"contests","id":"wf","data":{"id":"wf","name":"World Finals"},"token":"t1"}`)
	const minB = 40 * time.Millisecond
	flaky := &flakyBus{Bus: bus, plan: []string{"fail", "fail", "fail", "fail", "one", "fail"}}
	var (
		mu    sync.Mutex
		waits []time.Duration
	)
	node := startFeedUnready(t, bus, func(c *ccs.FeedConfig) {
		c.Bus = flaky
		c.Logger = slog.New(waitsHandler{&mu, &waits})
		// A maximum no attempt reaches: only progress starts the waits over.
		c.MinBackoff, c.MaxBackoff = minB, time.Minute
	})
	waitUntil(t, "six retries", func() bool { mu.Lock(); defer mu.Unlock(); return len(waits) >= 6 })
	waitUntil(t, "the notification served", func() bool { return node.count(t, "?stream=false", "") == 1 })
	mu.Lock()
	defer mu.Unlock()
	// Attempt k waits within [minB<<k / 2, minB<<k] (backoff's upper half).
	for i, attempt := range []int{0, 1, 2, 3, 0, 1} {
		hi := minB << attempt
		if w := waits[i]; w < hi/2 || w > hi {
			t.Fatalf("wait %d is %v, want attempt %d's [%v, %v] (waits %v)", i, w, attempt, hi/2, hi, waits)
		}
	}
}
