package broadcaster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

// TestSSEStreamStart: the headers, no compression even when asked for, and
// the opening comment and retry flushed before any event exists. Speed (the
// first comment within 100 ms) is measured by the benchmarks; here the test
// proves the start is flushed at once rather than held back until there is
// something to send: nothing is published until the comment has arrived.
// Heartbeats follow at the configured interval.
func TestSSEStreamStart(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) { o.SSEHeartbeat = 50 * time.Millisecond })
	hdr := bearerHeader(e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} }))
	hdr.Set("Accept-Encoding", "gzip, deflate, br")
	c := e.openSSE(sseQuery([]string{"/contest/c1"}), hdr)
	h := c.resp.Header
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream; charset=utf-8",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
		"Content-Encoding":  "",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if first := c.nextAny(); !first.isComment || first.comment != "arenacast" {
		t.Fatalf("first block %+v, want the comment \": arenacast\"", first)
	}
	if r := c.nextAny(); r.retry != "2000" {
		t.Fatalf("second block %+v, want retry: 2000", r)
	}
	c.expect("subscribed", map[string]any{"channel": "/contest/c1"})
	// Two heartbeats in a row prove the ticker, not a one-off comment.
	for range 2 {
		if ev := c.nextAny(); !ev.isComment || ev.comment != "ping" {
			t.Fatalf("got %+v, want a heartbeat comment", ev)
		}
	}
	id := e.publish("clarification", "/contest/c1", "", true, `{"q":1}`)
	m := c.expect("clarification", nil)
	if m["id"] != protocol.IDString(id) {
		t.Fatalf("got %v, want id %d", m, id)
	}
}

// TestSSEFraming: JSON with raw CR, LF and CRLF between its tokens is split
// over data lines so that EventSource rejoins it into the same JSON value;
// events carry id and event fields, replies carry no id.
func TestSSEFraming(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })
	c := e.openSSE(sseQuery([]string{"/contest/c1"}), bearerHeader(tok))
	c.expect("subscribed", nil) // expect checks a reply has no id line
	payloads := []string{
		"{\"a\":\n1,\r\n\"b\":\r[1,\n2],\"s\":\"line\\nbreak\\r\"}",
		"[\r\n{\"x\":true}\n]",
		"\"plain string\"",
	}
	for _, data := range payloads {
		// Raw on the subject, as a publisher's own NATS client sends it:
		// the bus keeps the publisher's bytes, line breaks included.
		raw := `{"type":"run_update","channel":"/contest/c1","user":"alice","data":` + data + `}`
		ack, err := e.bus.JetStream().Publish(context.Background(), "arenacast.contest.c1", []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		id := ack.Sequence
		ev := c.next()
		if ev.event != "run_update" || ev.id != protocol.IDString(id) {
			t.Fatalf("event %q id %q, want run_update %d", ev.event, ev.id, id)
		}
		lines := strings.Count(data, "\n") + strings.Count(data, "\r") - strings.Count(data, "\r\n")
		if got := len(ev.raw) - 2; got != lines+1 {
			t.Errorf("payload %q went out on %d data lines, want %d: %q", data, got, lines+1, ev.raw)
		}
		m := ev.msg(t)
		var want any
		if err := json.Unmarshal([]byte(data), &want); err != nil {
			t.Fatal(err)
		}
		gotData, _ := json.Marshal(m["data"])
		wantData, _ := json.Marshal(want)
		if string(gotData) != string(wantData) || m["id"] != ev.id {
			t.Fatalf("rejoined message %v, want data %s and id %s", m, wantData, ev.id)
		}
	}
}

