package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestTLSFlags: --tls-cert, --tls-key and --h2c refuse contradictory or
// incomplete combinations before anything starts.
func TestTLSFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-key", "k.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--h2c"}, "--h2c is HTTP/2 without TLS"},
		{[]string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-reload-interval", "-1s"}, "must not be negative"},
		{[]string{"--tls-cert", "c.pem", "--tls-key", "k.pem"}, ""},
		{[]string{"--h2c"}, ""},
	} {
		s := &Serve{Stdout: io.Discard, Stderr: io.Discard}
		err := s.ParseFlags(context.Background(), append([]string{"--keys", "k"}, tc.args...))
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestTLSBadPairAtStart: serve refuses to start on a pair that does not
// load, naming the files, and logs no key material.
func TestTLSBadPairAtStart(t *testing.T) {
	dir := t.TempDir()
	c1, _ := newCert(t, nil, nil, "127.0.0.1", false)
	_, k2 := newCert(t, nil, nil, "127.0.0.1", false)
	certFile := writeFile(t, dir, "cert.pem", certPEM(c1))
	keyFile := writeFile(t, dir, "key.pem", keyPEM(t, k2)) // not c1's key
	keys, _ := filepath.Abs("../../testdata/devkeys")
	code, out := cli("serve", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--keys", keys,
		"--tls-cert", certFile, "--tls-key", keyFile)
	if code != 1 || !strings.Contains(out, certFile) || !strings.Contains(out, keyFile) {
		t.Fatalf("exit %d, output %s: want 1 and both file names", code, out)
	}
	if strings.Contains(out, "PRIVATE KEY") {
		t.Fatalf("key material in the output: %s", out)
	}
}

// logOnFailure shows serve's log when the test fails.
func logOnFailure(t *testing.T, out *syncBuffer) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve's log:\n%s", out.String())
		}
	})
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	// Replaced by rename, as renewal tools do, so no reader sees half a file.
	if err := os.WriteFile(p+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
	return p
}

// sseStream reads one text/event-stream body.
type sseStream struct {
	resp *http.Response
	sc   *bufio.Scanner
}

// next returns the next event's name and data (comments skipped).
func (s *sseStream) next(t *testing.T) (string, string) {
	t.Helper()
	var event, data string
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "":
			if event != "" || data != "" {
				return event, data
			}
		case strings.HasPrefix(line, "event: "):
			event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data += line[len("data: "):]
		}
	}
	t.Fatalf("stream ended: %v", s.sc.Err())
	return "", ""
}

// until reads events until one named event arrives and returns its data.
func (s *sseStream) until(t *testing.T, event string) string {
	t.Helper()
	for {
		if ev, data := s.next(t); ev == event {
			return data
		}
	}
}

