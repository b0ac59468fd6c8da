package broadcaster

import (
	"context"
	"net/http"
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
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		OriginPatterns:  s.opts.AllowedOrigins,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept has answered the request
	}
	c.SetReadLimit(s.opts.MaxMessageSize)
	t := &wsTransport{c: c, batch: r.URL.Query().Get("batch") == "1", timeout: s.opts.WriteTimeout}
	sess := s.newSession(t, r.RemoteAddr)
	if sess == nil {
		c.Close(websocket.StatusCode(protocol.CloseConnectionLimit), protocol.CloseConnectionLimit.Reason())
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

// wsTransport is a session's WebSocket connection. c's Read is owned by
// readLoop; Write by the session's writer goroutine.
type wsTransport struct {
	c       *websocket.Conn
	batch   bool // the client asked for newline-packed frames (?batch=1)
	timeout time.Duration

	// Owned by the writer goroutine.
	watchdog *time.Timer // closes the connection when a write stalls
	buf      []byte      // packed frame under construction
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

func (t *wsTransport) write(frames []*frame) error {
	if t.watchdog == nil {
		t.watchdog = time.AfterFunc(t.timeout, func() { t.c.CloseNow() })
	} else {
		t.watchdog.Reset(t.timeout)
	}
	defer t.watchdog.Stop()
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
