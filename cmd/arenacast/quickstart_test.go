package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// node is a running `arenacast serve` for the CLI tests.
type node struct {
	addr, natsURL string
	log           *syncBuffer
	key           string // the development signing key
}

// startServe runs `arenacast serve` on port 0 (an embedded NATS, also on a
// port of its own) with args added, and stops it when the test ends.
func startServe(t *testing.T, args ...string) *node {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	addr, out, served := startServeCtx(t, ctx, append([]string{"--shutdown-drain", "10ms", "--nats-listen", "127.0.0.1:0"}, args...)...)
	t.Cleanup(func() {
		stop()
		select {
		case code := <-served:
			if code != 0 {
				t.Errorf("serve exited with %d: %s", code, out.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	keys, _ := filepath.Abs("../../testdata/devkeys")
	n := &node{addr: addr, log: out, key: filepath.Join(keys, "dev.pem")}
	m := regexp.MustCompile(`"embedded NATS listening" url=(\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no NATS address in the log: %s", out.String())
	}
	n.natsURL = m[1]
	return n
}

// cli runs one arenacast command to its end and returns its exit code and
// output.
func cli(args ...string) (int, string) {
	var out bytes.Buffer
	code := run(context.Background(), args, &out, &out)
	return code, out.String()
}

// background runs one arenacast command on a goroutine; its exit code
// arrives on the channel.
func background(out *syncBuffer, args ...string) chan int {
	done := make(chan int, 1)
	go func() { done <- run(context.Background(), args, out, out) }()
	return done
}

// waitOutput waits until out contains want, failing if the command ends
// first.
func waitOutput(t *testing.T, out *syncBuffer, done chan int, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(out.String(), want) {
		select {
		case code := <-done:
			done <- code
			if !strings.Contains(out.String(), want) {
				t.Fatalf("exited with %d before printing %q: %s", code, want, out.String())
			}
		case <-deadline:
			t.Fatalf("no %q in: %s", want, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestQuickstart runs the README's Quickstart literally, twice on one data
// directory: the second time a stored scoreboard exists, and the listener
// still prints both new events (the stored one, marked "snapshot":true,
// does not count).
func TestQuickstart(t *testing.T) {
	n := startServe(t)
	for round := 1; round <= 2; round++ {
		code, tok := cli("token", "--key", n.key, "--user", "alice", "--contest", "practice")
		if code != 0 {
			t.Fatalf("token: %d %s", code, tok)
		}
		var out syncBuffer
		done := background(&out, "listen", "--url", "ws://"+n.addr+"/events/", "--token", strings.TrimSpace(tok),
			"--channel", "/contest/practice", "--count", "2")
		waitOutput(t, &out, done, `"type":"subscribed"`)
		// Both modes print the same line: {"id":"...","channel":"..."}.
		var ids []string
		for _, args := range [][]string{
			{"--http", "http://" + n.addr, "--key", n.key, "--type", "run_update",
				"--channel", "/contest/practice", "--user", "alice", "--data", `{"guid":"g1","verdict":"AC"}`},
			{"--nats-url", n.natsURL, "--type", "scoreboard_update",
				"--channel", "/contest/practice", "--public", "--data", `{"contest_alias":"practice"}`},
		} {
			code, o := cli(append([]string{"publish"}, args...)...)
			var printed struct{ ID, Channel string }
			if err := json.Unmarshal([]byte(o), &printed); code != 0 || err != nil || printed.ID == "" || printed.Channel != "/contest/practice" {
				t.Fatalf("publish %s: exit %d, printed %q", args[0], code, o)
			}
			ids = append(ids, printed.ID)
		}
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("round %d: listen exited with %d: %s", round, code, out.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: listen did not exit: %s", round, out.String())
		}
		var types []string
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var m struct {
				Type     string `json:"type"`
				Snapshot bool   `json:"snapshot"`
			}
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("round %d: not JSON: %q", round, line)
			}
			if m.Snapshot {
				m.Type += " (snapshot)"
			}
			types = append(types, m.Type)
		}
		want := "auth_success subscribed run_update scoreboard_update"
		if round == 2 {
			want = "auth_success subscribed scoreboard_update (snapshot) run_update scoreboard_update"
		}
		if got := strings.Join(types, " "); got != want {
			t.Fatalf("round %d printed %s, want %s:\n%s", round, got, want, out.String())
		}
		for _, id := range ids {
			if !strings.Contains(out.String(), `"id":"`+id+`"`) {
				t.Fatalf("round %d: published id %s not in:\n%s", round, id, out.String())
			}
		}
	}
}

// TestListenFailures: listen ends at once, with exit 1 and the server's
// error, when the server refuses it; the server's auth deadline is an hour,
// so waiting for it would time the test out. A --timeout ends it with 0
// only when nothing was owed.
func TestListenFailures(t *testing.T) {
	n := startServe(t, "--auth-timeout", "1h")
	_, tok := cli("token", "--key", n.key, "--user", "alice", "--contest", "practice")
	tok = strings.TrimSpace(tok)
	url := "ws://" + n.addr + "/events/"
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad token", []string{"--token", "x.y.z", "--channel", "/contest/practice"}, 1, "auth refused: unauthorized: authentication failed"},
		{"bad token with --timeout", []string{"--token", "x.y.z", "--channel", "/contest/practice", "--timeout", "1h"}, 1, "auth refused: unauthorized"},
		{"forbidden channel only", []string{"--token", tok, "--channel", "/contest/other"}, 1, "subscribe to /contest/other refused: unauthorized: not allowed on this channel"},
		{"one forbidden channel of two", []string{"--token", tok, "--channel", "/contest/practice", "--channel", "/contest/other"}, 1, "subscribe to /contest/other refused"},
		{"no token", []string{"--channel", "/contest/practice"}, 1, "subscribe to /contest/practice refused: unauthorized: authenticate first"},
		{"timeout before --count", []string{"--token", tok, "--channel", "/contest/practice", "--count", "1", "--timeout", "300ms"}, 1, "--timeout 300ms reached after 0 of 1 events"},
		{"timeout without --count", []string{"--token", tok, "--channel", "/contest/practice", "--timeout", "300ms"}, 0, `"type":"subscribed"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out syncBuffer
			done := background(&out, append([]string{"listen", "--url", url}, tc.args...)...)
			select {
			case code := <-done:
				if code != tc.code || !strings.Contains(out.String(), tc.want) {
					t.Fatalf("exit %d, want %d with %q:\n%s", code, tc.code, tc.want, out.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("listen still running:\n%s", out.String())
			}
		})
	}
}

// TestDemoRoot: with --demo, GET / sends a browser to the demo page.
func TestDemoRoot(t *testing.T) {
	key, _ := filepath.Abs("../../testdata/devkeys/dev.pem")
	n := startServe(t, "--demo", "--demo-key", key)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get("http://" + n.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/demo/" {
		t.Fatalf("GET /: %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	resp, err = http.Get("http://" + n.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("following the redirect: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
}
