package broadcaster

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWriteMessages checks the data path's own framing against an
// independent decoder, over a loopback TCP connection: message boundaries,
// the three header lengths, packing with ?batch=1 and its limits.
func TestWriteMessages(t *testing.T) {
	// line(n) is n times the n-th letter (mod 26): line(2) is "cc".
	line := func(n int) *frame { return &frame{data: bytes.Repeat([]byte{'a' + byte(n%26)}, n)} }
	multi := &frame{data: []byte("{\"data\":\"a\nb\"}"), multiline: true}
	big := maxPacked/2 + 10 // two of these do not fit one packed message

	cases := []struct {
		name   string
		frames []*frame
		pack   bool
		want   []string // messages as received
	}{
		{"one", []*frame{line(3)}, false, []string{"ddd"}},
		{"header lengths", []*frame{line(125), line(126), line(65535), line(65536)}, false,
			[]string{s(line(125)), s(line(126)), s(line(65535)), s(line(65536))}},
		{"over rawMax in one call", []*frame{line(40000), line(40000), line(40000)}, false,
			[]string{s(line(40000)), s(line(40000)), s(line(40000))}},
		{"pack a run", []*frame{line(1), line(2), line(3)}, true, []string{"b\ncc\nddd"}},
		{"multiline breaks the run", []*frame{line(1), multi, line(2), line(3)}, true,
			[]string{"b", s(multi), "cc\nddd"}},
		{"multiline first and last", []*frame{multi, line(1), multi}, true, []string{s(multi), "b", s(multi)}},
		{"pack limit", []*frame{line(big), line(big), line(1)}, true,
			[]string{s(line(big)), s(line(big)) + "\n" + s(line(1))}},
		{"empty", nil, false, nil},
	}
	writers := []struct {
		name  string
		write func(raw *rawConn, frames []*frame, pack bool) error
	}{
		{"blocking", (*rawConn).writeMessages},
		{"non-blocking", func(raw *rawConn, frames []*frame, pack bool) error {
			// What the socket does not take at once, finish writes.
			finish, err := raw.tryWriteMessages(frames, pack)
			if finish != nil {
				err = finish()
			}
			return err
		}},
	}
	for _, w := range writers {
		for _, tc := range cases {
			t.Run(w.name+"/"+tc.name, func(t *testing.T) {
				server, client := tcpPair(t)
				raw := newRawConn(t, server)
				errc := make(chan error, 1)
				go func() {
					err := w.write(raw, tc.frames, tc.pack)
					server.Close()
					errc <- err
				}()
				got := readTextMessages(t, client)
				if err := <-errc; err != nil {
					t.Fatalf("write: %v", err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("got %d messages, want %d", len(got), len(tc.want))
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("message %d: got %.40q (%d bytes), want %.40q (%d bytes)", i, got[i], len(got[i]), tc.want[i], len(tc.want[i]))
					}
				}
			})
		}
	}
}

// TestTryWriteWhileControlFrame: while the library writes a control frame
// (it holds mu, perhaps blocked on a peer that stopped reading), the
// flusher's write does not wait: it writes nothing and hands all of it to
// finish, which writes it once mu is free.
func TestTryWriteWhileControlFrame(t *testing.T) {
	server, client := tcpPair(t)
	raw := newRawConn(t, server)
	raw.mu.Lock() // a control frame in flight
	type result struct {
		finish func() error
		err    error
	}
	res := make(chan result, 1)
	go func() {
		finish, err := raw.tryWriteMessages([]*frame{{data: []byte("one")}, {data: []byte("two")}}, false)
		res <- result{finish, err}
	}()
	var r result
	select {
	case r = <-res:
	case <-time.After(10 * time.Second):
		raw.mu.Unlock()
		t.Fatal("tryWriteMessages waited for the write in flight")
	}
	if r.err != nil || r.finish == nil {
		t.Fatalf("got finish %v, err %v; want a finish and no error", r.finish != nil, r.err)
	}
	raw.mu.Unlock()
	errc := make(chan error, 1)
	go func() {
		err := r.finish()
		server.Close()
		errc <- err
	}()
	got := readTextMessages(t, client)
	if err := <-errc; err != nil {
		t.Fatalf("finish: %v", err)
	}
	if !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("got %q, want one and two", got)
	}
}

