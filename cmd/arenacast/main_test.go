package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// serveStartWithin bounds how long a test waits for `arenacast serve` to
// come up. A cold start under -race on a busy 2-core machine takes about a
// second; the bound only ends a hung test, and it is longer than serve's
// own start bounds (30 s for the embedded NATS, 60 s of
// --nats-connect-timeout), so a serve that cannot start exits with its
// own error first and the test shows it, instead of a bare "did not start"
// cut at the same moment serve would have said why.
const serveStartWithin = 2 * time.Minute

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a running
// command and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEndToEnd runs the real program: serve on port 0 with an embedded
// NATS, mint a token, listen, publish over HTTP, and see the event; then
// SIGTERM-like cancellation shuts it down cleanly.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	keys, _ := filepath.Abs("../../testdata/devkeys")
	addrFile := filepath.Join(dir, "addr")
	ctx, stop := context.WithCancel(context.Background())
	var serveOut syncBuffer
	served := make(chan int, 1)
	go func() {
		served <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--addr-file", addrFile,
			"--data-dir", filepath.Join(dir, "data"), "--keys", keys, "--shutdown-drain", "10ms",
			"--metrics-listen", "127.0.0.1:0", "--pprof"}, &serveOut, &serveOut)
	}()
	var addr string
	deadline := time.Now().Add(serveStartWithin)
	for {
		if b, err := os.ReadFile(addrFile); err == nil {
			addr = string(b)
			break
		}
		select {
		case code := <-served:
			t.Fatalf("serve exited with %d: %s", code, serveOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", serveOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	checkMetricsListener(t, serveOut.String())

	key := filepath.Join(keys, "dev.pem")
	var tokOut, errOut bytes.Buffer
	if code := run(ctx, []string{"token", "--key", key, "--user", "alice", "--contest", "demo"}, &tokOut, &errOut); code != 0 {
		t.Fatalf("token: %d %s", code, errOut.String())
	}
	token := strings.TrimSpace(tokOut.String())

	var listenOut syncBuffer
	listened := make(chan int, 1)
	go func() {
		listened <- run(ctx, []string{"listen", "--url", "ws://" + addr + "/events/", "--token", token,
			"--channel", "/contest/demo", "--count", "1", "--timeout", "30s"}, &listenOut, &listenOut)
	}()
	for !strings.Contains(listenOut.String(), `"subscribed"`) {
		select {
		case code := <-listened:
			t.Fatalf("listen exited with %d: %s", code, listenOut.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	var pubOut bytes.Buffer
	errOut.Reset()
	if code := run(ctx, []string{"publish", "--http", "http://" + addr, "--key", key, "--type", "run_update",
		"--channel", "/contest/demo", "--user", "alice", "--data", `{"verdict":"AC"}`}, &pubOut, &errOut); code != 0 {
		t.Fatalf("publish: %d %s", code, errOut.String())
	}
	publishNDJSONOverHTTP(t, addr, key)
	if code := <-listened; code != 0 {
		t.Fatalf("listen: %d %s", code, listenOut.String())
	}
	if !strings.Contains(listenOut.String(), `"type":"run_update","channel":"/contest/demo","id":"1"`) {
		t.Fatalf("listener output: %s", listenOut.String())
	}
	stop()
	select {
	case code := <-served:
		if code != 0 {
			t.Fatalf("serve exited with %d: %s", code, serveOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	if strings.Contains(serveOut.String(), token) {
		t.Fatal("a token appeared in the logs")
	}
}

func TestUsage(t *testing.T) {
	cases := []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"nope"}, 2},
		{[]string{"help"}, 0},
		{[]string{"serve", "--help"}, 0},
		{[]string{"serve"}, 2}, // --keys is required
		{[]string{"serve", "--keys", "k", "--pprof"}, 2}, // --pprof needs --metrics-listen
		{[]string{"token", "--user", "a", "--scoreboard", "b"}, 2},
		{[]string{"publish", "--type", "x"}, 2},
		{[]string{"listen"}, 2},
	}
	for _, tc := range cases {
		var out bytes.Buffer
		if got := run(context.Background(), tc.args, &out, &out); got != tc.code {
			t.Errorf("run(%q) = %d, want %d: %s", tc.args, got, tc.code, out.String())
		}
	}
}

// TestUsageErrors: a bad flag prints one line and a pointer to --help, not
// the flag list; --help prints the list on stdout; --version names the
// module version, the commit and the Go version.
func TestUsageErrors(t *testing.T) {
	for _, cmd := range []string{"serve", "token", "publish", "listen"} {
		t.Run(cmd, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), []string{cmd, "--no-such-flag"}, &stdout, &stderr); code != 2 {
				t.Fatalf("exit %d, want 2", code)
			}
			want := "arenacast " + cmd + ": flag provided but not defined: -no-such-flag\nRun 'arenacast " + cmd + " --help' for its flags.\n"
			if stderr.String() != want || stdout.Len() != 0 {
				t.Fatalf("stderr %q (want %q), stdout %q", stderr.String(), want, stdout.String())
			}
			stdout.Reset()
			stderr.Reset()
			if code := run(context.Background(), []string{cmd, "--help"}, &stdout, &stderr); code != 0 {
				t.Fatalf("--help: exit %d", code)
			}
			if !strings.HasPrefix(stdout.String(), "usage: arenacast "+cmd+" [flags]") || strings.Count(stdout.String(), "\n  -") < 3 || stderr.Len() != 0 {
				t.Fatalf("--help: stdout %q, stderr %q", stdout.String(), stderr.String())
			}
		})
	}
	t.Run("version", func(t *testing.T) {
		defer func(c string) { commit = c }(commit)
		commit = "0123456789ab"
		code, out := cli("--version")
		if code != 0 || !regexp.MustCompile(`^arenacast \S+ commit 0123456789ab go1\.\S+\n$`).MatchString(out) {
			t.Fatalf("exit %d, output %q", code, out)
		}
	})
}

// TestGCPercent: the GC target defaults to 200 unless the operator chose
// one, with the flag, its ARENACAST_ variable or GOGC.
func TestGCPercent(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		want    int
		wantErr bool
	}{
		{"default", nil, nil, 200, false},
		{"GOGC wins over the default", map[string]string{"GOGC": "50"}, nil, 0, false},
		{"the flag wins over GOGC", map[string]string{"GOGC": "50"}, []string{"--gc-percent", "300"}, 300, false},
		{"the variable wins over GOGC", map[string]string{"GOGC": "50", "ARENACAST_GC_PERCENT": "150"}, nil, 150, false},
		{"zero keeps the runtime's", nil, []string{"--gc-percent", "0"}, 0, false},
		{"negative", nil, []string{"--gc-percent", "-1"}, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"GOGC", "ARENACAST_GC_PERCENT"} {
				if v, ok := tc.env[k]; ok {
					t.Setenv(k, v)
				} else if _, set := os.LookupEnv(k); set {
					t.Setenv(k, "") // restored after the test
					os.Unsetenv(k)
				}
			}
			var out bytes.Buffer
			s := &Serve{Stdout: &out, Stderr: &out}
			err := s.ParseFlags(context.Background(), append([]string{"--keys", "k"}, tc.args...))
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseFlags: %v, want error %v", err, tc.wantErr)
			}
			if err == nil && s.gcPercent != tc.want {
				t.Fatalf("gcPercent = %d, want %d", s.gcPercent, tc.want)
			}
		})
	}
}

