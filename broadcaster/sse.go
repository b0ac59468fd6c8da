package broadcaster

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// wantsSSE reports whether the request asks for an event stream.
func wantsSSE(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// setCORS adds CORS headers for an allowed cross-origin request and reports
// whether the origin is allowed at all.
func (s *Server) setCORS(w http.ResponseWriter, r *http.Request) bool {
	if !originAllowed(r, s.opts.AllowedOrigins) {
		return false
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Add("Vary", "Origin")
	}
	return true
}

// corsGate runs the CORS part shared by the browser-facing HTTP endpoints:
// it answers preflights, refuses foreign origins (403 JSON) and sets the
// CORS headers of allowed ones. It reports whether the caller should go on.
func (s *Server) corsGate(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodOptions {
		s.preflight(w, r)
		return false
	}
	if !s.setCORS(w, r) {
		s.stats.originRefused.Add(1)
		writeJSONError(w, http.StatusForbidden, protocol.ErrUnauthorized, "", "origin not allowed")
		return false
	}
	return true
}

// preflight answers a CORS preflight for /events/ and /events/ticket.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	if !s.setCORS(w, r) {
		s.stats.originRefused.Add(1)
		writeJSONError(w, http.StatusForbidden, protocol.ErrUnauthorized, "", "origin not allowed")
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Last-Event-ID, Content-Type, Cache-Control")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// sseCredential finds the principal of an SSE request: bearer token, then
// cookie, then ticket. No credential at all is (nil, nil): scoreboard
// channels need none.
func (s *Server) sseCredential(r *http.Request) (*auth.Principal, error) {
	if tok, ok := bearer(r); ok {
		return s.opts.Verifier.Verify(tok)
	}
	if name := s.opts.SSECookie; name != "" {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return s.opts.Verifier.Verify(c.Value)
		}
	}
	if t := r.URL.Query().Get("ticket"); t != "" {
		if s.opts.Tickets == nil {
			return nil, errors.New("tickets are not enabled on this server")
		}
		return s.opts.Tickets.Verify(t)
	}
	return nil, nil
}

// resumeID reads the SSE resume position: Last-Event-ID, else the
// last_event_id or lastEventId query parameter.
func resumeID(r *http.Request) string {
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		return v
	}
	q := r.URL.Query()
	if v := q.Get("last_event_id"); v != "" {
		return v
	}
	return q.Get("lastEventId")
}

