package natsbus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

// waitFor is the generous deadline of every wait here (a busy 2-core
// machine under -race).
const waitFor = 20 * time.Second

// logBuffer collects a logger's output; safe for the NATS client's
// goroutines and the test's reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// open starts a Bus for the test and closes it when the test ends.
func open(t *testing.T, cfg Config) *Bus {
	t.Helper()
	if cfg.DataDir == "" && cfg.URL == "" {
		cfg.DataDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	b, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// eventually waits for cond, failing with what after waitFor.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDisconnectLogging: closing the bus is no warning; losing the server
// is one, with the error.
func TestDisconnectLogging(t *testing.T) {
	var own logBuffer
	b := open(t, Config{Logger: own.logger()})
	b.Close()
	// nats.go runs its handlers on a goroutine of its own: wait for the
	// close to be logged, then look at what was.
	eventually(t, "the close logged", func() bool { return strings.Contains(own.String(), `msg="nats connection closed"`) })
	if strings.Contains(own.String(), "level=WARN") {
		t.Fatalf("a normal close logged:\n%s", own.String())
	}

	server := open(t, Config{Listen: "127.0.0.1:0"})
	var client logBuffer
	open(t, Config{URL: server.ClientURL(), Logger: client.logger()})
	server.Close()
	eventually(t, "a warning for the lost server", func() bool {
		return strings.Contains(client.String(), `level=WARN msg="nats disconnected" err=`)
	})
	if strings.Contains(client.String(), "err=<nil>") {
		t.Fatalf("logged a nil error:\n%s", client.String())
	}
}

// ctxT is a context bounded by waitFor and the test.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// pub publishes one valid event on channel and returns its id.
func pub(t *testing.T, b *Bus, channel, data string) uint64 {
	t.Helper()
	ev := &protocol.Event{Type: "run_update", Channel: channel, Public: true, Data: json.RawMessage(data)}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	id, err := b.Publish(ctxT(t), ev)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return id
}

func mustChannel(t *testing.T, name string) protocol.Channel {
	t.Helper()
	ch, err := protocol.ParseChannel(name)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestStreamLimits: Open creates the stream with the configured subjects
// and limits, a second Open with other limits updates it, and the limits
// hold: the oldest events go first, an event over the size is refused.
func TestStreamLimits(t *testing.T) {
	dir := t.TempDir()
	b := open(t, Config{DataDir: dir, Listen: "127.0.0.1:0", Prefix: "ac", Stream: "EV", MaxAge: time.Hour, MaxMsgs: 5, MaxBytes: 1 << 20, MaxEventSize: 1024})
	info, err := b.stream.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	c := info.Config
	if c.Name != "EV" || c.MaxAge != time.Hour || c.MaxMsgs != 5 || c.MaxBytes != 1<<20 || c.MaxMsgSize != 1024 ||
		c.Discard != jetstream.DiscardOld || c.Storage != jetstream.FileStorage || c.Replicas != 1 {
		t.Fatalf("stream config %+v", c)
	}
	if want := protocol.StreamSubjects("ac"); !slices.Equal(c.Subjects, want) {
		t.Fatalf("subjects %v, want %v", c.Subjects, want)
	}
	var ids []uint64
	for i := range 7 {
		ids = append(ids, pub(t, b, "/contest/c1", fmt.Sprint(i)))
	}
	info, err = b.stream.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 5 || info.State.FirstSeq != ids[2] || info.State.LastSeq != ids[6] {
		t.Fatalf("state %+v, want the newest 5 of %v", info.State, ids)
	}
	big := &protocol.Event{Type: "run_update", Channel: "/contest/c1", Data: json.RawMessage(`"` + strings.Repeat("x", 2000) + `"`)}
	if err := big.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(ctxT(t), big); err == nil {
		t.Fatal("an event over MaxEventSize was stored")
	}

	// Another node opening the same stream with other limits updates it.
	other := open(t, Config{URL: b.ClientURL(), Prefix: "ac", Stream: "EV", MaxAge: 2 * time.Hour, MaxMsgs: 10, MaxBytes: 2 << 20, MaxEventSize: 1024})
	info, err = other.stream.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxMsgs != 10 || info.Config.MaxAge != 2*time.Hour || info.State.Msgs != 5 {
		t.Fatalf("after reopening: config %+v state %+v", info.Config, info.State)
	}
}

// TestReplayBounds: Replay gives the stored events of one channel with
// after < id <= upTo, and says whether the history reached back to after.
func TestReplayBounds(t *testing.T) {
	b := open(t, Config{MaxMsgs: 6})
	c1, c2 := mustChannel(t, "/contest/c1"), mustChannel(t, "/contest/c2")
	// Ids 1..8; c1 has the odd ones. MaxMsgs 6 discards 1 and 2.
	for i := 1; i <= 8; i++ {
		ch := "/contest/c2"
		if i%2 == 1 {
			ch = "/contest/c1"
		}
		if id := pub(t, b, ch, fmt.Sprint(i)); id != uint64(i) {
			t.Fatalf("id %d, want %d", id, i)
		}
	}
	cases := []struct {
		name        string
		ch          protocol.Channel
		after, upTo uint64
		want        []uint64
		complete    bool
	}{
		{"everything kept after 2", c1, 2, 8, []uint64{3, 5, 7}, true},
		{"upTo bounds", c1, 2, 5, []uint64{3, 5}, true},
		{"after is exclusive", c1, 3, 8, []uint64{5, 7}, true},
		{"other channel", c2, 2, 8, []uint64{4, 6, 8}, true},
		{"discarded history", c1, 0, 8, []uint64{3, 5, 7}, false},
		{"upTo past the end", c2, 5, 100, []uint64{6, 8}, true},
		{"at the end", c1, 8, 8, nil, true},
		{"after from the future", c1, 50, 60, nil, false},
		{"empty range", c1, 5, 4, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			complete, err := b.Replay(ctxT(t), tc.ch, tc.after, tc.upTo, func(ev *protocol.Event) bool {
				if ev.Parsed != tc.ch || ev.Timestamp == 0 {
					t.Errorf("event %+v", ev)
				}
				got = append(got, ev.ID)
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) || complete != tc.complete {
				t.Fatalf("got %v complete %v, want %v complete %v", got, complete, tc.want, tc.complete)
			}
		})
	}

	// Latest: the newest kept event at or below upTo, within the lookback.
	odd := func(ev *protocol.Event) bool { return string(ev.Data) != "7" }
	for _, tc := range []struct {
		upTo  uint64
		limit int
		want  uint64 // 0: none
	}{{8, 100, 5}, {4, 100, 3}, {8, 3, 0}, {8, 4, 5}, {2, 100, 0}} {
		ev, err := b.Latest(ctxT(t), c1, tc.upTo, tc.limit, odd)
		if err != nil {
			t.Fatal(err)
		}
		got := uint64(0)
		if ev != nil {
			got = ev.ID
		}
		if got != tc.want {
			t.Errorf("Latest(upTo %d, limit %d) = %d, want %d", tc.upTo, tc.limit, got, tc.want)
		}
	}
}

// TestBadMessages: what is on the stream but no valid event (not JSON, a
// channel other than its subject's, unknown fields) goes to bad with its
// subject and position, never to fn, and Consume and Replay go on past it.
func TestBadMessages(t *testing.T) {
	b := open(t, Config{})
	js := b.JetStream()
	raw := func(subject, body string) uint64 {
		ack, err := js.Publish(ctxT(t), subject, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	good1 := pub(t, b, "/contest/c1", `1`)
	bads := map[uint64]string{
		raw("arenacast.contest.c1", `not json`):                                                           "not json",
		raw("arenacast.contest.c1", `{"type":"run_update","channel":"/contest/c2","data":{}}`):            "channel mismatch",
		raw("arenacast.contest.c1", `{"type":"run_update","channel":"/contest/c1","data":{},"pubilc":1}`): "unknown field",
		raw("arenacast.contest.c1", `{"type":"Bad","channel":"/contest/c1","data":{}}`):                   "bad type",
	}
	good2 := pub(t, b, "/contest/c1", `2`)

	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var (
		mu   sync.Mutex
		got  []uint64
		seen = map[uint64]string{}
	)
	done := make(chan error, 1)
	go func() {
		done <- b.Consume(ctx, 0, func(ev *protocol.Event) {
			mu.Lock()
			got = append(got, ev.ID)
			mu.Unlock()
		}, func(subject string, id uint64, err error) {
			mu.Lock()
			seen[id] = subject + ": " + err.Error()
			mu.Unlock()
		})
	}()
	eventually(t, "the consumer to pass every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2 && len(seen) == len(bads)
	})
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume: %v", err)
	}
	if !slices.Equal(got, []uint64{good1, good2}) {
		t.Fatalf("delivered %v, want %d and %d", got, good1, good2)
	}
	for id, what := range bads {
		if r := seen[id]; !strings.HasPrefix(r, "arenacast.contest.c1: ") {
			t.Errorf("%s (id %d): reported %q", what, id, r)
		}
	}
	var replayed []uint64
	if _, err := b.Replay(ctxT(t), mustChannel(t, "/contest/c1"), 0, good2, func(ev *protocol.Event) bool { replayed = append(replayed, ev.ID); return true }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(replayed, []uint64{good1, good2}) {
		t.Fatalf("replayed %v", replayed)
	}
}

// TestReconnect: a node on an external NATS that restarts (same address,
// same storage) reconnects, and its consumer goes on from where it was:
// every event once, in order.
func TestReconnect(t *testing.T) {
	dir := t.TempDir()
	srv := open(t, Config{DataDir: dir, Listen: "127.0.0.1:0"})
	url := srv.ClientURL()
	addr := strings.TrimPrefix(url, "nats://")
	var logs logBuffer
	node := open(t, Config{URL: url, Logger: logs.logger()})

	c := consume(t, node)
	received := func(n int) func() bool { return func() bool { return len(c.ids()) >= n } }
	before := []uint64{pub(t, node, "/contest/c1", `1`), pub(t, node, "/user/u1", `2`)}
	eventually(t, "the events before the restart", received(2))

	srv.Close()
	eventually(t, "the node to notice", func() bool { return !node.Connected() })
	srv = open(t, Config{DataDir: dir, Listen: addr})
	eventually(t, "the node to reconnect", node.Connected)
	// The client runs its callbacks on a goroutine of their own.
	eventually(t, "the reconnect logged", func() bool { return strings.Contains(logs.String(), `msg="nats reconnected"`) })
	var after []uint64
	for i := range 3 {
		after = append(after, pub(t, node, "/contest/c1", fmt.Sprint(10+i)))
	}
	eventually(t, "the events after the restart", received(5))
	if got, want := c.stop(), append(before, after...); !slices.Equal(got, want) {
		t.Fatalf("consumed %v, want %v", got, want)
	}
}

// TestConsumeWhileNATSIsDown: a node that starts consuming while its NATS
// is away (or going away: the node reports ready before its consumer
// exists) keeps trying, and consumes once NATS is back, instead of
// returning an error that ends the node's Run.
func TestConsumeWhileNATSIsDown(t *testing.T) {
	dir := t.TempDir()
	srv := open(t, Config{DataDir: dir, Listen: "127.0.0.1:0"})
	url := srv.ClientURL()
	addr := strings.TrimPrefix(url, "nats://")
	var logs logBuffer
	node := open(t, Config{URL: url, Logger: logs.logger()})
	first := pub(t, node, "/contest/c1", `1`)

	srv.Close()
	eventually(t, "the node to notice", func() bool { return !node.Connected() })
	c := consume(t, node)
	eventually(t, "a failed attempt logged", func() bool {
		c.running()
		return strings.Contains(logs.String(), "creating the stream's consumer failed; retrying")
	})
	srv = open(t, Config{DataDir: dir, Listen: addr})
	eventually(t, "the node to reconnect", node.Connected)
	second := pub(t, node, "/contest/c1", `2`)
	eventually(t, "both events", func() bool { c.running(); return len(c.ids()) >= 2 })
	if got, want := c.stop(), []uint64{first, second}; !slices.Equal(got, want) {
		t.Fatalf("consumed %v, want %v", got, want)
	}
}

// consumer is a Consume running on its own goroutine for a test, keeping
// the ids it was given.
type consumer struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex // guards got
	got    []uint64
}

// consume starts Consume on b from the stream's start; a message that is
// not an event fails the test.
func consume(t *testing.T, b *Bus) *consumer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{t: t, cancel: cancel, done: make(chan error, 1)}
	t.Cleanup(func() { c.stop() })
	go func() {
		c.done <- b.Consume(ctx, 0, func(ev *protocol.Event) {
			c.mu.Lock()
			c.got = append(c.got, ev.ID)
			c.mu.Unlock()
		}, func(string, uint64, error) { t.Error("a bad message") })
	}()
	return c
}

// ids is what was consumed so far.
func (c *consumer) ids() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// running fails the test if Consume has returned.
func (c *consumer) running() {
	select {
	case err := <-c.done:
		c.done <- err // for stop
		c.t.Fatalf("Consume returned: %v", err)
	default:
	}
}

// stop cancels Consume, waits for it (it must end without an error of its
// own) and returns what it consumed. Later calls only return that.
func (c *consumer) stop() []uint64 {
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
		if err := <-c.done; err != nil && !errors.Is(err, context.Canceled) {
			c.t.Errorf("Consume after cancel: %v", err)
		}
	}
	return c.ids()
}

// TestPublishBatchAfterDeadline: a batch whose time has run out sends
// nothing more, and says so (ErrNotPublished), so a retry cannot repeat an
// event; the stream holds none of them.
func TestPublishBatchAfterDeadline(t *testing.T) {
	b := open(t, Config{})
	before, err := b.LastID(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var evs []*protocol.Event
	for range 3 {
		ev := &protocol.Event{Type: "run_update", Channel: "/contest/c1", Public: true, Data: json.RawMessage(`{}`)}
		if err := ev.Validate(); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, errs := b.PublishBatch(ctx, evs)
	for i, err := range errs {
		if !errors.Is(err, broadcaster.ErrNotPublished) {
			t.Fatalf("event %d: %v, want ErrNotPublished", i, err)
		}
	}
	if after, _ := b.LastID(ctxT(t)); after != before {
		t.Fatalf("the stream moved from %d to %d", before, after)
	}
}

// TestFirstID: the oldest stored id, one past the newest on an empty
// stream, and past what the stream's limits discarded.
func TestFirstID(t *testing.T) {
	b := open(t, Config{MaxMsgs: 3})
	first := func() uint64 {
		t.Helper()
		id, err := b.FirstID(ctxT(t))
		if err != nil {
			t.Fatalf("FirstID: %v", err)
		}
		return id
	}
	if got := first(); got != 1 {
		t.Fatalf("empty stream: FirstID %d, want 1", got)
	}
	var ids []uint64
	for range 5 {
		ids = append(ids, pub(t, b, "/contest/c1", `{}`))
	}
	if got := first(); got != ids[2] {
		t.Fatalf("after 5 events in a 3-event stream: FirstID %d, want %d", got, ids[2])
	}
}
