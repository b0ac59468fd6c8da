package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
)

// wsConn is a minimal WebSocket client connection, written for the load
// tool: it reads server frames into one reused buffer (no allocation per
// message), answers pings, and writes small masked text frames. It does not
// support compression or extensions, which the server never negotiates.
// Read is owned by one goroutine; writes are serialized by wmu.
type wsConn struct {
	c   net.Conn
	br  *bufio.Reader
	msg []byte // the message being assembled; reused

	wmu  sync.Mutex
	wbuf []byte
}

// closeError is a close frame the server sent.
type closeError struct{ code int }

func (e closeError) Error() string { return fmt.Sprintf("closed by server with %d", e.code) }

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsHandshake upgrades c (already dialed) to a WebSocket on host and path.
func wsHandshake(c net.Conn, host, path string) (*wsConn, error) {
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
		key + "\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(c, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("upgrade refused: %s: %s", resp.Status, b)
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, errors.New("bad Sec-WebSocket-Accept")
	}
	return &wsConn{c: c, br: br}, nil
}

// read returns the next data message. The slice is valid until the next
// call. Pings are answered; a close frame is returned as closeError.
func (w *wsConn) read() ([]byte, error) {
	w.msg = w.msg[:0]
	for {
		var h [2]byte
		if _, err := io.ReadFull(w.br, h[:]); err != nil {
			return nil, err
		}
		fin := h[0]&0x80 != 0
		op := h[0] & 0x0f
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var e [2]byte
			if _, err := io.ReadFull(w.br, e[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(e[:]))
		case 127:
			var e [8]byte
			if _, err := io.ReadFull(w.br, e[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(e[:])
		}
		if h[1]&0x80 != 0 {
			return nil, errors.New("server sent a masked frame")
		}
		if n > 16<<20 {
			return nil, fmt.Errorf("frame of %d bytes is too big", n)
		}
		if op >= 8 { // control frame: at most 125 bytes
			var p [125]byte
			if _, err := io.ReadFull(w.br, p[:n]); err != nil {
				return nil, err
			}
			switch op {
			case 9:
				if err := w.writeFrame(0xA, p[:n]); err != nil {
					return nil, err
				}
			case 8:
				code := 1005
				if n >= 2 {
					code = int(binary.BigEndian.Uint16(p[:2]))
				}
				w.writeFrame(0x8, p[:min(n, 2)])
				return nil, closeError{code}
			}
			continue
		}
		start := len(w.msg)
		w.msg = append(w.msg, make([]byte, n)...)[:start+int(n)]
		if _, err := io.ReadFull(w.br, w.msg[start:]); err != nil {
			return nil, err
		}
		if fin {
			return w.msg, nil
		}
	}
}

// writeText sends one text message.
func (w *wsConn) writeText(p []byte) error { return w.writeFrame(0x1, p) }

// writeFrame sends one masked frame with opcode op.
func (w *wsConn) writeFrame(op byte, p []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	b := w.wbuf[:0]
	b = append(b, 0x80|op)
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var mask [4]byte
	rand.Read(mask[:])
	b = append(b, mask[:]...)
	off := len(b)
	b = append(b, p...)
	for i := range p {
		b[off+i] ^= mask[i&3]
	}
	w.wbuf = b
	_, err := w.c.Write(b)
	return err
}

// close ends the connection without a closing handshake (a dropped client).
func (w *wsConn) close() error { return w.c.Close() }
