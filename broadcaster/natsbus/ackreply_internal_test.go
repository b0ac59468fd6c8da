package natsbus

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/arenacast/arenacast/protocol"
	"github.com/nats-io/nats.go/jetstream"
)

func TestStoredAt(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		seq   uint64
		nanos int64
		ok    bool
	}{
		{"current form", "$JS.ACK._.ACCHASH.events.cons.1.42.7.1765000000123456789.3.rnd", 42, 1765000000123456789, true},
		{"current form without the last token", "$JS.ACK.hub.ACCHASH.events.cons.2.9.9.17.0", 9, 17, true},
		{"current form, more tokens after", "$JS.ACK._.H.events.cons.1.5.5.99.0.rnd.extra", 5, 99, true},
		{"old form", "$JS.ACK.events.cons.1.1234.12.1765000000000000000.0", 1234, 1765000000000000000, true},
		{"ten tokens", "$JS.ACK._.events.cons.1.5.5.99.0", 0, 0, false},
		{"too short", "$JS.ACK.events.cons.1.5.5.99", 0, 0, false},
		{"not an ack subject", "_INBOX.abc.events.cons.1.5.5.99.0", 0, 0, false},
		{"empty", "", 0, 0, false},
		{"sequence not a number", "$JS.ACK.events.cons.1.x5.5.99.0", 0, 0, false},
		{"zero sequence", "$JS.ACK.events.cons.1.0.5.99.0", 0, 0, false},
		{"signed sequence", "$JS.ACK.events.cons.1.+5.5.99.0", 0, 0, false},
		{"empty sequence", "$JS.ACK.events.cons.1..5.99.0", 0, 0, false},
		{"sequence over uint64", "$JS.ACK.events.cons.1.18446744073709551616.5.99.0", 0, 0, false},
		{"largest sequence", "$JS.ACK.events.cons.1.18446744073709551615.5.99.0", 1<<64 - 1, 99, true},
		{"time over int64", "$JS.ACK.events.cons.1.5.5.9223372036854775808.0", 0, 0, false},
		{"negative time", "$JS.ACK.events.cons.1.5.5.-1.0", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq, nanos, ok := storedAt(tt.reply)
			if seq != tt.seq || nanos != tt.nanos || ok != tt.ok {
				t.Errorf("storedAt(%q) = %d, %d, %v; want %d, %d, %v", tt.reply, seq, nanos, ok, tt.seq, tt.nanos, tt.ok)
			}
		})
	}
}

// TestStoredAtMatchesMetadata reads the reply subject of a message a real
// embedded JetStream delivered and checks storedAt against nats.go's own
// parse of it.
func TestStoredAtMatchesMetadata(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	ev := &protocol.Event{Type: "clarification", Channel: "/contest/c1", Public: true, Data: json.RawMessage(`{"id":1}`)}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	for range 3 { // the third message, so the sequences are not all 1
		if _, errs := bus.PublishBatch(ctx, []*protocol.Event{ev}); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	cons, err := bus.js.OrderedConsumer(ctx, bus.cfg.Stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 3})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(20 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	meta, err := msg.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	seq, nanos, ok := storedAt(msg.Reply())
	if !ok || seq != meta.Sequence.Stream || nanos != meta.Timestamp.UnixNano() || seq != 3 {
		t.Fatalf("storedAt(%q) = %d, %d, %v; nats.go's metadata: sequence %d, time %d", msg.Reply(), seq, nanos, ok,
			meta.Sequence.Stream, meta.Timestamp.UnixNano())
	}
}