// serveSSE serves GET /events/ as Server-Sent Events. Every refusal comes
// before the stream starts, as a non-200 JSON answer.
func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request) {
	if !s.corsGate(w, r) {
		return
	}
	if r.Method != http.MethodGet {
		writeJSONError(w, http.StatusMethodNotAllowed, protocol.ErrBadRequest, "", "use GET")
		return
	}
	channels := r.URL.Query()["channel"]
	if len(channels) == 0 {
		writeJSONError(w, http.StatusBadRequest, protocol.ErrBadRequest, "", "name at least one channel= parameter")
		return
	}
	if len(channels) > s.opts.MaxSubscriptions {
		// 400, not 503: the request itself is over the cap, and sending it
		// again (to any node) is refused again.
		writeJSONError(w, http.StatusBadRequest, protocol.ErrLimitExceeded, "", fmt.Sprintf("too many channels: at most %d per stream", s.opts.MaxSubscriptions))
		return
	}
	p, err := s.sseCredential(r)
	if err == nil && s.userRevoked(p) {
		err = errTokenRevoked
	}
	if err != nil {
		s.stats.authFailed(err)
		writeJSONError(w, http.StatusUnauthorized, protocol.ErrUnauthorized, "", "authentication failed: "+err.Error())
		return
	}
	// A resume position that is no id of ours is answered per channel
	// (recovered:false, then live events), as on WebSocket.
	since := resumeID(r)
	resume := since != ""
	// Authorize every channel before the stream starts.
	expires := time.Time{}
	if p != nil {
		expires = p.Expires
	}
	for _, name := range channels {
		ch, err := protocol.ParseChannel(name)
		switch {
		case errors.Is(err, protocol.ErrUnknownChannel):
			writeJSONError(w, http.StatusNotFound, protocol.ErrNotFound, name, err.Error())
			return
		case err != nil:
			writeJSONError(w, http.StatusBadRequest, protocol.ErrBadRequest, name, err.Error())
			return
		case ch.Kind == protocol.KindScoreboard:
			if _, _, err := s.opts.Verifier.VerifyScoreboard(ch.Name); err != nil {
				s.stats.authFailed(err)
				writeJSONError(w, http.StatusUnauthorized, protocol.ErrUnauthorized, name, "invalid scoreboard token")
				return
			}
		case p == nil:
			writeJSONError(w, http.StatusUnauthorized, protocol.ErrUnauthorized, name, "authentication required")
			return
		case s.channelAccess(p, ch) == auth.AccessNone:
			writeJSONError(w, http.StatusForbidden, protocol.ErrUnauthorized, name, "not allowed on this channel")
			return
		}
	}

	preamble := ": arenacast\n\nretry: " + strconv.Itoa(int(s.opts.SSERetry/time.Millisecond)) + "\n\n"
	// The stream ends at its maximum lifetime (with jitter so streams
	// opened together do not all reconnect together), at the token's
	// expiry, when the client leaves, or when the session is closed.
	life := s.opts.SSEMaxLifetime
	life -= time.Duration(rand.Int64N(int64(life)/10 + 1))
	if !expires.IsZero() {
		if d := expires.Sub(s.opts.Now()); d < life {
			life = max(d, 0)
		}
	}
	if _, ok := w.(http.Hijacker); ok && r.ProtoMajor == 1 && r.ProtoMinor == 1 {
		s.serveSSERaw(w, r, p, channels, since, resume, preamble, life)
		return
	}

	rc := http.NewResponseController(w)
	t := &sseTransport{w: w, rc: rc, timeout: s.opts.WriteTimeout, done: make(chan struct{})}
	t.pace = s.opts.WritePace
	sess, refused := s.newSession(t, r.RemoteAddr)
	if sess != nil {
		sess.boardPatches = r.URL.Query().Get("boards") == protocol.BoardsPatch
	}
	if sess == nil {
		// 503 for both; EventSource gives up on it, client-js retries.
		writeJSONError(w, http.StatusServiceUnavailable, protocol.ErrLimitExceeded, "", refused.Reason())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("Connection", "keep-alive")
	h.Del("Content-Encoding")
	w.WriteHeader(http.StatusOK)
	t.mu.Lock()
	_, err = w.Write([]byte(preamble))
	if err == nil {
		err = rc.Flush()
	}
	t.mu.Unlock()
	if err != nil {
		sess.shutdown(closeGone)
		return
	}
	s.startSSE(sess, p, channels, since, resume)

	lifeTimer := time.NewTimer(life)
	defer lifeTimer.Stop()
	beat := time.NewTicker(s.opts.SSEHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-t.done:
			t.finish()
			return
		case <-r.Context().Done():
			sess.shutdown(closeGone)
			<-t.done
			t.finish()
			return
		case <-lifeTimer.C:
			sess.shutdown(protocol.CloseServerShutdown)
		case <-beat.C:
			sess.sendFrame(commentFrame)
		}
	}
}

// serveSSERaw serves an authorized SSE request on a connection taken over
// from net/http (sseRawTransport); the handler returns once the stream runs.
func (s *Server) serveSSERaw(w http.ResponseWriter, r *http.Request, p *auth.Principal, channels []string, since string, resume bool, preamble string, life time.Duration) {
	t := &sseRawTransport{}
	t.pace = s.opts.WritePace
	sess, refused := s.newSession(t, r.RemoteAddr)
	if sess != nil {
		sess.boardPatches = r.URL.Query().Get("boards") == protocol.BoardsPatch
	}
	if sess == nil {
		writeJSONError(w, http.StatusServiceUnavailable, protocol.ErrLimitExceeded, "", refused.Reason())
		return
	}
	ok, err := t.takeOver(w, preamble, s.opts.WriteTimeout)
	if !ok {
		sess.shutdown(closeGone)
		writeJSONError(w, http.StatusInternalServerError, protocol.ErrInternal, "", "the stream could not start")
		return
	}
	if err != nil {
		sess.shutdown(closeGone)
		return
	}
	if len(s.flushers) > 0 && t.raw.sc != nil {
		sess.fl = s.flushers[sess.id%uint64(len(s.flushers))]
	}
	s.startSSE(sess, p, channels, since, resume)
	t.start(sess, s.opts.SSEHeartbeat, life)
}

