package broadcaster

import (
	"io"
	"net"
	"runtime"
	"strconv"
	"testing"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// drainPeer reads and discards everything the client end receives, so
// the server end's socket never fills.
func drainPeer(c net.Conn) { go io.Copy(io.Discard, c) }

// TestTryWriteAllocs: a flusher's non-blocking write of one frame that the
// socket takes whole allocates nothing (at fan-out, one such write per
// delivery: docs/benchmarks.md).
func TestTryWriteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers at random under the race detector")
	}
	server, client := tcpPair(t)
	drainPeer(client)
	raw := newRawConn(t, server)
	frames := []*frame{newEventFrame(benchEvent(true, ""), "/contest/bench")}
	allocs := testing.AllocsPerRun(200, func() {
		finish, err := raw.tryWriteMessages(frames, false)
		if finish != nil {
			err = finish()
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("tryWriteMessages allocates %.1f times per write, want 0", allocs)
	}
}

// flushSessions registers n WebSocket-like sessions on route, each written
// through its own loopback TCP connection (the peer drains it), as
// the flushers write them.
func flushSessions(b *testing.B, srv *Server, route string, n int) []*session {
	b.Helper()
	out := make([]*session, n)
	for i := range out {
		server, client := tcpPairB(b)
		drainPeer(client)
		sc, err := server.(*net.TCPConn).SyscallConn()
		if err != nil {
			b.Fatal(err)
		}
		out[i] = addMemberSession(srv, &wsTransport{raw: &rawConn{Conn: server, sc: sc}}, route, i)
	}
	return out
}

// addMemberSession makes a session on t for member u<i> of route's
// contest, subscribed to route, for a test or benchmark that runs the
// flusher's rounds itself (writing is set, so deliveries only queue).
func addMemberSession(srv *Server, t transport, route string, i int) *session {
	sess, _ := srv.newSession(t, "127.0.0.1:1")
	sess.writing = true
	p := &auth.Principal{User: "u" + strconv.Itoa(i)}
	sub := &subscription{sess: sess, st: &chanState{}, client: route, route: route, kind: protocol.KindContest,
		access: auth.AccessMember, principal: p, user: p.User, idx: [2]int{-1, -1}}
	sess.subs = map[string]*subscription{route: sub}
	srv.hub.add(sub)
	return sess
}

// tcpPairB is tcpPair for benchmarks.
func tcpPairB(b *testing.B) (server, client net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	server = <-accepted
	b.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// BenchmarkFlushDelivery is one delivery when nothing batches (the
// fan-out of a slow channel: each event its own write): an event
// dispatched to n subscribers, then one flusher round writing each
// session's one frame with a non-blocking system call on a real loopback
// TCP connection. ns/delivery includes the kernel's send and (loopback)
// receive path; allocs/op is per event, for n deliveries.
//
// ring=on sends each round through the flusher's io_uring (flushring.go),
// 128 writes per system call; ring=off writes a system call per session.
func BenchmarkFlushDelivery(b *testing.B) {
	for _, ring := range []bool{false, true} {
		for _, n := range []int{100, 1000} {
			name := "ring=off/subs=" + strconv.Itoa(n)
			if ring {
				name = "ring=on/subs=" + strconv.Itoa(n)
			}
			b.Run(name, func(b *testing.B) { benchFlushDelivery(b, n, ring) })
		}
	}
}

func benchFlushDelivery(b *testing.B, n int, ring bool) {
	srv := newBenchServer(b, 1<<20)
	f := newFlusher(0)
	if ring {
		if err := f.startRing(ringSize); err != nil {
			b.Skipf("no io_uring: %v", err)
		}
		defer f.stopRing()
	}
	sessions := flushSessions(b, srv, "/contest/bench", n)
	for _, s := range sessions {
		s.fl = f
	}
	ev := benchEvent(true, "")
	b.ReportAllocs()
	for b.Loop() {
		dispatchNext(b, srv, ev, n)
		for i, s := range sessions {
			if ring {
				f.stage(s, 1)
				if len(f.staged) == ringSize || i == len(sessions)-1 {
					f.send(f.ring, 1)
				}
			} else {
				s.flushOnce(f, 1)
			}
		}
		for _, s := range sessions {
			// As if still in a round, so the next dispatch does not
			// hand the session to the flusher's own goroutine.
			s.mu.Lock()
			s.writing = true
			s.mu.Unlock()
		}
	}
	if w := srv.stats.framesWritten.Load(); w < uint64(b.N*n) {
		b.Fatalf("wrote %d frames, want %d", w, b.N*n)
	}
	if ring && srv.stats.ringWrites.Load() < uint64(b.N*n) {
		b.Fatalf("the ring sent %d writes, want %d", srv.stats.ringWrites.Load(), b.N*n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
}

// BenchmarkFlusherRun is a round as a node runs it: one event dispatched to
// all but one of a ring's sessions (127: a full batch would end in a yield,
// which waits for the network poller while this benchmark spins), which
// start the flusher's goroutine (flusher.run), which writes them through
// the ring and exits. What a run costs beyond the writes (starting the
// goroutine, growing its stack for hold's nesting) shows against
// BenchmarkFlushDelivery's ring=on.
func BenchmarkFlusherRun(b *testing.B) {
	srv := newBenchServer(b, 1<<20)
	f := newFlusher(0)
	if err := f.startRing(ringSize); err != nil {
		b.Skipf("no io_uring: %v", err)
	}
	defer f.stopRing()
	n := ringSize - 1
	for _, s := range flushSessions(b, srv, "/contest/bench", n) {
		s.mu.Lock()
		s.fl, s.writing = f, false // a delivery hands s to f's goroutine
		s.mu.Unlock()
	}
	ev := benchEvent(true, "")
	idle := func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return !f.running
	}
	b.ReportAllocs()
	for b.Loop() {
		dispatchNext(b, srv, ev, n)
		for !idle() {
			runtime.Gosched()
		}
	}
	if w := srv.stats.ringWrites.Load(); w < uint64(b.N*n) {
		b.Fatalf("the ring sent %d writes, want %d", w, b.N*n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
}
