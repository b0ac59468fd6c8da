package broadcaster

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"
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
	cw := &corkingWriter{ResponseWriter: w}
	c, err := websocket.Accept(cw, r, &websocket.AcceptOptions{
		OriginPatterns:  s.opts.AllowedOrigins,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept has answered the request
	}
	c.SetReadLimit(s.opts.MaxMessageSize)
	t := &wsTransport{c: c, cork: cw.cork, batch: r.URL.Query().Get("batch") == "1", timeout: s.opts.WriteTimeout, pace: s.opts.WritePace}
	sess, refused := s.newSession(t, r.RemoteAddr)
	if sess == nil {
		c.Close(websocket.StatusCode(refused), refused.Reason())
		return
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

// wsWritePace is the shortest time between two writes to one WebSocket
// connection. A writer that wakes sooner after its previous write waits for
// the rest of it, so frames arriving meanwhile queue up and leave together
// in one system call. A connection that receives less than one frame per
// pace never waits. Under sustained traffic it bounds the system calls per
// connection to 1/pace per second, at the price of up to two paces of
// added latency: the write system call (and, on loopback, the receiver's
// TCP path, which runs on the sender's CPU) costs far more than encoding
// a frame, so this is what decides deliveries per CPU-second
// (docs/benchmarks.md).
const wsWritePace = 20 * time.Millisecond

// wsTransport is a session's WebSocket connection. c's Read is owned by
// readLoop; Write by the session's writer goroutine.
type wsTransport struct {
	c       *websocket.Conn
	cork    *corkConn // c's connection; nil when Accept did not hijack through corkingWriter
	batch   bool      // the client asked for newline-packed frames (?batch=1)
	timeout time.Duration
	pace    time.Duration // see wsWritePace; 0 writes at once

	// Owned by the writer goroutine.
	watchdog  *time.Timer // closes the connection when a write stalls
	buf       []byte      // packed frame under construction
	lastWrite time.Time   // when the previous write ended
}

func (t *wsTransport) name() string { return "websocket" }

func (t *wsTransport) readLoop(sess *session) {
	ctx := context.Background()
	for {
		typ, b, err := t.c.Read(ctx)
		if err != nil {
			sess.shutdown(closeGone)
			return
		}
		sess.handleRaw(b, typ == websocket.MessageBinary)
	}
}

// write sends frames, each as its own WebSocket message (or packed with
// ?batch=1), corked so that the whole call costs one system call.
// waitTurn sleeps until a pace has passed since the previous write; a
// connection written to less often never waits. write calls it first.
//
// Waiting here, after the session took its batch, can delay a frame by up to
// two paces. Waiting in the session writer before it takes the queue bounds
// that to one in theory, but measured worse (two make bench runs: p99 at 250
// ev/s 360-377 ms against 164 ms, docs/benchmarks.md), for reasons not yet
// understood, so it stays here.
func (t *wsTransport) waitTurn() {
	if t.pace > 0 && !t.lastWrite.IsZero() {
		if d := t.pace - time.Since(t.lastWrite); d > 0 {
			time.Sleep(d)
		}
	}
}

func (t *wsTransport) write(frames []*frame) error {
	t.waitTurn()
	// The watchdog covers the whole call: with the cork, the system call
	// happens in release.
	if t.watchdog == nil {
		t.watchdog = time.AfterFunc(t.timeout, func() { t.c.CloseNow() })
	} else {
		t.watchdog.Reset(t.timeout)
	}
	defer t.watchdog.Stop()
	if t.cork != nil {
		t.cork.hold()
	}
	err := t.writeFrames(frames)
	if t.cork != nil {
		if ferr := t.cork.release(); err == nil {
			err = ferr
		}
	}
	t.lastWrite = time.Now()
	return err
}

func (t *wsTransport) writeFrames(frames []*frame) error {
	ctx := context.Background()
	if !t.batch {
		for _, f := range frames {
			if err := t.c.Write(ctx, websocket.MessageText, f.data); err != nil {
				return err
			}
		}
		return nil
	}
	// Pack runs of single-line frames into one message, newline-separated.
	const maxPacked = 64 << 10
	t.buf = t.buf[:0]
	flush := func() error {
		if len(t.buf) == 0 {
			return nil
		}
		err := t.c.Write(ctx, websocket.MessageText, t.buf)
		t.buf = t.buf[:0]
		return err
	}
	for _, f := range frames {
		if f.multiline {
			if err := flush(); err != nil {
				return err
			}
			if err := t.c.Write(ctx, websocket.MessageText, f.data); err != nil {
				return err
			}
			continue
		}
		if len(t.buf) > 0 && len(t.buf)+1+len(f.data) > maxPacked {
			if err := flush(); err != nil {
				return err
			}
		}
		if len(t.buf) > 0 {
			t.buf = append(t.buf, '\n')
		}
		t.buf = append(t.buf, f.data...)
	}
	err := flush()
	if cap(t.buf) > maxPacked {
		t.buf = nil
	}
	return err
}

func (t *wsTransport) close(code protocol.CloseCode) {
	if code == closeGone {
		t.c.CloseNow()
		return
	}
	t.c.Close(websocket.StatusCode(code), code.Reason())
}

func (t *wsTransport) ping(sess *session, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := t.c.Ping(ctx); err != nil && !sess.isClosed() {
		sess.shutdown(protocol.CloseKeepaliveTimeout)
	}
}

// corkingWriter hands websocket.Accept a hijacked connection wrapped in a
// corkConn, so the transport can gather several WebSocket frames into one
// TCP write. The bytes on the wire are unchanged.
type corkingWriter struct {
	http.ResponseWriter
	cork *corkConn // set by Hijack
}

// Hijack hijacks the underlying connection and routes the buffered writer
// Accept will use through the cork.
func (w *corkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		c.Close()
		return nil, nil, err
	}
	w.cork = &corkConn{Conn: c}
	brw.Writer.Reset(w.cork)
	return w.cork, brw, nil
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *corkingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// corkBufs recycles cork buffers, so an idle connection holds none.
var corkBufs = sync.Pool{New: func() any { return new([]byte) }}

// corkMax is the most a cork buffers before writing anyway.
const corkMax = 64 << 10

// corkConn is a net.Conn whose writes can be held and released as one.
// Every write goes through mu, so bytes keep their order whichever
// goroutine writes (the writer's frames, pings, the close frame).
type corkConn struct {
	net.Conn
	mu   sync.Mutex // guards buf and serializes writes to Conn
	buf  *[]byte    // non-nil while held
	werr error      // the first write error while held
}

func (c *corkConn) hold() {
	c.mu.Lock()
	if c.buf == nil {
		c.buf = corkBufs.Get().(*[]byte)
	}
	c.mu.Unlock()
}

// Write buffers p while held (writing out at corkMax), else writes it.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return c.Conn.Write(p)
	}
	if c.werr != nil {
		return 0, c.werr
	}
	*c.buf = append(*c.buf, p...)
	if len(*c.buf) >= corkMax {
		c.werr = c.flushLocked()
		if c.werr != nil {
			return 0, c.werr
		}
	}
	return len(p), nil
}

// release writes what was held in one write and stops holding.
func (c *corkConn) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return nil
	}
	err := c.werr
	if err == nil {
		err = c.flushLocked()
	}
	b := c.buf
	c.buf, c.werr = nil, nil
	if cap(*b) <= corkMax*2 {
		*b = (*b)[:0]
		corkBufs.Put(b)
	}
	return err
}

func (c *corkConn) flushLocked() error {
	if len(*c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(*c.buf)
	*c.buf = (*c.buf)[:0]
	return err
}
