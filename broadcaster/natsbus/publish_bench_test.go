package natsbus

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/arenacast/arenacast/protocol"
)

// benchSetup opens a bus on an embedded file-backed stream (closed when b
// ends) and makes 100 valid run updates over 50 channels.
func benchSetup(b *testing.B) (*Bus, []*protocol.Event) {
	bus, err := Open(context.Background(), Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(bus.Close)
	evs := make([]*protocol.Event, 100)
	for i := range evs {
		ev := &protocol.Event{Type: "run_update", Channel: fmt.Sprintf("/contest/c%d", i%50), Public: true,
			Data: json.RawMessage(`{"guid":"0123456789abcdef","verdict":"AC","score":1,"runtime":0.25,"memory":1048576,"contest_score":100}`)}
		if err := ev.Validate(); err != nil {
			b.Fatal(err)
		}
		evs[i] = ev
	}
	return bus, evs
}

// BenchmarkPublishBatch stores batches of 100 events over 50 channels on
// an embedded file-backed stream, as POST /publish does for a publisher
// of many contests: the publish side of the node plus JetStream's store
// and acks, per event (issue 18; docs/benchmarks.md).
func BenchmarkPublishBatch(b *testing.B) {
	bus, evs := benchSetup(b)
	n := len(evs)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_, errs := bus.PublishBatch(ctx, evs)
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}

// BenchmarkConsume takes stored events off an embedded file-backed stream
// through Consume, as the node's one consumer does before routing: the
// ordered consumer, nats.go's message, the JetStream metadata and the
// event's decoding, per event (issue 18; docs/benchmarks.md). The stream is
// filled before the timer starts.
func BenchmarkConsume(b *testing.B) {
	bus, evs := benchSetup(b)
	n := len(evs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for left := b.N; left > 0; left -= n {
		_, errs := bus.PublishBatch(ctx, evs[:min(n, left)])
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	seen := 0
	done := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		done <- bus.Consume(ctx, 0, func(ev *protocol.Event) {
			if seen++; seen == b.N {
				cancel()
			}
		}, func(subject string, seq uint64, err error) {
			b.Errorf("event %d on %s: %v", seq, subject, err)
		})
	}()
	if err := <-done; err != nil && ctx.Err() == nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if seen < b.N {
		b.Fatalf("consumed %d of %d events", seen, b.N)
	}
}
