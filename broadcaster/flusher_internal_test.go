package broadcaster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/arenacast/arenacast/protocol"
)

// testWS is a WebSocket transport over a loopback TCP connection without
// the library: the flusher's path (tryWrite, finishWrite) and the writer's
// (write) are the real ones; close only closes the socket and says so.
type testWS struct {
	*wsTransport
	closed chan protocol.CloseCode
}

func (w *testWS) close(code protocol.CloseCode) {
	w.raw.Conn.Close()
	w.closed <- code
}

// flusherSession returns a session on f over a loopback TCP connection,
// and the client's end of it.
func flusherSession(t *testing.T, srv *Server, f *flusher) (*session, *testWS, net.Conn) {
	t.Helper()
	server, client := tcpPair(t)
	tr := &testWS{wsTransport: &wsTransport{raw: newRawConn(t, server)}, closed: make(chan protocol.CloseCode, 1)}
	return &session{srv: srv, t: tr, fl: f, id: srv.nextID.Add(1)}, tr, client
}

// numbered is frame i of a session: its payload names i, padded to size.
func numbered(i, size int) *frame {
	data := fmt.Appendf(nil, "%08d", i)
	return &frame{data: append(data, bytes.Repeat([]byte{'.'}, max(size-len(data), 0))...)}
}

// readNumbered reads n messages and checks they are frames 0..n-1 in
// order; it reports the first problem.
func readNumbered(c net.Conn, n int) error {
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	for i := range n {
		m, err := readTextMessage(br)
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		if want := fmt.Sprintf("%08d", i); len(m) < 8 || m[:8] != want {
			return fmt.Errorf("message %d is %.8q, want %s", i, m, want)
		}
	}
	return nil
}

func idle(s *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.writing && len(s.queue) == 0
}

// TestFlusher: sessions sharing a flusher get their frames in order and
// exactly once; one whose peer stops reading is handed to a writer of its
// own and the others go on; one whose peer is gone is closed and the
// others go on; every session ends with no write pending.
func TestFlusher(t *testing.T) {
	newSrv := func() *Server {
		return &Server{
			opts: Options{QueueMessages: 1 << 20, QueueBytes: 1 << 30}.withDefaults(),
			log:  slog.New(slog.DiscardHandler),
			hub:  newHub(),
		}
	}
	t.Run("rounds", func(t *testing.T) {
		srv, f := newSrv(), newFlusher(time.Millisecond)
		const sessions, frames = 3, 500
		var clients []net.Conn
		var ss []*session
		for range sessions {
			s, _, c := flusherSession(t, srv, f)
			ss, clients = append(ss, s), append(clients, c)
		}
		errs := make(chan error, sessions)
		for _, c := range clients {
			go func() { errs <- readNumbered(c, frames) }()
		}
		for i := range frames {
			for _, s := range ss {
				s.sendFrame(numbered(i, 200))
			}
		}
		for range sessions {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range ss {
			pollUntil(t, func() bool { return idle(s) })
		}
	})
	t.Run("full socket", func(t *testing.T) {
		srv, f := newSrv(), newFlusher(time.Millisecond)
		slow, _, slowClient := flusherSession(t, srv, f)
		fast, _, fastClient := flusherSession(t, srv, f)
		// 32 MB for a peer not reading: more than the socket buffers hold.
		const big = 512
		for i := range big {
			slow.sendFrame(numbered(i, 64<<10))
		}
		errs := make(chan error, 1)
		go func() { errs <- readNumbered(fastClient, 200) }()
		for i := range 200 {
			fast.sendFrame(numbered(i, 200))
		}
		if err := <-errs; err != nil {
			t.Fatalf("the other session, while one peer does not read: %v", err)
		}
		if err := readNumbered(slowClient, big); err != nil {
			t.Fatalf("the slow peer, once it reads: %v", err)
		}
		pollUntil(t, func() bool { return idle(slow) && idle(fast) })
	})
	t.Run("peer gone", func(t *testing.T) {
		srv, f := newSrv(), newFlusher(time.Millisecond)
		gone, tr, goneClient := flusherSession(t, srv, f)
		other, _, otherClient := flusherSession(t, srv, f)
		goneClient.Close()
		// The first writes may still succeed; the peer's reset fails a later one.
		pollUntil(t, func() bool {
			gone.sendFrame(numbered(0, 200))
			return gone.isClosed()
		})
		select {
		case code := <-tr.closed:
			if code != closeGone {
				t.Fatalf("closed with %d, want closeGone", code)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the transport was not closed in 10 s")
		}
		errs := make(chan error, 1)
		go func() { errs <- readNumbered(otherClient, 100) }()
		for i := range 100 {
			other.sendFrame(numbered(i, 200))
		}
		if err := <-errs; err != nil {
			t.Fatalf("the other session: %v", err)
		}
		pollUntil(t, func() bool { return idle(other) })
	})
}

// TestSSECloseBeforeTakeOver: a close that reaches an SSE stream before its
// connection is taken over (a node shutting down while the stream starts)
// is not lost: takeOver finishes the stream at once, with the close event,
// and the client sees its end.
func TestSSECloseBeforeTakeOver(t *testing.T) {
	type result struct {
		ok  bool
		err error
	}
	res := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr := &sseRawTransport{}
		tr.close(protocol.CloseServerShutdown)
		ok, err := tr.takeOver(w, ": arenacast\n\n", 10*time.Second)
		res <- result{ok, err}
	}))
	defer srv.Close()
	client := srv.Client()
	client.Timeout = 20 * time.Second // a stream left open fails here
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body) // ends: the connection is closed
	if err != nil {
		t.Fatal(err)
	}
	want := ": arenacast\n\nevent: close\ndata: {\"type\":\"close\",\"code\":4000,\"reason\":\"" + protocol.CloseServerShutdown.Reason() + "\"}\n\n"
	if resp.StatusCode != http.StatusOK || string(body) != want {
		t.Fatalf("got %s %q, want 200 %q", resp.Status, body, want)
	}
	if r := <-res; !r.ok || !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("takeOver: %v %v, want true and net.ErrClosed", r.ok, r.err)
	}
}

