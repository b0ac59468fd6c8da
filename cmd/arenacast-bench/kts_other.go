//go:build !(linux && (amd64 || arm64))

package main

import (
	"net"
	"syscall"
)

// kernelTimestamps is false: receive stamps are read on 64-bit Linux only.
const kernelTimestamps = false

type tsConn struct{ net.Conn }

func (*tsConn) stamp() int64 { return 0 }

func enableTimestamps(string, string, syscall.RawConn) error { return nil }

func newTSConn(c net.Conn) (net.Conn, error) { return c, nil }
