package broadcaster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

// touchChannels publishes one scoreboard_update to each of n distinct
// contest channels (/contest/b0 ...) through the node's real stream, in
// batches, and waits until the node routed them all. It returns the id of
// each channel's event.
func touchChannels(t *testing.T, e *env, n int) []uint64 {
	t.Helper()
	ids := make([]uint64, 0, n)
	const batch = 500
	for from := 0; from < n; from += batch {
		var evs []*protocol.Event
		for i := from; i < min(from+batch, n); i++ {
			ev := &protocol.Event{Type: "scoreboard_update", Channel: fmt.Sprintf("/contest/b%d", i), Public: true,
				Data: json.RawMessage(fmt.Sprintf(`{"board":%d}`, i))}
			if err := ev.Validate(); err != nil {
				t.Fatalf("bad test event: %v", err)
			}
			evs = append(evs, ev)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		got, errs := e.bus.PublishBatch(ctx, evs)
		cancel()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("publish %s: %v", evs[i].Channel, err)
			}
		}
		ids = append(ids, got...)
	}
	last := ids[len(ids)-1]
	waitUntil(t, func() bool { return e.srv.Stats().LastConsumed >= last })
	return ids
}

func evictions(st broadcaster.Snapshot, k broadcaster.StateKind, r broadcaster.EvictReason) uint64 {
	return st.StateEvictions[broadcaster.StateEviction{Kind: k, Reason: r}]
}

// TestTenThousandChannels: 10,000 contest channels touched once each
// through the real stream leave at most ChannelStateMax entries in the
// recent log and the snapshot cache, the evictions are counted, and an
// evicted contest's subscriber still gets its snapshot (from the stream)
// and a resume its right answer. The idle sweep then forgets everything
// but the channel with a subscriber.
func TestTenThousandChannels(t *testing.T) {
	const channels, bound = 10_000, 1_000
	e := newEnv(t, func(o *broadcaster.Options) { o.ChannelStateMax = bound })
	before := e.srv.Stats()
	ids := touchChannels(t, e, channels)
	st := e.srv.Stats()
	for _, k := range []broadcaster.StateKind{broadcaster.StateRecent, broadcaster.StateSnapshot} {
		if n := st.StateEntries[string(k)]; n > bound {
			t.Errorf("%s holds %d channels after %d touched, want at most %d", k, n, channels, bound)
		}
		moved := evictions(st, k, broadcaster.EvictCount) - evictions(before, k, broadcaster.EvictCount)
		if moved < channels-bound {
			t.Errorf("%s evictions (count) moved by %d, want at least %d", k, moved, channels-bound)
		}
	}

	// b0 was evicted from both: its snapshot comes from a stream search,
	// and a resume from an id before its event replays it.
	tok := e.token("alice", func(c *auth.Claims) { c.Contests = []string{"b0"} })
	s := openSnapshot(t, e, "ws", tok, "/contest/b0")
	if m := s.next(); m["type"] != "scoreboard_update" || m["id"] != protocol.IDString(ids[0]) {
		t.Fatalf("snapshot of an evicted contest: %v, want scoreboard_update %d", m, ids[0])
	}
	r := openResumed(t, e, "ws", tok, "/contest/b0", protocol.IDString(ids[0]-1))
	if r.subscribed["recovered"] != true {
		t.Fatalf("resume on an evicted channel: %v, want recovered:true (from the stream)", r.subscribed)
	}
	if m := r.next(); m["type"] != "scoreboard_update" || m["id"] != protocol.IDString(ids[0]) {
		t.Fatalf("resume on an evicted channel replayed %v, want scoreboard_update %d", m, ids[0])
	}

	// A live event on b0 gives it a ring again.
	live := e.publish("clarification", "/contest/b0", "", true, `{}`)
	if m := r.next(); m["id"] != protocol.IDString(live) {
		t.Fatalf("got %v, want the live event %d", m, live)
	}

	// Past ChannelStateIdle, everything goes but b0 (subscribed).
	e.srv.SweepIdle(time.Now().Add(2 * time.Hour))
	st = e.srv.Stats()
	for _, k := range []broadcaster.StateKind{broadcaster.StateRecent, broadcaster.StateSnapshot} {
		if n := st.StateEntries[string(k)]; n != 1 {
			t.Errorf("%s holds %d channels after the idle sweep, want 1 (the subscribed contest)", k, n)
		}
		if evictions(st, k, broadcaster.EvictIdle) == 0 {
			t.Errorf("%s: no idle evictions counted", k)
		}
	}
	// b0's state stayed: a new subscriber's snapshot needs no search.
	s = openSnapshot(t, e, "sse", tok, "/contest/b0")
	if m := s.next(); m["id"] != protocol.IDString(ids[0]) {
		t.Fatalf("snapshot after the sweep: %v, want %d", m, ids[0])
	}
}

// TestChannelStateMemory measures the node's memory around 10,000
// channels touched once (docs/benchmarks.md, "Bounded per-channel
// state"): RSS and HeapInuse before, after touching, and after the idle
// sweep, each after runtime.GC and debug.FreeOSMemory (Go returns memory
// to the OS lazily). A measurement, not a check of speed: it runs only
// with ARENACAST_MEMTEST=1 (go test -run TestChannelStateMemory -v), and
// checks only that the sweep leaves no entry.
func TestChannelStateMemory(t *testing.T) {
	if os.Getenv("ARENACAST_MEMTEST") == "" {
		t.Skip("a measurement: set ARENACAST_MEMTEST=1")
	}
	channels := 10_000
	if v, err := strconv.Atoi(os.Getenv("ARENACAST_MEMTEST_CHANNELS")); err == nil && v > 0 {
		channels = v
	}
	e := newEnv(t, nil) // defaults: ChannelStateMax 20,000, so all stay until the sweep
	measure := func(when string) {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st := e.srv.Stats()
		t.Logf("%-16s RSS %6.1f MiB  HeapInuse %6.1f MiB  entries recent=%d snapshot=%d",
			when, float64(rss(t))/(1<<20), float64(ms.HeapInuse)/(1<<20), st.StateEntries["recent"], st.StateEntries["snapshot"])
	}
	touchChannels(t, e, 100) // the first channels pay for one-time setup
	e.srv.SweepIdle(time.Now().Add(2 * time.Hour))
	measure("before")
	touchChannels(t, e, channels)
	measure("after touching")
	e.srv.SweepIdle(time.Now().Add(2 * time.Hour))
	measure("after the sweep")
	if p := os.Getenv("ARENACAST_MEMTEST_HEAP"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	st := e.srv.Stats()
	if st.StateEntries["recent"] != 0 || st.StateEntries["snapshot"] != 0 {
		t.Fatalf("entries after the sweep: %v, want none", st.StateEntries)
	}
}

// rss is the process's resident set size in bytes (Linux /proc).
func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmRSS in /proc/self/status")
	return 0
}
