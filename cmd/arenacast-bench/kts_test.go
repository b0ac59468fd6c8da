package main

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// TestKernelTimestamps: with --kernel-timestamps a connection's reads carry
// the kernel's receive time of the newest bytes, which lies between the
// peer's write and the read's return (loopback).
func TestKernelTimestamps(t *testing.T) {
	if !kernelTimestamps {
		t.Skip("receive stamps are read on 64-bit Linux only")
	}
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
	d := &dialer{kernelTS: true}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := d.dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ts, ok := c.(*tsConn)
	if !ok {
		t.Fatalf("dialed a %T, want *tsConn", c)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	defer peer.Close()
	if ts.stamp() != 0 {
		t.Fatal("a stamp before anything was read")
	}
	for i, msg := range []string{"first", "second"} {
		before := time.Now().UnixNano()
		if _, err := peer.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
			t.Fatalf("read %d: %q, %v", i, buf, err)
		}
		after := time.Now().UnixNano()
		if s := ts.stamp(); s < before || s > after {
			t.Fatalf("read %d: stamp %d outside [%d, %d]", i, s, before, after)
		}
	}
	peer.Close()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the peer closed: %v, want EOF", err)
	}
}
