package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arenacast/arenacast/protocol"
)

// role decides what a client may see; a delivery outside it is a
// visibility violation.
type role uint8

const (
	roleMember role = iota // participant: public events and its own
	roleAdmin              // contest admin: everything
	roleViewer             // scoreboard token holder: public scoreboard_update and contest_update
)

// clientSpec is who a client is and what it subscribes to.
type clientSpec struct {
	user     string // empty for scoreboard viewers
	role     role
	token    string // empty: no auth message
	channels []string
	sse      bool
	peer     bool // speaks the peer's protocol (--peer)
}

// target is where clients connect.
type target struct {
	addr  string // host:port
	host  string // Host header
	path  string // /events/
	batch bool   // ?batch=1 on WebSocket
}

// parseTarget reads --url; with peer, a URL without a path means the peer's
// WebSocket endpoint.
func parseTarget(raw string, batch, peer bool) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, err
	}
	if u.Scheme != "ws" && u.Scheme != "http" {
		return target{}, fmt.Errorf("--url %q: want ws:// or http:// (loopback only)", raw)
	}
	p := u.Path
	switch {
	case p == "" && peer:
		p = peerPath
	case p == "":
		p = "/events/"
	}
	return target{addr: u.Host, host: u.Host, path: p, batch: batch}, nil
}

// dialer dials from a rotating set of loopback source addresses
// (127.0.0.<base>, <base>+1, ...) so more connections fit than one
// address's ephemeral port range.
type dialer struct {
	base, n int
	// kernelTS: connections report the kernel's receive time of what they
	// read (tsConn), and latency is measured to it.
	kernelTS bool
	next     atomic.Uint64
}

func (d *dialer) dial(ctx context.Context, addr string) (net.Conn, error) {
	i := d.next.Add(1)
	nd := net.Dialer{Timeout: 10 * time.Second}
	if d.n > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(d.base+int(i%uint64(d.n))))}
	}
	if !d.kernelTS {
		return nd.DialContext(ctx, "tcp", addr)
	}
	nd.Control = enableTimestamps
	c, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return newTSConn(c)
}

// client is one load connection with one reader goroutine.
type client struct {
	spec *clientSpec
	m    *meter

	mu      sync.Mutex // guards conn, ready, pending, readyErr
	conn    io.Closer
	ws      *wsConn
	ready   chan struct{}
	pending int // subscribed replies still awaited
	readErr error
	done    chan struct{} // closed when the current reader goroutine ends
	closing atomic.Bool
	started bool // a reader goroutine runs for the current connection

	// Owned by the reader goroutine (and by connect between connections).
	last     []uint64 // newest id seen per spec.channels index
	epochs   []string // the peer's stream epoch per spec.channels index (--peer)
	received atomic.Uint64
}

func newClient(spec *clientSpec, m *meter) *client {
	c := &client{spec: spec, m: m, last: make([]uint64, len(spec.channels))}
	if spec.peer {
		c.epochs = make([]string, len(spec.channels))
	}
	return c
}

// connect dials, authenticates and subscribes, and returns when every
// channel is subscribed. With resume, it subscribes with since (the newest
// id seen per channel; SSE: Last-Event-ID).
func (c *client) connect(ctx context.Context, d *dialer, t target, resume bool) error {
	nc, err := d.dial(ctx, t.addr)
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	ready := make(chan struct{})
	c.mu.Lock()
	c.ready, c.pending, c.readErr = ready, len(c.spec.channels), nil
	c.conn, c.ws = nc, nil
	c.done = make(chan struct{})
	c.started = false // a connect runs only when the previous reader has ended
	c.mu.Unlock()
	c.closing.Store(false)

	if c.spec.sse {
		err = c.startSSE(nc, t, resume)
	} else {
		err = c.startWS(nc, t, resume)
	}
	if err != nil {
		c.close()
		c.wait()
		return err
	}
	select {
	case <-ready:
	case <-ctx.Done():
		c.close()
		return fmt.Errorf("not subscribed in time: %w", ctx.Err())
	}
	c.mu.Lock()
	err = c.readErr
	c.mu.Unlock()
	if err != nil {
		c.close()
		return err
	}
	nc.SetDeadline(time.Time{})
	return nil
}

func (c *client) startWS(nc net.Conn, t target, resume bool) error {
	path := t.path
	if t.batch {
		path += "?batch=1"
	}
	ws, err := wsHandshake(nc, t.host, path)
	if err != nil {
		return err
	}
	var peerCmds [][]byte
	if c.spec.peer { // built before the reader runs: it owns last and epochs
		peerCmds = peerConnectCommands(c.spec.token, c.spec.channels, resume, c.epochs, c.last)
	}
	c.mu.Lock()
	c.ws = ws
	c.started = true
	c.mu.Unlock()
	go c.readWS(ws)
	if c.spec.peer {
		for _, cmd := range peerCmds {
			if err := ws.writeText(cmd); err != nil {
				return err
			}
		}
		return nil
	}
	if c.spec.token != "" {
		if err := ws.writeText([]byte(`{"type":"auth","token":"` + c.spec.token + `"}`)); err != nil {
			return err
		}
	}
	for i, ch := range c.spec.channels {
		msg := `{"type":"subscribe","channel":"` + ch + `"`
		if resume && c.last[i] > 0 {
			msg += `,"since":"` + strconv.FormatUint(c.last[i], 10) + `"`
		}
		if err := ws.writeText([]byte(msg + "}")); err != nil {
			return err
		}
	}
	return nil
}