// TestSSERefusals: every refusal comes before the stream, as JSON naming
// the error and, where one is at fault, the channel.
func TestSSERefusals(t *testing.T) {
	e := newEnv(t, nil)
	alice := bearerHeader(e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} }))
	cases := []struct {
		name     string
		channels []string
		hdr      http.Header
		extra    []string
		status   int
		code     protocol.ErrorCode
		channel  string
	}{
		{"no channel", nil, alice, nil, 400, protocol.ErrBadRequest, ""},
		{"malformed channel", []string{"/contest/a b"}, alice, nil, 400, protocol.ErrBadRequest, "/contest/a b"},
		{"unknown channel form", []string{"/foo/bar"}, alice, nil, 404, protocol.ErrNotFound, "/foo/bar"},
		{"no credential", []string{"/contest/c1"}, nil, nil, 401, protocol.ErrUnauthorized, "/contest/c1"},
		{"bad token", []string{"/contest/c1"}, bearerHeader("nope"), nil, 401, protocol.ErrUnauthorized, ""},
		{"bad ticket", []string{"/contest/c1"}, nil, []string{"ticket", "nope"}, 401, protocol.ErrUnauthorized, ""},
		{"bad scoreboard token", []string{"/scoreboard/abc"}, nil, nil, 401, protocol.ErrUnauthorized, "/scoreboard/abc"},
		{"not allowed", []string{"/contest/c1", "/contest/c2"}, alice, nil, 403, protocol.ErrUnauthorized, "/contest/c2"},
		{"too many channels", manyChannels(101), alice, nil, 400, protocol.ErrLimitExceeded, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := e.sseGet(sseQuery(tc.channels, tc.extra...), tc.hdr)
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			var body struct{ Error, Channel, Message string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if body.Error != string(tc.code) || body.Channel != tc.channel || body.Message == "" {
				t.Fatalf("body %+v, want error %q channel %q and a message", body, tc.code, tc.channel)
			}
		})
	}
}

// manyChannels names n channels, more than a stream may have when n is
// above the subscription cap.
func manyChannels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("/contest/c%d", i)
	}
	return out
}

// TestSSECORS: allowed origins get CORS headers on the stream, the ticket
// endpoint and the preflight (which allows Authorization and
// Last-Event-ID); other origins are refused before anything else.
func TestSSECORS(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) { o.AllowedOrigins = []string{"app.example.com"} })
	tok := e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })
	do := func(method, path, origin string, hdr http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, e.http.URL+path, nil)
		for k, v := range hdr {
			req.Header[k] = v
		}
		req.Header.Set("Origin", origin)
		resp, err := e.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	const good, evil = "https://app.example.com", "https://evil.example.com"
	preflight := http.Header{
		"Access-Control-Request-Method":  {"GET"},
		"Access-Control-Request-Headers": {"authorization, last-event-id"},
	}
	t.Run("preflight allowed", func(t *testing.T) {
		resp := do(http.MethodOptions, "/events/", good, preflight)
		allow := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != good ||
			!strings.Contains(allow, "authorization") || !strings.Contains(allow, "last-event-id") {
			t.Fatalf("%s %v", resp.Status, resp.Header)
		}
	})
	t.Run("preflight refused", func(t *testing.T) {
		resp := do(http.MethodOptions, "/events/", evil, preflight)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%s %v", resp.Status, resp.Header)
		}
	})
	t.Run("ticket allowed", func(t *testing.T) {
		resp := do(http.MethodPost, "/events/ticket", good, bearerHeader(tok))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != good ||
			resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("%s %v", resp.Status, resp.Header)
		}
	})
	t.Run("ticket refused", func(t *testing.T) {
		if resp := do(http.MethodPost, "/events/ticket", evil, bearerHeader(tok)); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s", resp.Status)
		}
	})
	t.Run("stream allowed", func(t *testing.T) {
		hdr := bearerHeader(tok)
		hdr.Set("Origin", good)
		c := e.openSSEFor(t, sseQuery([]string{"/contest/c1"}), hdr)
		if c.resp.Header.Get("Access-Control-Allow-Origin") != good {
			t.Fatalf("%v", c.resp.Header)
		}
		c.expect("subscribed", nil)
	})
	t.Run("stream refused", func(t *testing.T) {
		hdr := bearerHeader(tok)
		hdr.Set("Origin", evil)
		resp, _ := e.sseGet(sseQuery([]string{"/contest/c1"}), hdr)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%s %v", resp.Status, resp.Header)
		}
	})
}