// startSSE gives a started stream its principal and channels: every
// channel waits for one catch-up that merges their histories (or
// snapshots) and the live events meanwhile into one id order, since the
// browser's Last-Event-ID is stream-wide and the stream must never show an
// id while a smaller one it owes is still to come.
func (s *Server) startSSE(sess *session, p *auth.Principal, channels []string, since string, resume bool) {
	sess.mu.Lock()
	sess.principal = p
	sess.engaged = true
	sess.mu.Unlock()
	if sess.closeIfRevoked(p) {
		return
	}
	var reqs []*catchUpReq
	for _, name := range channels {
		if rq := sess.register("", name, since, resume, true, subOptions{patches: sess.boardPatches}); rq != nil {
			reqs = append(reqs, rq)
		}
	}
	if len(reqs) > 0 {
		go sess.catchUp(reqs)
	}
}

// sseTransport writes a session's frames as SSE events. mu serializes the
// writer goroutine with the handler's last words; after finish nothing is
// written, because the handler has returned.
type sseTransport struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	// pacedWriter: its pace and lastWrite (the write deadline, not the
	// write watch, bounds this transport's writes).
	pacedWriter

	mu       sync.Mutex // guards the writes below and finished
	buf      []byte
	finished bool
	code     protocol.CloseCode

	closeOnce sync.Once
	done      chan struct{} // closed by close
}

func (t *sseTransport) name() string { return "sse" }

// write sends frames as SSE messages in one write and flush, at least
// pace after the previous write (pacedWriter.waitTurn), so under sustained
// traffic frames leave in groups
// and a fan-out does not wake every SSE writer for every event.
func (t *sseTransport) write(frames []*frame) error {
	t.waitTurn()
	defer func() { t.lastWrite = time.Now() }()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished {
		return errors.New("sse stream finished")
	}
	t.buf = t.buf[:0]
	for _, f := range frames {
		t.buf = appendSSE(t.buf, f)
	}
	t.rc.SetWriteDeadline(time.Now().Add(t.timeout))
	if _, err := t.w.Write(t.buf); err != nil {
		return err
	}
	if cap(t.buf) > 64<<10 {
		t.buf = nil
	}
	return t.rc.Flush()
}

// appendSSE frames one message: id (events only), event name, and the JSON
// split over data lines at every CR, LF or CRLF.
func appendSSE(b []byte, f *frame) []byte {
	if f.comment {
		return append(b, ": ping\n\n"...)
	}
	if f.seq != 0 {
		b = append(b, "id: "...)
		b = strconv.AppendUint(b, f.seq, 10)
		b = append(b, '\n')
	}
	if f.typ != "" {
		b = append(b, "event: "...)
		b = append(b, f.typ...)
		b = append(b, '\n')
	}
	data := f.data
	if !f.multiline {
		// Replies are json.Marshal output and single-line events were
		// checked when their frame was built: no CR or LF to split on.
		b = append(b, "data: "...)
		b = append(b, data...)
		return append(b, "\n\n"...)
	}
	for {
		b = append(b, "data: "...)
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			b = append(b, data...)
			b = append(b, '\n')
			break
		}
		b = append(b, data[:i]...)
		b = append(b, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(b, '\n')
}

// close records the code and wakes the handler, which writes the last
// event and returns.
func (t *sseTransport) close(code protocol.CloseCode) {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.code = code
		t.mu.Unlock()
		close(t.done)
	})
}

// finish runs on the handler goroutine: it tells the client why the stream
// ends (a "close" event with the close code, so a client knows whether to
// reconnect), then forbids further writes.
func (t *sseTransport) finish() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished {
		return
	}
	t.finished = true
	if t.code == closeGone {
		return
	}
	msg := `{"type":"close","code":` + strconv.Itoa(int(t.code)) + `,"reason":"` + t.code.Reason() + `"}`
	t.rc.SetWriteDeadline(time.Now().Add(t.timeout))
	t.w.Write([]byte("event: close\ndata: " + msg + "\n\n"))
	t.rc.Flush()
}
