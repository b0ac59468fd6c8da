package protocol

import (
	"strings"
	"testing"
)

// benchEventJSON is a publisher's run_update with about 200 bytes of data.
var benchEventJSON = []byte(`{"type":"run_update","channel":"/contest/annual-2024","user":"contestant1","public":false,` +
	`"data":{"guid":"abc123def456","verdict":"AC","score":1.0,"pad":"` + strings.Repeat("x", 140) + `"}}`)

// BenchmarkDecodeEvent parses and validates one event off NATS (once per
// event per node).
func BenchmarkDecodeEvent(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchEventJSON)))
	for b.Loop() {
		if _, err := DecodeEvent(benchEventJSON, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEventJSON is DecodeEvent's general path (encoding/json),
// which events outside the fast path's form take.
func BenchmarkDecodeEventJSON(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchEventJSON)))
	for b.Loop() {
		ev, err := decodeEventJSON(benchEventJSON)
		if err == nil {
			err = ev.Validate()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeEvent is the publisher form (arenacast publish, POST
// /publish).
func BenchmarkEncodeEvent(b *testing.B) {
	ev, err := DecodeEvent(benchEventJSON, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ev.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendDelivery encodes the client form into a reused buffer
// (once per event and client-visible channel name).
func BenchmarkAppendDelivery(b *testing.B) {
	ev, err := DecodeEvent(benchEventJSON, 0)
	if err != nil {
		b.Fatal(err)
	}
	ev.ID, ev.Timestamp = 123456, 1704067200
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendDelivery(buf[:0], ev, ev.Channel)
	}
	b.SetBytes(int64(len(buf)))
}

// TestAppendDeliveryAllocs checks the client form encodes without
// allocating when the buffer has room.
func TestAppendDeliveryAllocs(t *testing.T) {
	ev, err := DecodeEvent(benchEventJSON, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = AppendDelivery(buf[:0], ev, ev.Channel) }); n != 0 {
		t.Errorf("AppendDelivery allocates %.0f times", n)
	}
}