func (c *client) startSSE(nc net.Conn, t target, resume bool) error {
	q := url.Values{}
	for _, ch := range c.spec.channels {
		q.Add("channel", ch)
	}
	var req strings.Builder
	req.WriteString("GET " + t.path + "?" + q.Encode() + " HTTP/1.1\r\nHost: " + t.host + "\r\nAccept: text/event-stream\r\n")
	if c.spec.token != "" {
		req.WriteString("Authorization: Bearer " + c.spec.token + "\r\n")
	}
	if resume {
		var last uint64
		for _, id := range c.last {
			last = max(last, id)
		}
		if last > 0 {
			req.WriteString("Last-Event-ID: " + strconv.FormatUint(last, 10) + "\r\n")
		}
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(nc, req.String()); err != nil {
		return err
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("SSE refused: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	c.mu.Lock()
	c.started = true
	c.mu.Unlock()
	go c.readSSE(nc, resp.Body)
	return nil
}

// wait returns when the current connection's reader has ended (after
// close, or after the server closed it).
func (c *client) wait() {
	c.mu.Lock()
	done, started := c.done, c.started
	c.mu.Unlock()
	if done != nil && started {
		<-done
	}
}

// close drops the connection without a closing handshake.
func (c *client) close() {
	c.closing.Store(true)
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}

func (c *client) readWS(ws *wsConn) {
	for {
		msg, err := ws.read()
		if err != nil {
			c.ended(err)
			return
		}
		now := c.receivedAt(ws.c)
		for len(msg) > 0 {
			line := msg
			if i := bytes.IndexByte(msg, '\n'); i >= 0 {
				line, msg = msg[:i], msg[i+1:]
			} else {
				msg = nil
			}
			if c.spec.peer {
				c.handlePeer(ws, line, now)
				continue
			}
			c.handle(line, now)
		}
	}
}

// receivedAt is when the bytes just read from nc arrived: the kernel's
// stamp with --kernel-timestamps (the newest bytes' stamp, so never
// earlier than the frame's arrival), else now.
func (c *client) receivedAt(nc net.Conn) int64 {
	if ts, ok := nc.(*tsConn); ok {
		if t := ts.stamp(); t != 0 {
			return t
		}
	}
	return time.Now().UnixNano()
}

func (c *client) readSSE(nc net.Conn, body io.ReadCloser) {
	br := bufio.NewReaderSize(body, 4096)
	closing := false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				c.m.badFrames.Add(1)
				continue
			}
			c.ended(err)
			return
		}
		switch {
		case bytes.HasPrefix(line, []byte("event: close")):
			closing = true
		case bytes.HasPrefix(line, []byte("data: ")):
			data := bytes.TrimRight(line[6:], "\r\n")
			if closing {
				var cm struct{ Code int }
				json.Unmarshal(data, &cm)
				c.ended(closeError{cm.Code})
				return
			}
			c.handle(data, c.receivedAt(nc))
		}
	}
}

// ended records why the reader stopped and wakes a pending connect.
func (c *client) ended(err error) {
	var ce closeError
	if errors.As(err, &ce) && ce.code > 0 && ce.code < len(c.m.closes) {
		c.m.closes[ce.code].Add(1)
	}
	if !c.closing.Load() {
		c.m.dropped.Add(1)
		if !errors.As(err, &ce) {
			c.m.abrupt.Add(1)
			c.m.abruptErr.CompareAndSwap(nil, err.Error())
		}
	}
	c.finishConnect(fmt.Errorf("connection ended: %w", err))
	c.mu.Lock()
	close(c.done)
	c.mu.Unlock()
}

func (c *client) finishConnect(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready == nil {
		return
	}
	if err != nil && c.readErr == nil {
		c.readErr = err
	}
	if err != nil || c.pending == 0 {
		close(c.ready)
		c.ready = nil
	}
}

var (
	typePrefix    = []byte(`{"type":"`)
	channelPrefix = []byte(`","channel":"`)
	idPrefix      = []byte(`","id":"`)
	dataMarker    = []byte(`,"data":`)
)

