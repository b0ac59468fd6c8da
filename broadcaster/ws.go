package broadcaster

import (
	"bufio"
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/arenacast/arenacast/protocol"
)

// serveEvents answers GET /events/: SSE when the client asks for
// text/event-stream, WebSocket otherwise.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	if wantsSSE(r) || r.Method == http.MethodOptions {
		s.serveSSE(w, r)
		return
	}
	if r.Method != http.MethodGet {
		writeJSONError(w, http.StatusMethodNotAllowed, protocol.ErrBadRequest, "", "use GET")
		return
	}
	if !originAllowed(r, s.opts.AllowedOrigins) {
		s.stats.originRefused.Add(1)
		writeJSONError(w, http.StatusForbidden, protocol.ErrUnauthorized, "", "origin not allowed")
		return
	}
	cw := &hijackingWriter{ResponseWriter: w}
	c, err := websocket.Accept(cw, r, &websocket.AcceptOptions{
		OriginPatterns:  s.opts.AllowedOrigins,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept has answered the request
	}
	if cw.br != nil && cw.br.Buffered() == 0 {
		// Accept re-wrapped the reader's source as io.MultiReader of the
		// bytes buffered at the hijack (none: Hijack installed cw.br only
		// then) and the connection, and nothing has read since. Reading
		// the connection directly drops that per-connection wrapper.
		cw.br.Reset(cw.raw)
	}
	c.SetReadLimit(s.opts.MaxMessageSize)
	t := &wsTransport{c: c, raw: cw.raw, batch: r.URL.Query().Get("batch") == "1"}
	t.pace = s.opts.WritePace
	sess, refused := s.newSession(t, r.RemoteAddr)
	if sess == nil {
		c.Close(websocket.StatusCode(refused), refused.Reason())
		return
	}
	sess.boardPatches = r.URL.Query().Get("boards") == protocol.BoardsPatch
	if len(s.flushers) > 0 && t.raw != nil && t.raw.sc != nil {
		sess.fl = s.flushers[sess.id%uint64(len(s.flushers))]
	}
	sess.mu.Lock()
	sess.timers.authDeadline = time.AfterFunc(s.opts.AuthTimeout, func() {
		sess.mu.Lock()
		engaged := sess.engaged
		sess.mu.Unlock()
		if !engaged {
			sess.shutdown(protocol.CloseAuthTimeout)
		}
	})
	sess.mu.Unlock()
	// The reader runs in a fresh goroutine and the handler returns: the
	// handler's grown stack and request state are released, which saves
	// several KB per idle connection.
	go t.readLoop(sess)
}

// wsWritePace is the default Options.WritePace: the shortest time between
// two writes to one connection, so that frames arriving meanwhile leave
// together in one system call. The write system call (and, on loopback,
// the receiver's TCP path, which runs on the sender's CPU) costs far more
// than encoding a frame, so this is what decides deliveries per CPU-second
// (docs/benchmarks.md).
const wsWritePace = 20 * time.Millisecond

// wsTransport is a session's WebSocket connection. c's Read is owned by
// readLoop; writes by whoever holds the session's wmu (its flusher or its
// writer goroutine).
type wsTransport struct {
	c     *websocket.Conn
	raw   *rawConn // c's connection; nil when Accept did not hijack through hijackingWriter
	batch bool     // the client asked for newline-packed frames (?batch=1)
	pacedWriter
}

func (t *wsTransport) name() string { return "websocket" }

// readLoop reads the client's messages until the connection ends. It is
// the only goroutine an idle connection has, so its stack is most of the
// connection's memory: see handleOffStack.
func (t *wsTransport) readLoop(sess *session) {
	ctx := context.Background()
	for {
		typ, b, err := t.c.Read(ctx)
		if err != nil {
			sess.shutdown(closeGone)
			return
		}
		handleOffStack(sess, b, typ == websocket.MessageBinary)
	}
}

// handleOffStack runs sess.handleRaw on a short-lived goroutine and waits
// for it, so messages are still handled one at a time and in order, and
// the reader's fields (rate, badMessages, authFails) stay owned by one
// goroutine at a time: the channel orders each message's handling before
// the next one's.
//
// Why: verifying a token and decoding JSON grow a stack past 4 KiB. On the
// reader's own stack that growth stays for the connection's life: the GC
// halves a stack only when less than a quarter of it is in use, and a
// reader parked in coder/websocket's Read uses, with the runtime's
// reserve, more than 2 KiB, so an 8 KiB stack never shrinks back to 4 KiB
// (measured: 8 KiB per idle connection when the reader handled its auth and
// subscribe itself, 4 KiB now). A client sends few messages (they are rate
// limited), so one goroutine start per message is cheap.
func handleOffStack(sess *session, b []byte, binary bool) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		sess.handleRaw(b, binary)
	}()
	<-done
}