func openSSE(t *testing.T, ctx context.Context, c *http.Client, url, token string) *sseStream {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sseStream{resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// publishEvent POSTs one event to /publish and returns its id.
func publishEvent(t *testing.T, c *http.Client, base, token, channel string) string {
	t.Helper()
	body := fmt.Sprintf(`{"type":"run_update","channel":%q,"user":"alice","data":{"verdict":"AC"}}`, channel)
	req, _ := http.NewRequest(http.MethodPost, base+"/publish", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	defer resp.Body.Close()
	var r struct{ ID string }
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &r) != nil || r.ID == "" {
		t.Fatalf("publish: %d %s", resp.StatusCode, b)
	}
	return r.ID
}

func mint(t *testing.T, args ...string) string {
	t.Helper()
	keys, _ := filepath.Abs("../../testdata/devkeys")
	code, out := cli(append([]string{"token", "--key", filepath.Join(keys, "dev.pem")}, args...)...)
	if code != 0 {
		t.Fatalf("token %q: %d %s", args, code, out)
	}
	return strings.TrimSpace(out)
}

// countingDialer counts the TCP connections a client opens.
type countingDialer struct {
	n atomic.Int32
	d net.Dialer
}

func (c *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c.n.Add(1)
	return c.d.DialContext(ctx, network, addr)
}

// TestTLSHTTP2 runs serve over TLS: an HTTPS client negotiates HTTP/2 and
// three SSE streams and a publish share its one connection; every stream
// receives the event; a WebSocket (wss://) on the same listener works over
// HTTP/1.1; and at shutdown every HTTP/2 stream gets its close event
// (4000) before serve exits cleanly.
func TestTLSHTTP2(t *testing.T) {
	dir := t.TempDir()
	cert, key := newCert(t, nil, nil, "127.0.0.1", false)
	certFile, keyFile := writeFile(t, dir, "cert.pem", certPEM(cert)), writeFile(t, dir, "key.pem", keyPEM(t, key))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addr, out, served := startServeCtx(t, ctx, "--shutdown-drain", "100ms", "--tls-cert", certFile, "--tls-key", keyFile)
	logOnFailure(t, out)
	if !strings.Contains(out.String(), "events=wss://"+addr+"/events/") {
		t.Errorf("the startup log does not name the wss:// URL: %s", out.String())
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	dialer := &countingDialer{}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: dialer.DialContext, Protocols: &protos,
	}}
	base := "https://" + addr
	user := mint(t, "--user", "alice", "--contest", "demo")
	publisher := mint(t, "--user", "publisher", "--publish")

	sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var streams []*sseStream
	for range 3 {
		s := openSSE(t, sctx, client, base+"/events/?channel=/contest/demo", user)
		if s.resp.ProtoMajor != 2 {
			t.Fatalf("SSE served over %s, want HTTP/2", s.resp.Proto)
		}
		s.until(t, "subscribed")
		streams = append(streams, s)
	}
	id := publishEvent(t, client, base, publisher, "/contest/demo")
	for i, s := range streams {
		var m struct{ ID string }
		if data := s.until(t, "run_update"); json.Unmarshal([]byte(data), &m) != nil || m.ID != id {
			t.Fatalf("stream %d: run_update %s, want id %s", i, data, id)
		}
	}
	if n := dialer.n.Load(); n != 1 {
		t.Fatalf("%d connections for 3 streams and a publish, want 1 (HTTP/2 multiplexing)", n)
	}

	// wss://: the WebSocket dial asks for HTTP/1.1 only and gets it.
	wsDialer := &countingDialer{}
	wsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: wsDialer.DialContext, Protocols: &protos}}
	ws, resp, err := websocket.Dial(sctx, "wss://"+addr+"/events/", &websocket.DialOptions{HTTPClient: wsClient})
	if err != nil {
		t.Fatalf("wss:// dial: %v", err)
	}
	defer ws.CloseNow()
	if resp.ProtoMajor != 1 {
		t.Fatalf("WebSocket over %s, want HTTP/1.1", resp.Proto)
	}
	send := func(v string) {
		if err := ws.Write(sctx, websocket.MessageText, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	send(`{"type":"auth","token":"` + user + `"}`)
	send(`{"type":"subscribe","channel":"/contest/demo"}`)
	readUntil := func(want string) string {
		for {
			_, b, err := ws.Read(sctx)
			if err != nil {
				t.Fatalf("WebSocket read waiting for %s: %v", want, err)
			}
			if strings.Contains(string(b), want) {
				return string(b)
			}
		}
	}
	readUntil(`"type":"subscribed"`)
	id2 := publishEvent(t, client, base, publisher, "/contest/demo")
	readUntil(`"id":"` + id2 + `"`)
	for _, s := range streams {
		s.until(t, "run_update")
	}

	stop()
	for i, s := range streams {
		var m struct{ Code int }
		if data := s.until(t, "close"); json.Unmarshal([]byte(data), &m) != nil || m.Code != 4000 {
			t.Fatalf("stream %d: close %s, want code 4000", i, data)
		}
	}
	if _, _, err := ws.Read(sctx); websocket.CloseStatus(err) != 4000 {
		t.Fatalf("WebSocket at shutdown: %v, want close 4000", err)
	}
	select {
	case code := <-served:
		if code != 0 {
			t.Fatalf("serve exited with %d: %s", code, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	if strings.Contains(out.String(), user) || strings.Contains(out.String(), "PRIVATE KEY") {
		t.Fatal("a token or key appeared in the logs")
	}
}

// TestH2C: with --h2c a prior-knowledge HTTP/2 client (no TLS) gets two
// SSE streams and a publish at once over one HTTP/2 connection, and
// HTTP/1.1 clients are still served on the same port; without --h2c a
// prior-knowledge client fails.
//
// The client is one explicit connection (Transport.NewClientConn): Go's
// pooled Transport files a new unencrypted HTTP/2 connection in its pool
// only after handing it to the first request, so a request right after may
// dial a second one (seen once in 90 runs). Over one connection, the
// streams still prove multiplexing: HTTP/1.1 would serve one at a time.
func TestH2C(t *testing.T) {
	for _, h2c := range []bool{true, false} {
		t.Run(fmt.Sprintf("h2c=%v", h2c), func(t *testing.T) {
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			args := []string{"--shutdown-drain", "10ms"}
			if h2c {
				args = append(args, "--h2c")
			}
			addr, out, served := startServeCtx(t, ctx, args...)
			logOnFailure(t, out)
			base := "http://" + addr
			user := mint(t, "--user", "alice", "--contest", "demo")
			var protos http.Protocols
			protos.SetUnencryptedHTTP2(true)
			dialer := &countingDialer{}
			sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			conn, err := (&http.Transport{Protocols: &protos, DialContext: dialer.DialContext}).NewClientConn(sctx, "http", addr)
			if err != nil {
				t.Fatalf("connecting: %v", err)
			}
			defer conn.Close()
			h2 := &http.Client{Transport: conn}
			if !h2c {
				req, _ := http.NewRequestWithContext(sctx, http.MethodGet, base+"/healthz", nil)
				if resp, err := h2.Do(req); err == nil {
					resp.Body.Close()
					t.Fatalf("prior-knowledge HTTP/2 without --h2c: %s %d, want an error", resp.Proto, resp.StatusCode)
				}
			} else {
				var streams []*sseStream
				for range 2 {
					s := openSSE(t, sctx, h2, base+"/events/?channel=/contest/demo", user)
					if s.resp.ProtoMajor != 2 {
						t.Fatalf("SSE over %s, want HTTP/2", s.resp.Proto)
					}
					s.until(t, "subscribed")
					streams = append(streams, s)
				}
				id := publishEvent(t, h2, base, mint(t, "--user", "publisher", "--publish"), "/contest/demo")
				for _, s := range streams {
					if data := s.until(t, "run_update"); !strings.Contains(data, `"id":"`+id+`"`) {
						t.Fatalf("run_update %s, want id %s", data, id)
					}
				}
				if n := dialer.n.Load(); n != 1 {
					t.Fatalf("%d connections, want 1", n)
				}
			}
			// HTTP/1.1 on the same port, either way.
			resp, err := http.Get(base + "/healthz")
			if err != nil || resp.ProtoMajor != 1 || resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP/1.1 /healthz: %v %v", resp, err)
			}
			resp.Body.Close()
			stop()
			if code := <-served; code != 0 {
				t.Fatalf("serve exited with %d: %s", code, out.String())
			}
		})
	}
}

// servedCert returns the certificate a new TLS connection to addr sees.
func servedCert(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 20 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// waitServed waits until new connections see want; fails naming what.
func waitServed(t *testing.T, addr string, want *x509.Certificate, what string, out *syncBuffer) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if got := servedCert(t, addr); bytes.Equal(got.Raw, want.Raw) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the new certificate is not served: %s", what, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLog waits until out contains want n times.
func waitLog(t *testing.T, out *syncBuffer, want string, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); strings.Count(out.String(), want) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("no %d× %q in: %s", n, want, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTLSReload: a renewed pair is served to new connections after SIGHUP
// and, without a signal, once the files change; a bad pair (a key that
// does not match) is refused with an error naming the files, and the pair
// in use stays.
func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	c1, k1 := newCert(t, nil, nil, "127.0.0.1", false)
	certFile, keyFile := writeFile(t, dir, "cert.pem", certPEM(c1)), writeFile(t, dir, "key.pem", keyPEM(t, k1))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	// An hour between polls: only SIGHUP reloads in the first part.
	addr, out, served := startServeCtx(t, ctx, "--shutdown-drain", "10ms", "--tls-cert", certFile, "--tls-key", keyFile, "--tls-reload-interval", "1h")
	logOnFailure(t, out)
	if got := servedCert(t, addr); !bytes.Equal(got.Raw, c1.Raw) {
		t.Fatal("the first certificate is not served")
	}
	hup := func() {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	// SIGHUP with a mismatched pair: refused, old one kept.
	_, kBad := newCert(t, nil, nil, "127.0.0.1", false)
	writeFile(t, dir, "key.pem", keyPEM(t, kBad))
	hup()
	waitLog(t, out, "TLS certificate not reloaded", 1)
	if log := out.String(); !strings.Contains(log, certFile) || !strings.Contains(log, keyFile) || strings.Contains(log, "PRIVATE KEY") {
		t.Fatalf("the refusal should name both files and no key material: %s", log)
	}
	if got := servedCert(t, addr); !bytes.Equal(got.Raw, c1.Raw) {
		t.Fatal("a bad pair replaced the certificate in use")
	}

	// SIGHUP with a good renewed pair.
	c2, k2 := newCert(t, nil, nil, "127.0.0.1", false)
	writeFile(t, dir, "cert.pem", certPEM(c2))
	writeFile(t, dir, "key.pem", keyPEM(t, k2))
	hup()
	waitServed(t, addr, c2, "after SIGHUP", out)
	stop()
	if code := <-served; code != 0 {
		t.Fatalf("serve exited with %d: %s", code, out.String())
	}

	// The file-change trigger, no signal: a fast poll picks up the renewal.
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	addr, out, served = startServeCtx(t, ctx2, "--shutdown-drain", "10ms", "--tls-cert", certFile, "--tls-key", keyFile, "--tls-reload-interval", "20ms")
	logOnFailure(t, out)
	if got := servedCert(t, addr); !bytes.Equal(got.Raw, c2.Raw) {
		t.Fatal("the second certificate is not served at start")
	}
	// The certificate first, its key later, as a renewal may write them:
	// the half-written pair is refused once, then the whole one loads.
	c3, k3 := newCert(t, nil, nil, "127.0.0.1", false)
	writeFile(t, dir, "cert.pem", certPEM(c3))
	waitLog(t, out, "TLS certificate not reloaded", 1)
	if got := servedCert(t, addr); !bytes.Equal(got.Raw, c2.Raw) {
		t.Fatal("a certificate without its key replaced the one in use")
	}
	writeFile(t, dir, "key.pem", keyPEM(t, k3))
	waitServed(t, addr, c3, "after the files changed", out)
	if n := strings.Count(out.String(), "TLS certificate not reloaded"); n != 1 {
		t.Errorf("the half-written pair was reported %d times, want once", n)
	}
	stop2()
	if code := <-served; code != 0 {
		t.Fatalf("serve exited with %d: %s", code, out.String())
	}
}

// TestHangupWithoutTLS: a node without TLS logs and ignores SIGHUP (the
// systemd unit's ExecReload) instead of exiting.
func TestHangupWithoutTLS(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addr, out, served := startServeCtx(t, ctx, "--shutdown-drain", "10ms")
	logOnFailure(t, out)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, out, "SIGHUP: nothing to reload", 1)
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz after SIGHUP: %v %v", resp, err)
	}
	resp.Body.Close()
	stop()
	if code := <-served; code != 0 {
		t.Fatalf("serve exited with %d: %s", code, out.String())
	}
}