// TestSSETickets: a ticket from node A opens streams on node B, more than
// once (EventSource reconnects); it expires after its TTL; it is no bearer
// token; the ticket endpoint wants a bearer token.
func TestSSETickets(t *testing.T) {
	var skew atomic.Int64 // how far the tickets' clock runs ahead
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	a := newNode(t, nodeConfig{natsListen: "127.0.0.1:-1", ticketTTL: time.Minute, ticketClock: clock})
	b := newNode(t, nodeConfig{natsURL: a.bus.ClientURL(), ticketTTL: time.Minute, ticketClock: clock})
	tok := a.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })

	issue := func(hdr http.Header) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, a.http.URL+"/events/ticket", nil)
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := a.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Ticket  string
			Expires int64
		}
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if d := time.Until(time.Unix(body.Expires, 0)); d < 50*time.Second || d > 61*time.Second {
				t.Fatalf("ticket expires in %v, want about a minute", d)
			}
		}
		return resp, body.Ticket
	}
	if resp, _ := issue(nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("ticket without a bearer token: %s", resp.Status)
	}
	if resp, _ := issue(bearerHeader("nope")); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("ticket with a bad token: %s", resp.Status)
	}
	_, ticket := issue(bearerHeader(tok))
	q := sseQuery([]string{"/contest/c1"}, "ticket", ticket)
	for i := range 2 { // the same ticket twice, as EventSource reconnects
		c := b.openSSE(q, nil)
		c.expect("subscribed", nil)
		id := a.publish("run_update", "/contest/c1", "alice", false, `{}`)
		c.expect("run_update", map[string]any{"id": protocol.IDString(id)})
		c.cancel()
		_ = i
	}
	// A ticket is not a bearer token anywhere.
	if resp, _ := b.sseGet(sseQuery([]string{"/contest/c1"}), bearerHeader(ticket)); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("ticket as a bearer token: %s", resp.Status)
	}
	skew.Store(int64(2 * time.Minute))
	resp, _ := b.sseGet(q, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired ticket: %s", resp.Status)
	}
}

// TestSSEResumeParams: the resume position comes from Last-Event-ID, else
// last_event_id, else lastEventId; the header wins.
func TestSSEResumeParams(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })
	var ids []uint64
	for range 3 {
		ids = append(ids, e.publish("clarification", "/contest/c1", "", true, `{}`))
	}
	s := func(i int) string { return protocol.IDString(ids[i]) }
	cases := []struct {
		name   string
		header string
		extra  []string
		from   int // first id index expected
	}{
		{"Last-Event-ID", s(0), nil, 1},
		{"last_event_id", "", []string{"last_event_id", s(1)}, 2},
		{"lastEventId", "", []string{"lastEventId", s(0)}, 1},
		{"last_event_id before lastEventId", "", []string{"last_event_id", s(1), "lastEventId", s(0)}, 2},
		{"header first", s(1), []string{"last_event_id", s(0)}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := bearerHeader(tok)
			if tc.header != "" {
				hdr.Set("Last-Event-ID", tc.header)
			}
			c := e.openSSEFor(t, sseQuery([]string{"/contest/c1"}, tc.extra...), hdr)
			c.expect("subscribed", map[string]any{"recovered": true})
			for _, id := range ids[tc.from:] {
				c.expect("clarification", map[string]any{"id": protocol.IDString(id)})
			}
			live := e.publish("clarification", "/contest/c1", "", true, `{}`)
			c.expect("clarification", map[string]any{"id": protocol.IDString(live)})
			ids = append(ids, live)
			c.cancel()
		})
	}
}