// handle processes one server JSON object received at now.
func (c *client) handle(obj []byte, now int64) {
	rest, ok := bytes.CutPrefix(obj, typePrefix)
	if !ok {
		c.m.badFrames.Add(1)
		return
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 {
		c.m.badFrames.Add(1)
		return
	}
	typ := rest[:i]
	switch string(typ) {
	case protocol.MsgSubscribed, protocol.MsgError, protocol.MsgUnsubscribed:
		c.reply(obj)
		return
	case protocol.MsgAuthSuccess, protocol.MsgPong, protocol.TypePresence:
		return // presence: the node's count on admin channels, no id
	}
	// An event: {"type":T,"channel":C,"id":N,"timestamp":S,"data":D}
	rest, ok = bytes.CutPrefix(rest[i:], channelPrefix)
	if !ok {
		c.m.badFrames.Add(1)
		return
	}
	i = bytes.IndexByte(rest, '"')
	if i < 0 {
		c.m.badFrames.Add(1)
		return
	}
	channel := rest[:i]
	rest, ok = bytes.CutPrefix(rest[i:], idPrefix)
	if !ok {
		c.m.badFrames.Add(1)
		return
	}
	id, rest, ok := cutInt(rest, `","timestamp":`)
	if !ok {
		c.m.badFrames.Add(1)
		return
	}
	j := bytes.Index(rest, dataMarker)
	if j < 0 {
		c.m.badFrames.Add(1)
		return
	}
	var stored int64 // unix nanos, from the server's --debug-stored-time
	if k := bytes.Index(rest[:j], storedMarker); k >= 0 {
		us, _, _ := cutInt(rest[k+len(storedMarker):j+1], "")
		stored = us * 1000
	}
	c.event(typ, channel, uint64(id), rest[j+len(dataMarker):], now, stored)
}

var storedMarker = []byte(`"stored_us":`)

func (c *client) event(typ, channel []byte, id uint64, data []byte, now, stored int64) {
	ci := -1
	for k, ch := range c.spec.channels {
		if string(channel) == ch {
			ci = k
			break
		}
	}
	if ci < 0 {
		c.m.violations.Add(1) // a channel it never subscribed to
		return
	}
	if id <= c.last[ci] {
		c.m.dups.Add(1)
		return
	}
	c.last[ci] = id
	p, ok := parsePayload(data)
	if !ok || p.run != c.m.runID {
		c.m.foreign.Add(1)
		return
	}
	if !c.allowed(typ, p.aud) {
		c.m.violations.Add(1)
	}
	c.received.Add(1)
	ph := &c.m.phases[p.phase]
	ph.received.Add(1)
	ph.lat.record(time.Duration(now - p.sent))
	if stored > 0 {
		ph.split.Add(1)
		ph.toStore.record(time.Duration(max(stored-p.sent, 0)))
		ph.fromStore.record(time.Duration(max(now-stored, 0)))
	}
}

// allowed is the visibility rule of docs/protocol.md section 2, restated
// independently of the server's code.
func (c *client) allowed(typ, aud []byte) bool {
	switch c.spec.role {
	case roleAdmin:
		return true
	case roleMember:
		return string(aud) == "pub" || (len(aud) > 2 && string(aud[2:]) == c.spec.user && string(aud[:2]) == "u:")
	case roleViewer:
		return string(aud) == "pub" && (string(typ) == protocol.TypeScoreboardUpdate || string(typ) == protocol.TypeContestUpdate)
	}
	return false
}

func (c *client) reply(obj []byte) {
	var r protocol.Reply
	if err := json.Unmarshal(obj, &r); err != nil {
		c.m.badFrames.Add(1)
		return
	}
	switch r.Type {
	case protocol.MsgSubscribed:
		if r.Recovered != nil {
			if *r.Recovered {
				c.m.recovered.Add(1)
			} else {
				c.m.notRecov.Add(1)
			}
		}
		c.mu.Lock()
		c.pending--
		c.mu.Unlock()
		c.finishConnect(nil)
	case protocol.MsgError:
		c.m.errReplies.Add(1)
		c.finishConnect(fmt.Errorf("error reply: %s: %s", r.Error, r.Message))
	case protocol.MsgUnsubscribed:
		c.m.unsubs.Add(1)
	}
}

// connectStats summarizes connecting a set of clients.
type connectStats struct {
	Clients  int           `json:"clients"`
	OK       int           `json:"ok"`
	Failed   int           `json:"failed"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Rate     float64       `json:"per_second"`
	Latency  latency       `json:"latency"`
	FirstErr string        `json:"first_error,omitempty"`
}

// connectAll connects clients with at most conc in flight: dial, upgrade,
// auth, and subscribed replies for every channel.
func connectAll(ctx context.Context, clients []*client, d *dialer, t target, conc int, resume bool) connectStats {
	var h histogram
	var failed atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, max(conc, 1))
	var wg sync.WaitGroup
	start := time.Now()
	for _, c := range clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			t0 := time.Now()
			if err := c.connect(cctx, d, t, resume); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			h.record(time.Since(t0))
		})
	}
	wg.Wait()
	el := time.Since(start)
	st := connectStats{Clients: len(clients), Failed: int(failed.Load()), Elapsed: el, Latency: h.summary()}
	st.OK = st.Clients - st.Failed
	st.Rate = float64(st.OK) / el.Seconds()
	if e, ok := firstErr.Load().(string); ok {
		st.FirstErr = e
	}
	return st
}

// closeAll drops every client at once, then waits for their readers.
func closeAll(clients []*client) {
	for _, c := range clients {
		c.close()
	}
	for _, c := range clients {
		c.wait()
	}
}