// write sends frames, each as its own WebSocket message (or packed with
// ?batch=1), in one system call per 64 KiB (rawConn.writeMessages), at
// least a pace after the previous write, under the write watch.
func (t *wsTransport) write(frames []*frame) error {
	t.waitTurn()
	t.begin()
	defer t.end()
	if t.raw != nil {
		return t.raw.writeMessages(frames, t.batch)
	}
	return t.writeFrames(frames)
}

// tryWrite is the flusher's write (nonBlockingWriter).
func (t *wsTransport) tryWrite(frames []*frame) (finish func() error, err error) {
	return t.tryRaw(t.raw, frames, t.batch)
}

// ringTarget is the flusher's batched write's view of t (ringWriter).
func (t *wsTransport) ringTarget() (*rawConn, bool, *pacedWriter) {
	return t.raw, t.batch, &t.pacedWriter
}

// stalled closes the connection when a write has been running since
// before deadline (unix nanos), and reports whether it did.
func (t *wsTransport) stalled(deadline int64) bool {
	if t.stalledSince(deadline) {
		t.c.CloseNow()
		return true
	}
	return false
}

// writeFrames is the fallback when Accept did not hijack through
// hijackingWriter: each message through the library, one system call each.
func (t *wsTransport) writeFrames(frames []*frame) error {
	ctx := context.Background()
	for _, f := range frames {
		if err := t.c.Write(ctx, websocket.MessageText, f.data); err != nil {
			return err
		}
	}
	return nil
}

// close ends the connection. For a policy close it returns once the close
// frame is written (or could not be): the library then waits up to 5 s for
// the peer's answer, which a shutting-down node need not wait for, but the
// frame itself must leave before the process does.
func (t *wsTransport) close(code protocol.CloseCode) {
	if code == closeGone {
		t.c.CloseNow()
		return
	}
	if t.raw == nil {
		t.c.Close(websocket.StatusCode(code), code.Reason())
		return
	}
	var once sync.Once
	written := make(chan struct{})
	signal := func() { once.Do(func() { close(written) }) }
	t.raw.onCloseFrame(signal)
	go func() {
		t.c.Close(websocket.StatusCode(code), code.Reason())
		signal()
	}()
	<-written
}

// abort ends the connection without a close frame. A close whose frame
// cannot leave, because a write is blocked on a peer that stopped reading,
// ends this way after Options.CloseTimeout (session.finishClose).
func (t *wsTransport) abort() {
	if t.raw != nil {
		t.raw.abort()
		return
	}
	t.c.CloseNow()
}

func (t *wsTransport) ping(sess *session, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := t.c.Ping(ctx); err != nil && !sess.isClosed() {
		sess.shutdown(protocol.CloseKeepaliveTimeout)
	}
}

// hijackingWriter hands websocket.Accept a hijacked connection wrapped in
// a rawConn, so the transport can write its data messages itself, many per
// system call, while the library keeps the handshake, the reading side and
// the control frames.
type hijackingWriter struct {
	http.ResponseWriter
	raw *rawConn      // set by Hijack
	br  *bufio.Reader // the small reader Hijack installed; nil if it kept the server's
}

// Hijack hijacks the underlying connection and routes the buffered writer
// Accept will use through the rawConn.
func (w *hijackingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		c.Close()
		return nil, nil, err
	}
	w.raw = &rawConn{Conn: c, sc: socketOf(c)}
	// The library writes only control frames through this writer (the
	// data path is writeMessages), so a small one replaces the server's
	// 4 KiB, which nothing else holds.
	brw.Writer = bufio.NewWriterSize(w.raw, wsWriteBuffer)
	if brw.Reader.Buffered() == 0 {
		// Nothing the client sent after its request is buffered, so the
		// server's 4 KiB reader can be swapped for a small one: see
		// wsReadBuffer. Otherwise Accept must see those bytes, and the
		// connection keeps the server's reader.
		w.br = bufio.NewReaderSize(w.raw, wsReadBuffer)
		brw.Reader = w.br
	}
	return w.raw, brw, nil
}

// wsReadBuffer is the size of a WebSocket connection's read buffer.
// coder/websocket keeps the reader it is given for the connection's life,
// and an idle connection's memory is mostly its buffers and its reader's
// stack. Client messages are small (auth, subscribe) and rate limited, so a
// larger one costs an extra read system call at most; bufio reads a
// payload larger than the buffer straight into the caller's slice.
const wsReadBuffer = 512