// TestSSEMaxLifetime: at its maximum lifetime a stream ends cleanly: a
// final "close" event (code 4000, reconnect and resume), then the end of
// the response.
func TestSSEMaxLifetime(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) { o.SSEMaxLifetime = 300 * time.Millisecond })
	c := e.openSSE(sseQuery([]string{"/scoreboard/" + e.scoreboardToken("c1")}), nil)
	c.expect("subscribed", nil)
	ev := c.next()
	if ev.event != "close" || ev.hasID {
		t.Fatalf("got %+v, want the close event", ev)
	}
	m := ev.msg(t)
	if m["type"] != "close" || m["code"] != float64(protocol.CloseServerShutdown) || m["reason"] != protocol.CloseServerShutdown.Reason() {
		t.Fatalf("close event %v", m)
	}
	if err := c.endErr(); err != io.EOF {
		t.Fatalf("stream ended with %v, want a clean end (EOF)", err)
	}
}

// TestSSEMultiChannelOrder: one stream over several channels replays their
// histories merged into one id order, because Last-Event-ID is stream-wide:
// a stream that showed a larger id before a smaller one would lose the
// smaller one if it broke in between.
func TestSSEMultiChannelOrder(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.token("alice", func(c *auth.Claims) { c.Contests = []string{"c1"} })
	first := e.publish("clarification", "/contest/c1", "", true, `{}`)
	var want []uint64
	for i := range 20 {
		if i%2 == 0 {
			want = append(want, e.publish("clarification", "/contest/c1", "", true, `{}`))
		} else {
			want = append(want, e.publish("run_update", "/user/alice", "", false, `{}`))
		}
	}
	hdr := bearerHeader(tok)
	hdr.Set("Last-Event-ID", protocol.IDString(first))
	c := e.openSSE(sseQuery([]string{"/contest/c1", "/user/alice"}), hdr)
	c.expect("subscribed", map[string]any{"recovered": true})
	c.expect("subscribed", map[string]any{"recovered": true})
	for _, id := range want {
		if ev := c.next(); ev.id != protocol.IDString(id) {
			t.Fatalf("got %s %s, want id %d", ev.event, ev.id, id)
		}
	}
}

// TestWritePaceLoneConnection: --write-pace bounds how long frames may
// wait to be grouped, and the flushers wait only as long as a round
// costs: a lone connection's events go out at once, even with an hour's
// pace, on either transport (with a fixed pace the second event would wait
// the hour). Grouping under a fan-out is TestFlusherAdaptivePace's.
func TestWritePaceLoneConnection(t *testing.T) {
	for _, transport := range []string{"websocket", "sse"} {
		t.Run(transport, func(t *testing.T) {
			e := newEnv(t, func(o *broadcaster.Options) { o.WritePace = time.Hour })
			tok := e.token("root", func(c *auth.Claims) { c.SiteAdmin = true })
			var expect func(id uint64)
			if transport == "sse" {
				c := e.openSSE(sseQuery([]string{"/contest/c1"}), bearerHeader(tok))
				c.expect("subscribed", nil)
				expect = func(id uint64) { c.expect("clarification", map[string]any{"id": protocol.IDString(id)}) }
			} else {
				c := e.dial(dialOpts{})
				c.auth(tok)
				c.subscribe("/contest/c1")
				expect = func(id uint64) { c.expect("clarification", map[string]any{"id": protocol.IDString(id)}) }
			}
			for range 6 {
				// Each waits for the one before it: a paced write would hold
				// it for the hour, past the test's deadline.
				expect(e.publish("clarification", "/contest/c1", "", true, `{}`))
			}
		})
	}
}