// countingWriter is a transport the flusher writes without a socket: it
// counts writes and frames; a write blocks while hold is set.
type countingWriter struct {
	mu     sync.Mutex
	writes int
	frames int
	hold   chan struct{} // non-nil: the next tryWrite waits for it to close
}

func (w *countingWriter) tryWrite(frames []*frame) (func() error, error) {
	w.mu.Lock()
	hold := w.hold
	w.hold = nil
	w.mu.Unlock()
	if hold != nil {
		<-hold
	}
	w.mu.Lock()
	w.writes++
	w.frames += len(frames)
	w.mu.Unlock()
	return nil, nil
}
func (w *countingWriter) finishWrite(finish func() error) error { return finish() }
func (w *countingWriter) write(frames []*frame) error {
	_, err := w.tryWrite(frames)
	return err
}
func (w *countingWriter) close(protocol.CloseCode) {}
func (w *countingWriter) name() string             { return "websocket" }

func (w *countingWriter) counts() (writes, frames int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes, w.frames
}

// TestFlusherAdaptivePace: a frame for an idle connection goes out at once
// even with an hour's pace (a round of one session costs microseconds),
// while rounds that proved expensive still wait and group the frames that
// arrive meanwhile into one write per connection. It counts writes, not
// time.
func TestFlusherAdaptivePace(t *testing.T) {
	srv := &Server{
		opts: Options{QueueMessages: 1 << 20, QueueBytes: 1 << 30}.withDefaults(),
		log:  slog.New(slog.DiscardHandler),
		hub:  newHub(),
	}
	newSession := func(f *flusher) (*session, *countingWriter) {
		w := &countingWriter{}
		return &session{srv: srv, t: w, fl: f, id: srv.nextID.Add(1)}, w
	}
	waitWrites := func(w *countingWriter, frames int) int {
		t.Helper()
		pollUntil(t, func() bool { _, n := w.counts(); return n >= frames })
		writes, _ := w.counts()
		return writes
	}

	t.Run("idle connection", func(t *testing.T) {
		f := newFlusher(time.Hour)
		s, w := newSession(f)
		for i := range 5 {
			s.sendFrame(numbered(i, 10))
			// Each frame is written before the next is queued: with a fixed
			// pace, the second would wait an hour.
			if n := waitWrites(w, i+1); n != i+1 {
				t.Fatalf("%d writes for %d frames", n, i+1)
			}
		}
	})

	t.Run("storm", func(t *testing.T) {
		f := newFlusher(10 * time.Second)
		const n = 64
		sessions := make([]*session, n)
		writers := make([]*countingWriter, n)
		for i := range sessions {
			sessions[i], writers[i] = newSession(f)
		}
		// The first round is slow: the first connection's write blocks,
		// so the flusher measures an expensive round.
		release := make(chan struct{})
		writers[0].hold = release
		for _, s := range sessions {
			s.sendFrame(numbered(0, 10))
		}
		pollUntil(t, func() bool { // the round is under way, held
			writers[0].mu.Lock()
			defer writers[0].mu.Unlock()
			return writers[0].hold == nil
		})
		time.AfterFunc(300*time.Millisecond, func() { close(release) })
		for _, w := range writers {
			waitWrites(w, 1)
		}
		// The round took at least 300 ms for 64 sessions, so the next
		// one waits about 600 ms: frames sent now, one by one, are grouped.
		for i := 1; i <= 10; i++ {
			for _, s := range sessions {
				s.sendFrame(numbered(i, 10))
			}
		}
		for i, w := range writers {
			if writes := waitWrites(w, 11); writes > 3 {
				t.Fatalf("connection %d: %d writes for 11 frames: the storm was not grouped", i, writes)
			}
		}
	})
}