// wsWriteBuffer is the size of the buffered writer coder/websocket writes
// its control frames through and flushes after each. A control frame is
// at most 127 bytes from a server (2-byte header, 125-byte payload), so
// each leaves in one rawConn.Write, which is what lets rawConn recognise a
// close frame by its first byte.
const wsWriteBuffer = 256

// Unwrap lets http.ResponseController reach the server's writer.
func (w *hijackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// rawBufs recycles write buffers, so an idle connection holds none.
var rawBufs = sync.Pool{New: func() any { return new([]byte) }}

// rawMax is the most writeMessages gathers before a system call.
const rawMax = 64 << 10

// maxPacked bounds one packed (?batch=1) message.
const maxPacked = 64 << 10

// rawConn is a WebSocket's hijacked connection, written by two parties: the
// library writes its control frames (pings, pongs, the close frame) through
// Write, each flushed whole from its buffer in one call; the session writer
// encodes data messages itself in writeMessages, bypassing the library's
// per-message locking and flushing, which cost more than the encoding
// (docs/benchmarks.md). mu serializes the two, so frames never interleave.
type rawConn struct {
	net.Conn
	sc syscall.RawConn // Conn's socket, for non-blocking writes (socketOf); nil: none
	// encode appends frames to b as this connection's messages (see
	// appendMessages); nil: WebSocket text messages. SSE sets appendSSEs.
	encode func(b []byte, frames []*frame, pack bool, flush func([]byte) error) ([]byte, error)
	mu     sync.Mutex // serializes writes to Conn
	nb     *nbWriter  // sc's non-blocking writes, made at the first; guarded by mu

	// hmu guards closeHook and the setting of closeSent. It is not mu, so
	// a closer can register its hook while a writer blocked on a peer that
	// stopped reading holds mu.
	hmu sync.Mutex
	// closeSent: the library wrote a close frame, so no data may follow.
	// Set under hmu (with the hook's decision) and read without it by
	// every write.
	closeSent atomic.Bool
	closeHook func() // called once the close frame is written
}

// Write passes the library's bytes through, noting a close frame.
func (c *rawConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	isClose := len(p) > 0 && p[0]&0x0f == 0x8
	n, err := c.Conn.Write(p)
	if isClose {
		c.hmu.Lock()
		c.closeSent.Store(true)
		hook := c.closeHook
		c.closeHook = nil
		c.hmu.Unlock()
		if hook != nil {
			hook()
		}
	}
	return n, err
}

// onCloseFrame arranges for f to run once a close frame has been written
// (at once if one was). It never waits for a write in progress.
func (c *rawConn) onCloseFrame(f func()) {
	c.hmu.Lock()
	sent := c.closeSent.Load()
	if !sent {
		c.closeHook = f
	}
	c.hmu.Unlock()
	if sent {
		f()
	}
}

// abort closes the network connection under whatever is writing to it,
// which fails a write blocked on a peer that stopped reading.
func (c *rawConn) abort() { c.Conn.Close() }

// writeMessages sends frames as WebSocket text messages, each its own
// message or, with pack, runs of single-line frames joined by newlines into
// one, with one system call per rawMax bytes.
func (c *rawConn) writeMessages(frames []*frame, pack bool) error {
	bp := rawBufs.Get().(*[]byte)
	b := (*bp)[:0]
	c.mu.Lock()
	err := c.writeMessagesLocked(&b, frames, pack)
	c.mu.Unlock()
	if cap(b) <= 2*rawMax {
		*bp = b[:0]
		rawBufs.Put(bp)
	}
	return err
}

func (c *rawConn) writeMessagesLocked(bp *[]byte, frames []*frame, pack bool) error {
	if c.closeSentNow() {
		return net.ErrClosed
	}
	b, err := c.encoder()(*bp, frames, pack, func(b []byte) error {
		_, err := c.Conn.Write(b)
		return err
	})
	if err == nil && len(b) > 0 {
		_, err = c.Conn.Write(b)
	}
	*bp = b[:0]
	return err
}

// encoder returns c.encode, or appendMessages.
func (c *rawConn) encoder() func([]byte, []*frame, bool, func([]byte) error) ([]byte, error) {
	if c.encode != nil {
		return c.encode
	}
	return appendMessages
}

// closeSentNow reports whether the library has written a close frame.
func (c *rawConn) closeSentNow() bool { return c.closeSent.Load() }

// tryWriteMessages is writeMessages with non-blocking system calls, about
// rawMax bytes each (packed frames: all in one). When the socket takes everything it returns a nil
// finish; otherwise finish writes the rest with blocking calls and must
// be called: until it returns, mu stays held (taken here, released by
// finish), so no control frame lands inside a message. If mu is held (the
// library is writing a control frame, perhaps blocked on a peer that
// stopped reading), it writes nothing and all of it goes to finish. It
// needs sc (a socket).
func (c *rawConn) tryWriteMessages(frames []*frame, pack bool) (finish func() error, err error) {
	if !c.mu.TryLock() {
		return c.blockingWrite(frames, pack), nil
	}
	if c.closeSentNow() {
		c.mu.Unlock()
		return nil, net.ErrClosed
	}
	// Nothing on this path escapes (TestTryWriteAllocs): the slow path
	// takes its state as arguments of finishLater.
	bp := rawBufs.Get().(*[]byte)
	b := (*bp)[:0]
	for len(frames) > 0 {
		k := len(frames) // packed: one piece, so runs pack as writeMessages packs them
		if !pack {
			k = chunkOf(frames)
		}
		b, _ = c.encoder()(b[:0], frames[:k], pack, nil)
		frames = frames[k:]
		if c.nb == nil {
			c.nb = newNBWriter(c.sc)
		}
		n, err := c.nb.write(b)
		if err != nil {
			c.mu.Unlock()
			releaseRawBuf(bp, b)
			return nil, err
		}
		if n < len(b) {
			return c.finishLater(bp, b, n, frames, pack), nil
		}
	}
	c.mu.Unlock()
	releaseRawBuf(bp, b)
	return nil, nil
}

// blockingWrite is tryWriteMessages's finish when the library holds mu.
func (c *rawConn) blockingWrite(frames []*frame, pack bool) func() error {
	return func() error { return c.writeMessages(frames, pack) }
}

// finishLater is tryWriteMessages's finish when the socket took n bytes of
// b: it writes the rest of b and then rest, blocking, and unlocks mu.
func (c *rawConn) finishLater(bp *[]byte, b []byte, n int, rest []*frame, pack bool) func() error {
	return func() error {
		_, err := c.Conn.Write(b[n:])
		if err == nil && len(rest) > 0 {
			b = b[:0]
			err = c.writeMessagesLocked(&b, rest, pack)
		}
		c.mu.Unlock()
		releaseRawBuf(bp, b)
		return err
	}
}

// releaseRawBuf returns a write buffer (b, grown from *bp) to rawBufs
// unless it grew too large to keep.
func releaseRawBuf(bp *[]byte, b []byte) {
	if cap(b) <= 2*rawMax {
		*bp = b[:0]
		rawBufs.Put(bp)
	}
}

// chunkOf returns how many of frames (at least one) encode to about rawMax
// bytes, the most one non-blocking write is given.
func chunkOf(frames []*frame) int {
	size := 0
	for i, f := range frames {
		size += len(f.data) + 10 // a header is at most 10 bytes
		if size >= rawMax {
			return i + 1
		}
	}
	return len(frames)
}

// appendMessages appends frames to b as WebSocket text messages, each its
// own message or, with pack, runs of single-line frames joined by newlines
// into one. With flush set, it passes b to flush whenever it reaches
// rawMax bytes and goes on with it emptied; it returns what is left.
func appendMessages(b []byte, frames []*frame, pack bool, flush func([]byte) error) ([]byte, error) {
	spill := func() error {
		if flush == nil || len(b) < rawMax {
			return nil
		}
		err := flush(b)
		b = b[:0]
		return err
	}
	if !pack {
		for _, f := range frames {
			b = appendTextMessage(b, f.data)
			if err := spill(); err != nil {
				return b, err
			}
		}
		return b, nil
	}
	// Packing: a run of single-line frames becomes one message. Its header
	// needs its length, so the run is measured before it is copied.
	for i := 0; i < len(frames); {
		f := frames[i]
		if f.multiline {
			b = appendTextMessage(b, f.data)
			i++
		} else {
			n, j := len(f.data), i+1
			for ; j < len(frames) && !frames[j].multiline && n+1+len(frames[j].data) <= maxPacked; j++ {
				n += 1 + len(frames[j].data)
			}
			b = appendHeader(b, n)
			for k := i; k < j; k++ {
				if k > i {
					b = append(b, '\n')
				}
				b = append(b, frames[k].data...)
			}
			i = j
		}
		if err := spill(); err != nil {
			return b, err
		}
	}
	return b, nil
}

// appendTextMessage appends p as one unfragmented, unmasked text frame, the
// form a server sends (RFC 6455 section 5.2).
func appendTextMessage(b, p []byte) []byte {
	return append(appendHeader(b, len(p)), p...)
}

// appendHeader appends the header of an unfragmented, unmasked text frame
// of n payload bytes.
func appendHeader(b []byte, n int) []byte {
	const finText = 0x80 | 0x1
	switch {
	case n < 126:
		return append(b, finText, byte(n))
	case n <= 0xffff:
		return append(b, finText, 126, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, finText, 127), uint64(n))
	}
}
