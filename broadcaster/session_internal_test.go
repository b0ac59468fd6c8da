package broadcaster

import (
	"bytes"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arenacast/arenacast/protocol"
)

// TestExpiryCallbackAfterRefresh: a token-expiry callback whose timer fired
// while a fresh auth held mu (so Stop came too late) must find itself
// replaced and queue nothing, even though the fresh auth releases mu before
// it arms the new deadline. Each case waits until the fired callback is
// parked on mu, so the race is forced, not hoped for.
func TestExpiryCallbackAfterRefresh(t *testing.T) {
	cases := []struct {
		name   string
		exp    time.Duration // token lifetime left when armed
		warn   time.Duration // Options.ExpiryWarning
		grace  time.Duration // Options.ExpiryGrace
		closer bool          // the race is with the closer: let the warning run first
	}{
		{name: "warning", exp: time.Minute, warn: time.Hour, grace: time.Second},
		// The closer fires 2 s after the warning: the test holds mu by then.
		{name: "close", exp: 2 * time.Second, warn: time.Hour, grace: time.Millisecond, closer: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := &Server{
				opts: Options{ExpiryWarning: tc.warn, ExpiryGrace: tc.grace}.withDefaults(),
				log:  slog.New(slog.DiscardHandler),
				hub:  newHub(),
			}
			// writing: no writer goroutine starts; the test reads the queue.
			s := &session{srv: srv, writing: true, t: closedTransport{}}
			s.mu.Lock()
			s.armExpiryLocked(time.Now().Add(tc.exp)) // the warning fires at once
			if tc.closer {
				s.mu.Unlock()
				pollUntil(t, func() bool { // the warning ran and armed the closer; keep mu
					s.mu.Lock()
					if len(s.queue) == 1 || s.closed {
						return true
					}
					s.mu.Unlock()
					return false
				})
				if s.closed {
					s.mu.Unlock()
					t.Fatal("the closer ran before the test took mu: the machine stalled for 2 s")
				}
				s.queue = nil
			}
			waitParked(t, "armExpiryLocked.func")
			s.disarmExpiryLocked() // what a fresh auth does, then it unlocks
			s.mu.Unlock()
			waitGone(t, "armExpiryLocked.func")
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.queue) != 0 || s.closed {
				t.Fatalf("the replaced deadline acted: %d frames queued, closed %v", len(s.queue), s.closed)
			}
		})
	}
}

// waitParked waits until a goroutine running fn is blocked on a mutex.
func waitParked(t *testing.T, fn string) {
	t.Helper()
	pollUntil(t, func() bool {
		for _, g := range goroutines() {
			if bytes.Contains(g, []byte(fn)) && bytes.Contains(g, []byte("sync.(*Mutex).Lock")) {
				return true
			}
		}
		return false
	})
}

// waitGone waits until no goroutine runs fn.
func waitGone(t *testing.T, fn string) {
	t.Helper()
	pollUntil(t, func() bool {
		for _, g := range goroutines() {
			if bytes.Contains(g, []byte(fn)) {
				return false
			}
		}
		return true
	})
}

// closedTransport stands for a connection that is already gone: a session
// that wrongly closes finishes without a socket to write to.
type closedTransport struct{}

func (closedTransport) write([]*frame) error     { return net.ErrClosed }
func (closedTransport) close(protocol.CloseCode) {}
func (closedTransport) name() string             { return "websocket" }

func goroutines() [][]byte {
	buf := make([]byte, 1<<20)
	return bytes.Split(buf[:runtime.Stack(buf, true)], []byte("\n\n"))
}

// pollUntil polls cond until it holds, for up to 10 s.
func pollUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
	}
}

// recordingTransport keeps what a session writes, in order.
type recordingTransport struct {
	mu     sync.Mutex // guards got and code
	got    []string
	code   protocol.CloseCode
	closed chan struct{}
}

func (r *recordingTransport) write(frames []*frame) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range frames {
		r.got = append(r.got, string(f.data))
	}
	return nil
}

func (r *recordingTransport) close(code protocol.CloseCode) {
	r.mu.Lock()
	r.code = code
	r.mu.Unlock()
	close(r.closed)
}

func (r *recordingTransport) name() string { return "websocket" }

// TestPolicyCloseKeepsOrder: a close that races with the writer sends what
// is queued after the batch in flight and never before it. The writer takes
// a batch only once it holds wmu, so while another write is in flight it
// has taken nothing, and the close takes the whole queue, in order.
func TestPolicyCloseKeepsOrder(t *testing.T) {
	srv := &Server{opts: Options{}.withDefaults(), log: slog.New(slog.DiscardHandler), hub: newHub()}
	rec := &recordingTransport{closed: make(chan struct{})}
	s := &session{srv: srv, t: rec}
	reply := func(id string) *frame { return newReplyFrame(protocol.Reply{Type: protocol.MsgAuthSuccess, ID: id}) }

	s.wmu.Lock() // a write in flight (the closer's, or another writer's)
	s.sendFrame(reply("a"))
	waitParked(t, "writeLoop")
	s.mu.Lock()
	taken := len(s.queue) == 0
	s.mu.Unlock()
	if taken {
		s.wmu.Unlock()
		t.Fatal("the writer took its batch before it could write it: a close would overtake it")
	}
	s.sendFrame(reply("b"))
	go s.shutdown(protocol.CloseServerShutdown)
	waitParked(t, "finishClose.func")
	s.wmu.Unlock()
	select {
	case <-rec.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not close in 10 s")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := []string{string(reply("a").data), string(reply("b").data)}
	if !slices.Equal(rec.got, want) || rec.code != protocol.CloseServerShutdown {
		t.Fatalf("wrote %q and closed with %d, want %q and %d", rec.got, rec.code, want, protocol.CloseServerShutdown)
	}
}
