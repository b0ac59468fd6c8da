package uring

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

const waitFor = 20 * time.Second

// pairs opens n loopback TCP connections: the sending ends' descriptors
// and the receiving ends. Everything closes when the test ends.
func pairs(t *testing.T, n int) (fds []int32, peers []net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for range n {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), waitFor)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); p.Close() })
		sc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		sc.Control(func(fd uintptr) { fds = append(fds, int32(fd)) })
		peers = append(peers, p)
	}
	return fds, peers
}

func newRing(t *testing.T, entries int) *Ring {
	t.Helper()
	r, err := New(entries)
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("no io_uring here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestSendDelivers sends a distinct message to each of more connections
// than the ring has slots, several times, and reads each back whole and in
// order at its peer.
func TestSendDelivers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		entries  int
		conns    int
		messages int
	}{
		{"one batch", 64, 10, 3},
		{"several batches", 8, 50, 3},
		{"exactly full", 16, 16, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRing(t, tc.entries)
			if r.Entries() < tc.entries {
				t.Fatalf("Entries() = %d, asked for %d", r.Entries(), tc.entries)
			}
			fds, peers := pairs(t, tc.conns)
			want := make([]bytes.Buffer, tc.conns)
			for m := range tc.messages {
				ops := make([]Op, tc.conns)
				for i := range ops {
					b := fmt.Appendf(nil, "message %d to %d;", m, i)
					want[i].Write(b)
					ops[i] = Op{FD: fds[i], B: b, N: -1, Err: errors.New("stale")}
				}
				if err := r.Send(ops); err != nil {
					t.Fatalf("Send: %v", err)
				}
				for i, op := range ops {
					if op.Err != nil || op.N != len(op.B) {
						t.Fatalf("op %d: N %d of %d, Err %v", i, op.N, len(op.B), op.Err)
					}
				}
			}
			for i, p := range peers {
				got := make([]byte, want[i].Len())
				p.SetReadDeadline(time.Now().Add(waitFor))
				if _, err := io.ReadFull(p, got); err != nil {
					t.Fatalf("peer %d: %v", i, err)
				}
				if !bytes.Equal(got, want[i].Bytes()) {
					t.Fatalf("peer %d got %q, want %q", i, got, want[i].Bytes())
				}
			}
		})
	}
}

// TestSendFullSocket: a socket whose peer does not read fills up; its send
// then takes part or nothing (EAGAIN) without waiting, and a socket in the
// same batch is unaffected.
func TestSendFullSocket(t *testing.T) {
	r := newRing(t, 8)
	fds, peers := pairs(t, 2)
	if err := syscall.SetsockoptInt(int(fds[0]), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 64<<10)
	small := []byte("ok;")
	sentSmall := 0
	for i := 0; ; i++ {
		if i == 1000 {
			t.Fatal("the socket never filled")
		}
		ops := []Op{{FD: fds[0], B: big}, {FD: fds[1], B: small}}
		if err := r.Send(ops); err != nil {
			t.Fatal(err)
		}
		if ops[1].Err != nil || ops[1].N != len(small) {
			t.Fatalf("the other socket: N %d, Err %v", ops[1].N, ops[1].Err)
		}
		sentSmall++
		if errors.Is(ops[0].Err, syscall.EAGAIN) {
			if ops[0].N != 0 {
				t.Fatalf("EAGAIN with N %d", ops[0].N)
			}
			break
		}
		if ops[0].Err != nil {
			t.Fatalf("full socket: %v", ops[0].Err)
		}
	}
	got := make([]byte, sentSmall*len(small))
	peers[1].SetReadDeadline(time.Now().Add(waitFor))
	if _, err := io.ReadFull(peers[1], got); err != nil {
		t.Fatal(err)
	}
	if want := bytes.Repeat(small, sentSmall); !bytes.Equal(got, want) {
		t.Fatalf("the other peer got %q", got)
	}
}

// TestSendErrors: a descriptor that is not a socket fails its own op only,
// and a closed ring fails every op.
func TestSendErrors(t *testing.T) {
	r := newRing(t, 4)
	fds, peers := pairs(t, 1)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ops := []Op{{FD: int32(f.Fd()), B: []byte("a")}, {FD: fds[0], B: []byte("b")}}
	if err := r.Send(ops); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(ops[0].Err, syscall.ENOTSOCK) {
		t.Fatalf("send to /dev/null: N %d, Err %v, want ENOTSOCK", ops[0].N, ops[0].Err)
	}
	if ops[1].Err != nil || ops[1].N != 1 {
		t.Fatalf("the socket beside it: N %d, Err %v", ops[1].N, ops[1].Err)
	}
	b := make([]byte, 1)
	peers[0].SetReadDeadline(time.Now().Add(waitFor))
	if _, err := io.ReadFull(peers[0], b); err != nil || b[0] != 'b' {
		t.Fatalf("peer read %q, %v", b, err)
	}

	r.Close()
	ops = []Op{{FD: fds[0], B: []byte("c")}}
	if err := r.Send(ops); err == nil || ops[0].Err == nil {
		t.Fatalf("Send on a closed ring: %v, op %v", err, ops[0].Err)
	}
}