// TestFlusherLinger: between runs of rounds the flusher's goroutine waits
// for the next session instead of exiting, so a steady trickle of events
// reuses one goroutine; after linger without sessions it exits, and the
// next session starts another. Frames are written in order and exactly
// once throughout, also when a session arrives as the wait ends.
func TestFlusherLinger(t *testing.T) {
	srv := &Server{
		opts: Options{QueueMessages: 1 << 20, QueueBytes: 1 << 30}.withDefaults(),
		log:  slog.New(slog.DiscardHandler),
		hub:  newHub(),
	}
	state := func(f *flusher) (running, parked bool, started int) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.running, f.parked, f.started
	}
	parked := func(f *flusher) func() bool {
		return func() bool { _, p, _ := state(f); return p }
	}
	gone := func(f *flusher) func() bool {
		return func() bool { r, p, _ := state(f); return !r && !p }
	}
	// send writes frame i to s and waits for the client to read it.
	send := func(t *testing.T, s *session, br *bufio.Reader, c net.Conn, i int) {
		t.Helper()
		s.sendFrame(numbered(i, 100))
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		m, err := readTextMessage(br)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if want := fmt.Sprintf("%08d", i); len(m) < 8 || m[:8] != want {
			t.Fatalf("got %.8q, want %s", m, want)
		}
	}
	for _, tc := range []struct {
		name   string
		linger time.Duration
		frames int
		check  func(t *testing.T, f *flusher, i int) // after frame i was read
	}{
		{"one goroutine while sessions keep coming", time.Hour, 50, func(t *testing.T, f *flusher, i int) {
			pollUntil(t, parked(f))
			if _, _, started := state(f); started != 1 {
				t.Fatalf("after %d frames %d goroutines were started, want 1", i+1, started)
			}
		}},
		{"exits after linger, the next session starts one", 5 * time.Millisecond, 5, func(t *testing.T, f *flusher, i int) {
			pollUntil(t, gone(f))
			if _, _, started := state(f); started != i+1 {
				t.Fatalf("after %d frames %d goroutines were started, want %d", i+1, started, i+1)
			}
		}},
		// Waits of a microsecond: goroutines park, exit and start again
		// around every frame; none may be left unwritten or stuck. (The
		// exact race, add between the timer firing and park taking mu,
		// is rare here; park handles it by taking add's signal.)
		{"sessions around very short waits", time.Microsecond, 3000, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlusher(0)
			f.linger = tc.linger
			s, _, c := flusherSession(t, srv, f)
			br := bufio.NewReader(c)
			for i := range tc.frames {
				send(t, s, br, c, i)
				if tc.check != nil {
					tc.check(t, f, i)
				}
			}
			pollUntil(t, func() bool { return idle(s) })
		})
	}
}