// TestTryWriteFullSocket: what a socket cannot take at once (the peer is
// not reading) is left to finish, which writes the rest, in order, once
// the peer reads.
func TestTryWriteFullSocket(t *testing.T) {
	server, client := tcpPair(t)
	raw := newRawConn(t, server)
	// 32 MB: more than loopback's send and receive buffers hold together.
	frames := make([]*frame, 512)
	for i := range frames {
		frames[i] = &frame{data: bytes.Repeat([]byte{'a' + byte(i%26)}, 65536)}
	}
	finish, err := raw.tryWriteMessages(frames, false)
	if err != nil || finish == nil {
		t.Fatalf("got finish %v, err %v; want a finish for the rest", finish != nil, err)
	}
	errc := make(chan error, 1)
	go func() {
		err := finish()
		server.Close()
		errc <- err
	}()
	got := readTextMessages(t, client)
	if err := <-errc; err != nil {
		t.Fatalf("finish: %v", err)
	}
	if len(got) != len(frames) {
		t.Fatalf("got %d messages, want %d", len(got), len(frames))
	}
	for i := range got {
		if got[i] != string(frames[i].data) {
			t.Fatalf("message %d: got %.20q, want %.20q", i, got[i], frames[i].data)
		}
	}
}

// newRawConn wraps the server end of a loopback TCP connection as
// Hijack does.
func newRawConn(t *testing.T, c net.Conn) *rawConn {
	t.Helper()
	sc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return &rawConn{Conn: c, sc: sc}
}

// TestWriteMessagesAfterClose checks that no data follows a close frame the
// library wrote.
func TestWriteMessagesAfterClose(t *testing.T) {
	server, client := tcpPair(t)
	raw := newRawConn(t, server)
	if _, err := raw.Write([]byte{0x88, 0x02, 0x03, 0xe8}); err != nil { // close 1000
		t.Fatal(err)
	}
	if err := raw.writeMessages([]*frame{{data: []byte("late")}}, false); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("after a close frame: got %v, want net.ErrClosed", err)
	}
	if finish, err := raw.tryWriteMessages([]*frame{{data: []byte("late")}}, false); finish != nil || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("after a close frame, non-blocking: got finish %v, %v; want none and net.ErrClosed", finish != nil, err)
	}
	server.Close()
	b, _ := io.ReadAll(client)
	if !bytes.Equal(b, []byte{0x88, 0x02, 0x03, 0xe8}) {
		t.Fatalf("on the wire: % x", b)
	}
}

func s(f *frame) string { return string(f.data) }

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	client.SetDeadline(time.Now().Add(20 * time.Second))
	return server, client
}

// readTextMessages decodes unmasked, unfragmented server text frames until
// EOF: an independent reading of RFC 6455 section 5.2.
func readTextMessages(t *testing.T, c net.Conn) []string {
	t.Helper()
	br := bufio.NewReader(c)
	var out []string
	for {
		m, err := readTextMessage(br)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
}

// readTextMessage reads one unmasked, unfragmented text message; io.EOF
// at a message boundary.
func readTextMessage(br *bufio.Reader) (string, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		if err == io.EOF {
			return "", io.EOF
		}
		return "", fmt.Errorf("reading a header: %w", err)
	}
	if h[0] != 0x81 || h[1]&0x80 != 0 {
		return "", fmt.Errorf("header % x: want FIN text, unmasked", h)
	}
	n := uint64(h[1])
	switch n {
	case 126:
		var e [2]byte
		io.ReadFull(br, e[:])
		n = uint64(binary.BigEndian.Uint16(e[:]))
		if n < 126 {
			return "", fmt.Errorf("non-minimal 16-bit length %d", n)
		}
	case 127:
		var e [8]byte
		io.ReadFull(br, e[:])
		n = binary.BigEndian.Uint64(e[:])
		if n <= 0xffff {
			return "", fmt.Errorf("non-minimal 64-bit length %d", n)
		}
	}
	var sb strings.Builder
	if _, err := io.CopyN(&sb, br, int64(n)); err != nil {
		return "", fmt.Errorf("reading a %d-byte payload: %w", n, err)
	}
	return sb.String(), nil
}
