package ccs_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
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
	line := `{"type":"contests","id":"wf","data":{"id":"wf","name":"World Finals"},"token":"t1"}`
	ev := &protocol.Event{Type: ccs.EventType("contests"), Channel: "/contest/wf", Public: true, Data: json.RawMessage(line)}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := bus2.Publish(ctx, ev); err != nil {
		t.Fatalf("publish: %v", err)
	}
	select {
	case <-node.feed.Ready():
	case <-ctx.Done():
		t.Fatal("the feed did not become ready once the stream was back")
	}
	waitUntil(t, "the notification served", func() bool { return node.count(t, "?stream=false", "") == 1 })
}