// TestSSEPaths: over HTTP/1.1 the node takes an SSE stream's connection
// over from net/http (no chunking, the body ends with the connection);
// over HTTP/2 the stream stays with net/http. Both carry the same stream:
// the preamble, replies, events with ids, heartbeats, and the close event
// at shutdown.
func TestSSEPaths(t *testing.T) {
	for _, tc := range []struct {
		name  string
		http2 bool
		proto int
	}{
		{"HTTP/1.1, taken over", false, 1},
		{"HTTP/2, net/http", true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newNode(t, nodeConfig{http2: tc.http2, opts: func(o *broadcaster.Options) { o.SSEHeartbeat = 50 * time.Millisecond }})
			tok := e.token("root", func(c *auth.Claims) { c.SiteAdmin = true })
			c := e.openSSEFor(t, sseQuery([]string{"/contest/c1"}), bearerHeader(tok))
			if c.resp.ProtoMajor != tc.proto {
				t.Fatalf("served over %s, want HTTP/%d", c.resp.Proto, tc.proto)
			}
			// Taken over: no length, no chunking, the body ends with the
			// connection. net/http would have chunked it.
			closeDelimited := len(c.resp.TransferEncoding) == 0 && c.resp.ContentLength == -1 && c.resp.Close
			if want := tc.proto == 1; closeDelimited != want {
				t.Fatalf("close-delimited body %v (Transfer-Encoding %q, Content-Length %d, Close %v), want %v",
					closeDelimited, c.resp.TransferEncoding, c.resp.ContentLength, c.resp.Close, want)
			}
			if ct := c.resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
				t.Fatalf("Content-Type %q", ct)
			}
			if first := c.nextAny(); !first.isComment || first.comment != "arenacast" {
				t.Fatalf("first block %+v, want the comment \": arenacast\"", first)
			}
			c.expect("subscribed", map[string]any{"channel": "/contest/c1"})
			id := e.publish("clarification", "/contest/c1", "", true, `{"n":1}`)
			c.expect("clarification", map[string]any{"id": protocol.IDString(id)})
			for { // a heartbeat comment follows within the interval
				if ev := c.nextAny(); ev.isComment && ev.comment == "ping" {
					break
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			if err := e.srv.Shutdown(ctx, 0); err != nil {
				t.Fatal(err)
			}
			for {
				ev := c.next()
				if ev.event == "close" {
					if m := ev.msg(t); m["code"] != float64(protocol.CloseServerShutdown) {
						t.Fatalf("close event %v, want code %d", m, protocol.CloseServerShutdown)
					}
					break
				}
			}
			if err := c.endErr(); err != io.EOF && err != nil {
				t.Fatalf("stream ended with %v, want EOF", err)
			}
		})
	}
}

