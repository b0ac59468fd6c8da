package natsbus

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/arenacast/arenacast/protocol"
)

// BenchmarkPublishBatch stores batches of 100 events over 50 channels on
// an embedded file-backed stream, as POST /publish does for a publisher
// of many contests: the publish side of the node plus JetStream's store
// and acks, per event (issue 18; docs/benchmarks.md).
func BenchmarkPublishBatch(b *testing.B) {
	bus, err := Open(context.Background(), Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close()
	const n = 100
	evs := make([]*protocol.Event, n)
	for i := range evs {
		ev := &protocol.Event{Type: "run_update", Channel: fmt.Sprintf("/contest/c%d", i%50), Public: true,
			Data: json.RawMessage(`{"guid":"0123456789abcdef","verdict":"AC","score":1,"runtime":0.25,"memory":1048576,"contest_score":100}`)}
		if err := ev.Validate(); err != nil {
			b.Fatal(err)
		}
		evs[i] = ev
	}
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