// checkMetricsListener finds the metrics address in serve's log and checks
// that it serves /metrics and, with --pprof, the profiler.
func checkMetricsListener(t *testing.T, log string) {
	t.Helper()
	m := regexp.MustCompile(`"metrics listening" addr=(\S+)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no metrics address in the log: %s", log)
	}
	for path, want := range map[string]string{
		"/metrics":                       "arenacast_",
		"/debug/pprof/goroutine?debug=1": "goroutine profile",
	} {
		resp, err := http.Get("http://" + m[1] + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s: %s, body without %q: %.300s", path, resp.Status, want, body)
		}
	}
}

// startServeCtx runs `arenacast serve` with args on a free port until ctx ends and returns
// its address, its output and the channel its exit code arrives on.
func startServeCtx(t *testing.T, ctx context.Context, args ...string) (string, *syncBuffer, chan int) {
	t.Helper()
	dir := t.TempDir()
	keys, _ := filepath.Abs("../../testdata/devkeys")
	addrFile := filepath.Join(dir, "addr")
	out := &syncBuffer{}
	served := make(chan int, 1)
	go func() {
		served <- run(ctx, append([]string{"serve", "--listen", "127.0.0.1:0", "--addr-file", addrFile,
			"--data-dir", filepath.Join(dir, "data"), "--keys", keys}, args...), out, out)
	}()
	deadline := time.Now().Add(serveStartWithin)
	for {
		if b, err := os.ReadFile(addrFile); err == nil {
			return string(b), out, served
		}
		select {
		case code := <-served:
			t.Fatalf("serve exited with %d: %s", code, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDrainKeepsListening: on SIGTERM (ctx cancelled) the node keeps its
// listener open for --shutdown-drain: /readyz answers 503 draining:true
// and a WebSocket arriving meanwhile is closed with 4000, as documented;
// then the node exits cleanly. (The listener used to close at once, so
// both were refused connections.)
func TestDrainKeepsListening(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addr, out, served := startServeCtx(t, ctx, "--shutdown-drain", "3s")
	if resp, err := http.Get("http://" + addr + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz before shutdown: %v %v", resp, err)
	}
	stop()
	var body struct {
		Ready, Draining bool
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			t.Fatalf("readyz while draining: %v", err)
		}
		code := resp.StatusCode
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if code == http.StatusServiceUnavailable {
			if !body.Draining || body.Ready {
				t.Fatalf("503 body %+v, want draining", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("readyz never turned 503")
		}
		time.Sleep(5 * time.Millisecond)
	}
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, "ws://"+addr+"/events/", nil)
	if err != nil {
		t.Fatalf("dial while draining: %v", err)
	}
	defer c.CloseNow()
	_, _, err = c.Read(dctx)
	if got := websocket.CloseStatus(err); got != 4000 {
		t.Fatalf("connection arriving while draining: %v, want close 4000", err)
	}
	select {
	case code := <-served:
		if code != 0 {
			t.Fatalf("serve exited with %d: %s", code, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	if _, err := http.Get("http://" + addr + "/readyz"); err == nil {
		t.Fatal("the listener is still open after the node stopped")
	}
}
