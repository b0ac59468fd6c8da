package broadcaster

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// benchBus is a Bus that holds nothing: the hub benchmarks never consume.
type benchBus struct{}

func (benchBus) Publish(context.Context, *protocol.Event) (uint64, error) { return 0, nil }
func (benchBus) Consume(ctx context.Context, _ uint64, _ func(*protocol.Event), _ func(string, uint64, error)) error {
	<-ctx.Done()
	return nil
}
func (benchBus) Replay(context.Context, protocol.Channel, uint64, uint64, func(*protocol.Event) bool) (bool, error) {
	return true, nil
}
func (benchBus) LastID(context.Context) (uint64, error) { return 0, nil }
func (benchBus) Latest(context.Context, protocol.Channel, uint64, int, func(*protocol.Event) bool) (*protocol.Event, error) {
	return nil, nil
}

// discardTransport accepts every write and sends nothing.
type discardTransport struct{}

func (discardTransport) write([]*frame) error     { return nil }
func (discardTransport) close(protocol.CloseCode) {}
func (discardTransport) name() string             { return "discard" }

func newBenchServer(tb testing.TB, queue int) *Server {
	tb.Helper()
	keys := auth.NewKeySet()
	if err := keys.AddHMAC("bench", []byte("arenacast-bench-secret-0123456789abcdef")); err != nil {
		tb.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.VerifierOptions{Keys: keys})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := New(Options{Verifier: v, Bus: benchBus{}, QueueMessages: queue, QueueBytes: 1 << 30})
	if err != nil {
		tb.Fatal(err)
	}
	return srv
}

// dispatchNext dispatches ev with the next id and fails unless it reached
// want sessions.
func dispatchNext(b *testing.B, srv *Server, ev *protocol.Event, want int) {
	ev.ID++
	if got := srv.hub.dispatch(ev, 0, nil); got != want {
		b.Fatalf("delivered %d, want %d", got, want)
	}
}

// addSubs registers n sessions on route with access; members are users
// u0..u<n-1>. With quiet, the sessions look as if a writer already ran, so
// deliveries only queue (the caller drains them).
func addSubs(srv *Server, route string, n int, access auth.Access, quiet bool) []*session {
	out := make([]*session, n)
	for i := range out {
		sess, _ := srv.newSession(discardTransport{}, "127.0.0.1:1")
		sess.writing = quiet
		p := &auth.Principal{User: "u" + strconv.Itoa(i)}
		sub := &subscription{sess: sess, st: &chanState{}, client: route, route: route, kind: protocol.KindContest,
			access: access, principal: p, user: p.User, idx: [2]int{-1, -1}}
		sess.subs = map[string]*subscription{route: sub}
		srv.hub.add(sub)
		out[i] = sess
	}
	return out
}

// drainQueues empties quiet sessions' queues.
func drainQueues(sessions []*session) {
	for _, s := range sessions {
		s.mu.Lock()
		clear(s.queue)
		s.queue = s.queue[:0]
		s.queueBytes = 0
		s.mu.Unlock()
	}
}

func benchEvent(public bool, user string) *protocol.Event {
	data, _ := json.Marshal(map[string]string{"guid": "abc123def456", "verdict": "AC", "pad": string(make([]byte, 140))})
	return &protocol.Event{Type: protocol.TypeRunUpdate, Channel: "/contest/bench", Public: public, User: user, Data: data, Timestamp: 1}
}

// BenchmarkHubDispatch publishes a public 200-byte event to 1, 100 and
// 10,000 member subscribers of one channel: encode once, visibility check
// and queue push per subscriber. Writers are held off (queues are emptied
// every 64 events, inside the timing) so this is the routing cost alone.
func BenchmarkHubDispatch(b *testing.B) {
	for _, n := range []int{1, 100, 10_000} {
		b.Run("subs="+strconv.Itoa(n), func(b *testing.B) {
			srv := newBenchServer(b, 1<<20)
			sessions := addSubs(srv, "/contest/bench", n, auth.AccessMember, true)
			ev := benchEvent(true, "")
			b.ReportAllocs()
			for b.Loop() {
				dispatchNext(b, srv, ev, n)
				if ev.ID%64 == 0 {
					drainQueues(sessions)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

// BenchmarkHubDispatchPrivate publishes a private run_update owned by one of
// 10,000 participants (plus 20 admins) on one contest: the byUser index
// must make it cost 21 deliveries, not a scan of 10,000.
func BenchmarkHubDispatchPrivate(b *testing.B) {
	srv := newBenchServer(b, 1<<20)
	members := addSubs(srv, "/contest/bench", 10_000, auth.AccessMember, true)
	admins := addSubs(srv, "/contest/bench", 20, auth.AccessAll, true)
	ev := benchEvent(false, "u4242")
	b.ReportAllocs()
	for b.Loop() {
		dispatchNext(b, srv, ev, 21)
		if ev.ID%64 == 0 {
			drainQueues(members[4242:4243])
			drainQueues(admins)
		}
	}
}

// BenchmarkHubDeliverWriters publishes b.N events to n subscribers with
// real writer goroutines (on-demand start, drain per wake-up) over a
// transport that discards, and waits until every frame is written: the
// engine's cost per delivery without the network.
func BenchmarkHubDeliverWriters(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run("subs="+strconv.Itoa(n), func(b *testing.B) {
			srv := newBenchServer(b, 1<<20)
			addSubs(srv, "/contest/bench", n, auth.AccessMember, false)
			ev := benchEvent(true, "")
			start := srv.stats.framesWritten.Load()
			b.ReportAllocs()
			id := uint64(0)
			for b.Loop() {
				id++
				ev.ID = id
				srv.hub.dispatch(ev, 0, nil)
			}
			want := start + uint64(b.N*n)
			deadline := time.Now().Add(time.Minute)
			for srv.stats.framesWritten.Load() < want && time.Now().Before(deadline) {
				time.Sleep(50 * time.Microsecond)
			}
			if got := srv.stats.framesWritten.Load(); got < want {
				b.Fatalf("written %d frames, want %d", got-start, want-start)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

// TestDispatchAllocsPerDelivery checks that routing allocates per event
// (one frame and its bytes), never per subscriber.
func TestDispatchAllocsPerDelivery(t *testing.T) {
	allocs := func(n int) float64 {
		srv := newBenchServer(t, 1<<20)
		sessions := addSubs(srv, "/contest/bench", n, auth.AccessMember, true)
		ev := benchEvent(true, "")
		// Warm the queues' capacity so appends do not grow them.
		for i := range 64 {
			ev.ID = uint64(i + 1)
			srv.hub.dispatch(ev, 0, nil)
		}
		drainQueues(sessions)
		id := uint64(1000)
		return testing.AllocsPerRun(32, func() {
			id++
			ev.ID = id
			srv.hub.dispatch(ev, 0, nil)
		})
	}
	one, many := allocs(1), allocs(100)
	if many != one {
		t.Errorf("dispatch allocates %.0f times for 100 subscribers and %.0f for 1: something allocates per delivery", many, one)
	}
}
