package broadcaster

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
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
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			server, client := tcpPair(t)
			raw := &rawConn{Conn: server}
			errc := make(chan error, 1)
			go func() {
				err := raw.writeMessages(tc.frames, tc.pack)
				server.Close()
				errc <- err
			}()
			got := readTextMessages(t, client)
			if err := <-errc; err != nil {
				t.Fatalf("writeMessages: %v", err)
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

// TestWriteMessagesAfterClose checks that no data follows a close frame the
// library wrote.
func TestWriteMessagesAfterClose(t *testing.T) {
	server, client := tcpPair(t)
	raw := &rawConn{Conn: server}
	if _, err := raw.Write([]byte{0x88, 0x02, 0x03, 0xe8}); err != nil { // close 1000
		t.Fatal(err)
	}
	if err := raw.writeMessages([]*frame{{data: []byte("late")}}, false); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("after a close frame: got %v, want net.ErrClosed", err)
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
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			if err == io.EOF {
				return out
			}
			t.Fatalf("reading a header: %v", err)
		}
		if h[0] != 0x81 || h[1]&0x80 != 0 {
			t.Fatalf("header % x: want FIN text, unmasked", h)
		}
		n := uint64(h[1])
		switch n {
		case 126:
			var e [2]byte
			io.ReadFull(br, e[:])
			n = uint64(binary.BigEndian.Uint16(e[:]))
			if n < 126 {
				t.Fatalf("non-minimal 16-bit length %d", n)
			}
		case 127:
			var e [8]byte
			io.ReadFull(br, e[:])
			n = binary.BigEndian.Uint64(e[:])
			if n <= 0xffff {
				t.Fatalf("non-minimal 64-bit length %d", n)
			}
		}
		var sb strings.Builder
		if _, err := io.CopyN(&sb, br, int64(n)); err != nil {
			t.Fatalf("reading a %d-byte payload: %v", n, err)
		}
		out = append(out, sb.String())
	}
}
