package broadcaster

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// ringSessions registers n SSE sessions (taken over from net/http, as the
// flushers write them) on route, each over its own loopback TCP
// connection, for a flusher the test drives; it returns them with their
// connections' client ends.
func ringSessions(t *testing.T, srv *Server, route string, n int) ([]*session, []net.Conn) {
	t.Helper()
	var out []*session
	var peers []net.Conn
	for i := range n {
		server, client := tcpPair(t)
		raw := newRawConn(t, server)
		raw.encode = appendSSEs
		out = append(out, addMemberSession(srv, &sseRawTransport{raw: raw}, route, i))
		peers = append(peers, client)
	}
	return out, peers
}

func fdOf(t *testing.T, c net.Conn) uintptr {
	t.Helper()
	sc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd uintptr
	if err := sc.Control(func(d uintptr) { fd = d }); err != nil {
		t.Fatal(err)
	}
	return fd
}

// TestRingClosedBeforeSend: a connection closed after its write was
// staged, whose descriptor number a new connection then takes, is not
// sent to: the new connection receives nothing of it, the other
// connection in the batch gets its frame, and the ring counts one send.
func TestRingClosedBeforeSend(t *testing.T) {
	srv := newBenchServer(t, 1024)
	f := newFlusher(0)
	if err := f.startRing(8); err != nil {
		t.Skipf("no io_uring here: %v", err)
	}
	defer f.stopRing()
	sessions, peers := ringSessions(t, srv, "/contest/bench", 2)
	for _, s := range sessions {
		s.fl = f
	}
	ev := benchEvent(true, "")
	ev.ID = 1
	if got := srv.hub.dispatch(ev, 0, nil); got != 2 {
		t.Fatalf("dispatched to %d, want 2", got)
	}
	f.stage(sessions[0], 1)
	f.stage(sessions[1], 1)
	if len(f.staged) != 2 {
		t.Fatalf("%d writes staged, want 2", len(f.staged))
	}
	victim := sessions[0].t.(*sseRawTransport).raw
	oldFD := fdOf(t, victim.Conn)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	victim.Conn.Close() // not held yet: the descriptor is released now
	// A new connection, which on Linux takes the lowest free number: the
	// one just released.
	fresh, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	freshPeer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer freshPeer.Close()
	if fd := fdOf(t, fresh); fd != oldFD {
		t.Logf("the new connection has descriptor %d, not the closed %d: the check below is weaker", fd, oldFD)
	}
	f.send(f.ring, 1)
	if got := srv.stats.ringWrites.Load(); got != 1 {
		t.Fatalf("ring sent %d writes, want 1 (the closed connection's is not sent)", got)
	}
	// What the new connection's peer reads first is what we write to it
	// now: nothing of the closed session's came before it.
	marker := []byte("marker")
	if _, err := fresh.Write(marker); err != nil {
		t.Fatal(err)
	}
	freshPeer.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := make([]byte, len(marker))
	if _, err := io.ReadFull(freshPeer, got); err != nil || !bytes.Equal(got, marker) {
		t.Fatalf("the new connection's peer read %q (%v) first, want %q", got, err, marker)
	}
	// The other session's event arrived.
	peers[1].SetReadDeadline(time.Now().Add(20 * time.Second))
	want := []byte("run_update")
	var read []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(read, want) {
		n, err := peers[1].Read(buf)
		if err != nil {
			t.Fatalf("the other peer read %q, then %v", read, err)
		}
		read = append(read, buf[:n]...)
	}
}
