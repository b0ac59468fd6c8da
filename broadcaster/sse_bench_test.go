package broadcaster

import (
	"testing"
)

// BenchmarkAppendSSE frames one 200-byte event as SSE (id, event, data)
// into a reused buffer.
func BenchmarkAppendSSE(b *testing.B) {
	ev := benchEvent(true, "")
	ev.ID = 123456
	f := newEventFrame(ev, ev.Channel)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(f.data)))
	for b.Loop() {
		buf = appendSSE(buf[:0], f)
	}
}

// TestAppendSSEAllocs checks SSE framing into a buffer with room allocates
// nothing.
func TestAppendSSEAllocs(t *testing.T) {
	ev := benchEvent(true, "")
	ev.ID = 7
	f := newEventFrame(ev, ev.Channel)
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = appendSSE(buf[:0], f) }); n != 0 {
		t.Errorf("appendSSE allocates %.0f times per frame", n)
	}
}