// TestSSEConnectionEnds: a stream on a taken-over connection ends, and
// leaves the node's count, when the client leaves, when it reads too slowly
// (slow consumer), and when a write stays blocked past the write timeout;
// another client on the channel goes on receiving.
func TestSSEConnectionEnds(t *testing.T) {
	payload := `{"pad":"` + strings.Repeat("x", 60000) + `"}`
	for _, tc := range []struct {
		name  string
		opts  func(*broadcaster.Options)
		drive func(e *env, gone net.Conn, fast *sseClient) // until the stream is to end
		stat  func(broadcaster.Snapshot) uint64
	}{
		// No heartbeat in the test's time: only the reader can notice.
		{"client leaves", func(o *broadcaster.Options) { o.SSEHeartbeat = time.Hour },
			func(e *env, gone net.Conn, _ *sseClient) { gone.Close() }, nil},
		{"slow consumer", func(o *broadcaster.Options) { o.QueueMessages = 16; o.QueueBytes = 1 << 30 },
			func(e *env, _ net.Conn, fast *sseClient) {
				for i := 0; e.srv.Stats().SlowConsumers == 0; i++ {
					if i == 1000 {
						e.t.Fatal("no slow consumer after 1000 events of 60 KB")
					}
					e.publish("clarification", "/contest/c1", "", true, payload)
					fast.expect("clarification", nil)
				}
			}, func(s broadcaster.Snapshot) uint64 { return s.SlowConsumers }},
		{"write timeout", func(o *broadcaster.Options) {
			o.QueueMessages, o.QueueBytes, o.WriteTimeout = 1<<20, 1<<30, 300*time.Millisecond
		}, func(e *env, _ net.Conn, fast *sseClient) {
			for i := 0; e.srv.Stats().WriteTimeouts == 0; i++ {
				if i == 1000 {
					e.t.Fatal("no write timeout after 1000 events of 60 KB")
				}
				e.publish("clarification", "/contest/c1", "", true, payload)
				fast.expect("clarification", nil)
			}
		}, func(s broadcaster.Snapshot) uint64 { return s.WriteTimeouts }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			tok := e.token("root", func(c *auth.Claims) { c.SiteAdmin = true })
			// A client that reads the response head and then nothing.
			gone, err := net.Dial("tcp", strings.TrimPrefix(e.http.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer gone.Close()
			req := "GET /events/" + sseQuery([]string{"/contest/c1"}) + " HTTP/1.1\r\nHost: arenacast\r\nAccept: text/event-stream\r\nAuthorization: Bearer " + tok + "\r\n\r\n"
			if _, err := io.WriteString(gone, req); err != nil {
				t.Fatal(err)
			}
			gone.SetReadDeadline(time.Now().Add(waitFor))
			resp, err := http.ReadResponse(bufio.NewReaderSize(gone, 512), nil)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("stream: %v %v", resp, err)
			}
			fast := e.openSSE(sseQuery([]string{"/contest/c1"}), bearerHeader(tok))
			fast.expect("subscribed", nil)
			waitUntil(t, func() bool { return e.srv.Stats().Open["sse"] == 2 })
			tc.drive(e, gone, fast)
			waitUntil(t, func() bool { return e.srv.Stats().Open["sse"] == 1 })
			if tc.stat != nil && tc.stat(e.srv.Stats()) != 1 {
				t.Fatalf("the stream ended, but not counted as %s", tc.name)
			}
			id := e.publish("clarification", "/contest/c1", "", true, `{}`)
			for {
				if m := fast.expect("clarification", nil); m["id"] == protocol.IDString(id) {
					break
				}
			}
		})
	}
}

// TestShutdownWhileStreamsStart: a node shutting down while SSE streams
// are starting leaves none of them open: each is refused, or ends with its
// close event or with the connection, and Shutdown returns in time. (A
// close that came while the connection was being taken over used to leave
// the stream open forever.)
func TestShutdownWhileStreamsStart(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) { o.SSEHeartbeat = time.Hour })
	tok := e.token("root", func(c *auth.Claims) { c.SiteAdmin = true })
	addr := strings.TrimPrefix(e.http.URL, "http://")
	req := "GET /events/" + sseQuery([]string{"/contest/c1"}) + " HTTP/1.1\r\nHost: arenacast\r\nAccept: text/event-stream\r\nAuthorization: Bearer " + tok + "\r\n\r\n"
	const clients = 500
	started := make(chan struct{}, clients)
	ended := make(chan error, clients)
	for range clients {
		go func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				started <- struct{}{}
				ended <- err
				return
			}
			defer c.Close()
			_, err = io.WriteString(c, req)
			started <- struct{}{}
			if err != nil {
				ended <- nil // the node closed it: ended
				return
			}
			c.SetReadDeadline(time.Now().Add(waitFor))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil && resp.StatusCode == http.StatusOK {
				_, err = io.Copy(io.Discard, resp.Body) // a stream: it must end
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				ended <- errors.New("the stream stayed open after the shutdown")
				return
			}
			ended <- nil // refused (503), or ended
		}()
	}
	for range clients / 2 { // shut down while half are still starting
		<-started
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := e.srv.Shutdown(ctx, 0); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for range clients {
		if err := <-ended; err != nil {
			t.Fatal(err)
		}
	}
}
