package broadcaster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// sseEvent is one dispatched SSE block, parsed as EventSource does: data
// lines joined with "\n". A comment line is reported on its own, with
// comment set.
type sseEvent struct {
	id, event, data string
	hasID           bool
	retry           string
	comment         string
	isComment       bool
	raw             []string // the block's lines as they came off the wire
}

// msg decodes the event's data as the JSON object the WebSocket would send.
func (ev sseEvent) msg(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
		t.Fatalf("SSE data %q is not a JSON object: %v", ev.data, err)
	}
	return m
}

// sseClient reads one event stream in the background.
type sseClient struct {
	t      *testing.T
	resp   *http.Response
	events chan sseEvent
	done   chan struct{}
	cancel context.CancelFunc
	mu     sync.Mutex
	err    error // why the stream ended; io.EOF for a clean end
}

// sseQuery builds the query string of a stream: repeated channel= plus
// extra parameters (key, value pairs).
func sseQuery(channels []string, extra ...string) string {
	q := url.Values{}
	for _, c := range channels {
		q.Add("channel", c)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Add(extra[i], extra[i+1])
	}
	return "?" + q.Encode()
}

// sseGet starts GET /events/<query> with Accept: text/event-stream and the
// given headers. The caller owns the response; cancel ends the request.
func (e *env) sseGet(query string, hdr http.Header) (*http.Response, context.CancelFunc) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+"/events/"+query, nil)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := e.http.Client().Do(req)
	if err != nil {
		cancel()
		e.t.Fatalf("SSE request: %v", err)
	}
	e.t.Cleanup(func() { cancel(); resp.Body.Close() })
	return resp, cancel
}

// openSSE starts a stream that must be accepted, and reads it in the
// background.
func (e *env) openSSE(query string, hdr http.Header) *sseClient {
	e.t.Helper()
	return e.openSSEFor(e.t, query, hdr)
}

// openSSEFor is openSSE for a client that fails t (a subtest).
func (e *env) openSSEFor(t *testing.T, query string, hdr http.Header) *sseClient {
	t.Helper()
	resp, cancel := e.sseGet(query, hdr)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("SSE stream refused: %s %s", resp.Status, b)
	}
	c := &sseClient{t: t, resp: resp, events: make(chan sseEvent, 10000), done: make(chan struct{}), cancel: cancel}
	go c.readLoop()
	return c
}

func (c *sseClient) readLoop() {
	defer close(c.done)
	br := bufio.NewReader(c.resp.Body)
	var ev sseEvent
	var data []string
	started := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		line = strings.TrimSuffix(line, "\n")
		if strings.ContainsAny(line, "\r\x00") {
			// EventSource would end the line at a CR: the server must
			// never write one inside a line.
			c.t.Errorf("SSE line holds a raw CR or NUL: %q", line)
		}
		if line == "" {
			if started {
				ev.data = strings.Join(data, "\n")
				c.events <- ev
			}
			ev, data, started = sseEvent{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			c.events <- sseEvent{isComment: true, comment: strings.TrimPrefix(strings.TrimPrefix(line, ":"), " "), raw: []string{line}}
			continue
		}
		started = true
		ev.raw = append(ev.raw, line)
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.id, ev.hasID = value, true
		case "event":
			ev.event = value
		case "data":
			data = append(data, value)
		case "retry":
			ev.retry = value
		default:
			c.t.Errorf("unknown SSE field in %q", line)
		}
	}
}

// nextAny returns the next block, comments included.
func (c *sseClient) nextAny() sseEvent {
	c.t.Helper()
	select {
	case ev := <-c.events:
		return ev
	case <-c.done:
		select {
		case ev := <-c.events:
			return ev
		default:
		}
		c.t.Fatalf("SSE stream ended while waiting for an event: %v", c.endErr())
	case <-time.After(waitFor):
		c.t.Fatal("timed out waiting for an SSE event")
	}
	return sseEvent{}
}

// next returns the next block that is not a comment or a bare retry.
func (c *sseClient) next() sseEvent {
	c.t.Helper()
	for {
		ev := c.nextAny()
		if !ev.isComment && ev.event+ev.data != "" {
			return ev
		}
	}
}

// expect reads the next event and checks its name, returning its message.
func (c *sseClient) expect(name string, fields map[string]any) map[string]any {
	c.t.Helper()
	ev := c.next()
	if ev.event != name {
		c.t.Fatalf("got SSE event %q (%s), want %q", ev.event, ev.data, name)
	}
	m := ev.msg(c.t)
	if m["type"] != name {
		c.t.Fatalf("SSE event %q carries type %v", name, m["type"])
	}
	if id, ok := m["id"]; ok && (!ev.hasID || ev.id != id) {
		c.t.Fatalf("SSE id field %q does not match the message id %v", ev.id, id)
	}
	if _, ok := m["id"]; !ok && ev.hasID {
		c.t.Fatalf("reply %s carries an SSE id %q", name, ev.id)
	}
	for k, v := range fields {
		if m[k] != v {
			c.t.Fatalf("got %v, want %s=%v", m, k, v)
		}
	}
	return m
}

// endErr waits for the stream to end and returns why.
func (c *sseClient) endErr() error {
	select {
	case <-c.done:
	case <-time.After(waitFor):
		c.t.Fatal("SSE stream did not end")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// bearerHeader is an Authorization header for tok.
func bearerHeader(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}
