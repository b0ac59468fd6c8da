package broadcaster

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/arenacast/arenacast/protocol"
)

// sseRawTransport is an SSE stream on a connection taken over from net/http
// (HTTP/1.1) once the response head is decided: the response has no
// Content-Length and no chunked encoding, so its body runs until the
// connection closes (RFC 9112 section 6.3), and the events are written to
// the socket as they are, by the node's flushers like a WebSocket's frames.
//
// Why: a stream left to net/http keeps the request's goroutine parked with
// its grown stack, net/http's read and write buffers and its background
// reader (42.9 KiB per idle connection, measured), and it can only be
// written with blocking calls, by a goroutine per wake-up.
type sseRawTransport struct {
	// raw is set by takeOver under tmu, before anything but close, abort
	// and the write watch can see the session; the write paths run after.
	raw *rawConn
	pacedWriter

	tmu   sync.Mutex  // guards raw's assignment, beat, life, ended and code
	beat  *time.Timer // the next heartbeat comment
	life  *time.Timer // the stream's end (lifetime or token expiry)
	ended bool        // close ran
	code  protocol.CloseCode
	// closed makes close run once.
	closed sync.Once
}

func (t *sseRawTransport) name() string { return "sse" }

// write is the session writer's path (a socket that was full, or a close
// flushing its last frames): paced, blocking, under the write watch.
func (t *sseRawTransport) write(frames []*frame) error {
	t.waitTurn()
	t.begin()
	defer t.end()
	return t.raw.writeMessages(frames, false)
}

// tryWrite is the flusher's write (nonBlockingWriter).
func (t *sseRawTransport) tryWrite(frames []*frame) (finish func() error, err error) {
	return t.tryRaw(t.raw, frames, false)
}

// ringTarget is the flusher's batched write's view of t (ringWriter).
func (t *sseRawTransport) ringTarget() (*rawConn, bool, *pacedWriter) {
	return t.raw, false, &t.pacedWriter
}

// stalled closes the connection when a write has been blocked since
// before deadline (unix nanos).
func (t *sseRawTransport) stalled(deadline int64) bool {
	if t.stalledSince(deadline) {
		t.raw.abort()
		return true
	}
	return false
}

// abort ends the connection at once, with nothing more sent.
func (t *sseRawTransport) abort() {
	t.tmu.Lock()
	raw := t.raw
	t.tmu.Unlock()
	if raw != nil {
		raw.abort()
	}
}

// close ends the stream: it stops the timers and, once the connection is
// taken over, finishes it (finishStream). A close that comes before (a
// node shutting down while the stream starts) is recorded, and takeOver
// finishes the stream as soon as it has the connection.
func (t *sseRawTransport) close(code protocol.CloseCode) {
	t.closed.Do(func() {
		t.tmu.Lock()
		t.ended, t.code = true, code
		if t.beat != nil {
			t.beat.Stop()
		}
		if t.life != nil {
			t.life.Stop()
		}
		raw := t.raw
		t.tmu.Unlock()
		if raw != nil {
			finishStream(raw, code)
		}
	})
}

// finishStream tells the client why the stream ends (a "close" event with
// the close code, unless the peer is gone) and closes the connection. A
// write blocked on a peer that stopped reading holds raw.mu: finishClose's
// abort ends both after Options.CloseTimeout.
func finishStream(raw *rawConn, code protocol.CloseCode) {
	if code != closeGone {
		raw.mu.Lock()
		if !raw.closeSentNow() {
			msg := `{"type":"close","code":` + strconv.Itoa(int(code)) + `,"reason":"` + code.Reason() + `"}`
			raw.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			raw.Conn.Write([]byte("event: close\ndata: " + msg + "\n\n"))
		}
		raw.hmu.Lock()
		raw.closeSent.Store(true)
		raw.hmu.Unlock()
		raw.mu.Unlock()
	}
	raw.Conn.Close()
}

// start arms the heartbeat and the stream's end, and starts the reader
// that notices the client leaving. It runs once the session is set up.
func (t *sseRawTransport) start(sess *session, heartbeat, life time.Duration) {
	t.tmu.Lock()
	defer t.tmu.Unlock()
	if t.ended {
		return
	}
	var beat func()
	beat = func() {
		sess.sendFrame(commentFrame)
		t.tmu.Lock()
		if !t.ended {
			t.beat.Reset(heartbeat)
		}
		t.tmu.Unlock()
	}
	t.beat = time.AfterFunc(heartbeat, beat)
	t.life = time.AfterFunc(life, func() { sess.shutdown(protocol.CloseServerShutdown) })
	go t.readLoop(sess)
}

// readLoop waits for the client to leave: an SSE client sends nothing
// after its request, so whatever it sends is dropped.
func (t *sseRawTransport) readLoop(sess *session) {
	var buf [64]byte
	for {
		if _, err := t.raw.Conn.Read(buf[:]); err != nil {
			sess.shutdown(closeGone)
			return
		}
	}
}

// appendSSEs is rawConn.encode for SSE: frames as SSE messages (pack does
// not apply), passing b to flush whenever it reaches rawMax.
func appendSSEs(b []byte, frames []*frame, _ bool, flush func([]byte) error) ([]byte, error) {
	for _, f := range frames {
		b = appendSSE(b, f)
		if flush != nil && len(b) >= rawMax {
			if err := flush(b); err != nil {
				return b[:0], err
			}
			b = b[:0]
		}
	}
	return b, nil
}

// sseHead is the response head of a taken-over SSE stream: the headers
// already set on w (CORS), the stream's own, and no length or chunking,
// so the body ends when the connection does.
func sseHead(w http.ResponseWriter) []byte {
	h := w.Header().Clone()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("Connection", "close")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Del("Content-Encoding")
	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\n")
	h.Write(&b)
	b.WriteString("\r\n")
	return b.Bytes()
}

// takeOver hijacks w's connection for t and writes the response head and
// preamble. ok false: the connection could not be taken over (nothing was
// written). If the session was closed meanwhile, the stream is finished
// here and err is net.ErrClosed.
func (t *sseRawTransport) takeOver(w http.ResponseWriter, preamble string, timeout time.Duration) (ok bool, err error) {
	head := sseHead(w)
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false, nil
	}
	raw := &rawConn{Conn: c, sc: socketOf(c), encode: appendSSEs}
	c.SetWriteDeadline(time.Now().Add(timeout))
	_, err = c.Write(append(head, preamble...))
	c.SetWriteDeadline(time.Time{})
	t.tmu.Lock()
	t.raw = raw
	ended, code := t.ended, t.code
	t.tmu.Unlock()
	if ended {
		finishStream(raw, code)
		return true, net.ErrClosed
	}
	return true, err
}
