package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/arenacast/arenacast/broadcaster/natsbus"
)

// TestNATSListenFlags: the --nats-listen-* flags refuse combinations that
// cannot work, and an embedded NATS reachable beyond loopback that
// authenticates nobody, before anything starts.
func TestNATSListenFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "": accepted
	}{
		{[]string{"--nats-listen", "127.0.0.1:4222"}, ""},
		{[]string{"--nats-listen", "localhost:4222"}, ""},
		{[]string{"--nats-listen", "0.0.0.0:4222"}, "beyond loopback"},
		{[]string{"--nats-listen", ":4222"}, "beyond loopback"},
		{[]string{"--nats-listen", ":4222", "--nats-listen-tls-cert", "c", "--nats-listen-tls-key", "k"}, "beyond loopback"},
		{[]string{"--nats-listen", ":4222", "--nats-listen-insecure"}, ""},
		{[]string{"--nats-listen", ":4222", "--nats-listen-token-file", "t"}, ""},
		{[]string{"--nats-listen", ":4222", "--nats-listen-nkeys", "n"}, ""},
		{[]string{"--nats-listen", ":4222", "--nats-listen-user", "u", "--nats-listen-password-file", "p"}, ""},
		{[]string{"--nats-listen", ":4222", "--nats-listen-tls-cert", "c", "--nats-listen-tls-key", "k", "--nats-listen-tls-ca", "ca"}, ""},
		{[]string{"--nats-listen", ":4222", "--nats-listen-user", "u"}, "go together"},
		{[]string{"--nats-listen", ":4222", "--nats-listen-password-file", "p"}, "go together"},
		{[]string{"--nats-listen", ":4222", "--nats-listen-token-file", "t", "--nats-listen-nkeys", "n"}, "give one of"},
		{[]string{"--nats-listen", ":4222", "--nats-listen-tls-cert", "c", "--nats-listen-token-file", "t"}, "go together"},
		{[]string{"--nats-listen", ":4222", "--nats-listen-tls-ca", "ca", "--nats-listen-token-file", "t"}, "needs --nats-listen-tls-cert"},
		{[]string{"--nats-listen-token-file", "t"}, "need --nats-listen"},
		{[]string{"--nats-listen-insecure"}, "need --nats-listen"},
		{[]string{"--nats-url", "nats://n:4222", "--nats-listen", ":4222", "--nats-listen-token-file", "t"}, "do not go with --nats-url"},
		{[]string{"--nats-url", "nats://n:4222"}, ""},
	} {
		s := &Serve{Stdout: io.Discard, Stderr: io.Discard}
		err := s.ParseFlags(context.Background(), append([]string{"--keys", "k"}, tc.args...))
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// testFiles writes name → content files into one directory and returns
// their paths.
func testFiles(t *testing.T, files map[string][]byte) map[string]string {
	t.Helper()
	dir := t.TempDir()
	paths := map[string]string{}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		paths[name] = p
	}
	return paths
}

// joinNode runs a second `arenacast serve` on the first node's NATS with
// args and stops it when the test ends.
func joinNode(t *testing.T, natsURL string, args ...string) string {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	addr, out, served := startServeCtx(t, ctx, append([]string{"--shutdown-drain", "10ms", "--nats-url", natsURL}, args...)...)
	t.Cleanup(func() {
		stop()
		select {
		case code := <-served:
			if code != 0 {
				t.Errorf("the second node exited with %d: %s", code, out.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("the second node did not stop")
		}
	})
	return addr
}

// refusedNode runs a node with args that NATS must refuse, and checks that
// it exits at once (its --nats-connect-timeout is an hour) saying so.
func refusedNode(t *testing.T, natsURL string, args ...string) {
	t.Helper()
	keys, _ := filepath.Abs("../../testdata/devkeys")
	done := make(chan struct{})
	var code int
	var out syncBuffer
	go func() {
		defer close(done)
		code = run(context.Background(), append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data"),
			"--keys", keys, "--nats-url", natsURL, "--nats-connect-timeout", "1h"}, args...), &out, &out)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("%q: still trying after 60 s: %s", args, out.String())
	}
	if code == 0 || !strings.Contains(out.String(), "refused the connection") {
		t.Fatalf("%q: exit %d, output %s", args, code, out.String())
	}
}

// eventReaches listens on node addr for /contest/practice and publishes
// one event through node from, and checks that it arrives.
func eventReaches(t *testing.T, from *node, addr string) {
	t.Helper()
	code, tok := cli("token", "--key", from.key, "--user", "alice", "--contest", "practice")
	if code != 0 {
		t.Fatalf("token: %d %s", code, tok)
	}
	var out syncBuffer
	done := background(&out, "listen", "--url", "ws://"+addr+"/events/", "--token", strings.TrimSpace(tok),
		"--channel", "/contest/practice", "--count", "1", "--timeout", "60s")
	waitOutput(t, &out, done, `"type":"subscribed"`)
	if code, o := cli("publish", "--http", "http://"+from.addr, "--key", from.key, "--type", "run_update",
		"--channel", "/contest/practice", "--user", "alice", "--data", `{"guid":"g1","verdict":"AC"}`); code != 0 {
		t.Fatalf("publish: exit %d: %s", code, o)
	}
	waitOutput(t, &out, done, `"type":"run_update"`)
}

// TestServeNATSListenAuth: a second node joins a node's embedded NATS
// secured with NKeys and mutual TLS (and, through ARENACAST_ variables,
// with a password) and delivers the events published on the first; a node
// with a wrong key, without its client certificate, not trusting the CA or
// with a wrong password exits at once saying NATS refused it, and no
// secret appears in the logs.
func TestServeNATSListenAuth(t *testing.T) {
	t.Run("NKeys and mutual TLS", func(t *testing.T) {
		ca, caKey := newCert(t, nil, nil, "test CA", true)
		srv, srvKey := newCert(t, ca, caKey, "127.0.0.1", false)
		cl, clKey := newCert(t, ca, caKey, "node2", false)
		other, _ := newCert(t, nil, nil, "other CA", true)
		user, _ := nkeys.CreateUser()
		seed, _ := user.Seed()
		pub, _ := user.PublicKey()
		stranger, _ := nkeys.CreateUser()
		strangerSeed, _ := stranger.Seed()
		f := testFiles(t, map[string][]byte{
			"ca.pem": certPEM(ca), "srv.pem": certPEM(srv), "srv.key": keyPEM(t, srvKey),
			"cl.pem": certPEM(cl), "cl.key": keyPEM(t, clKey), "other-ca.pem": certPEM(other),
			"nkeys": []byte("# node 2\n" + pub + "\n"), "node2.nk": seed, "stranger.nk": strangerSeed,
		})
		first := startServe(t, "--nats-listen-nkeys", f["nkeys"],
			"--nats-listen-tls-cert", f["srv.pem"], "--nats-listen-tls-key", f["srv.key"], "--nats-listen-tls-ca", f["ca.pem"])
		if !strings.HasPrefix(first.natsURL, "tls://") {
			t.Fatalf("embedded NATS URL %s: want tls://", first.natsURL)
		}
		tlsArgs := []string{"--nats-tls-ca", f["ca.pem"], "--nats-tls-cert", f["cl.pem"], "--nats-tls-key", f["cl.key"]}
		second := joinNode(t, first.natsURL, append([]string{"--nats-nkey-seed", f["node2.nk"]}, tlsArgs...)...)
		eventReaches(t, first, second)

		refusedNode(t, first.natsURL, append([]string{"--nats-nkey-seed", f["stranger.nk"]}, tlsArgs...)...)
		refusedNode(t, first.natsURL, append(tlsArgs[:2:2], "--nats-nkey-seed", f["node2.nk"])...) // no client certificate
		refusedNode(t, first.natsURL, "--nats-nkey-seed", f["node2.nk"], "--nats-tls-ca", f["other-ca.pem"],
			"--nats-tls-cert", f["cl.pem"], "--nats-tls-key", f["cl.key"]) // does not trust the server
		refusedNode(t, first.natsURL, tlsArgs...) // no NKey
		if strings.Contains(first.log.String(), string(seed)) || strings.Contains(first.log.String(), string(strangerSeed)) {
			t.Fatal("an NKey seed appeared in the log")
		}
	})
	t.Run("password from files named by variables", func(t *testing.T) {
		f := testFiles(t, map[string][]byte{"pass": []byte("s3cret-listen\n"), "wrong": []byte("guess\n")})
		t.Setenv("ARENACAST_NATS_LISTEN_USER", "node")
		t.Setenv("ARENACAST_NATS_LISTEN_PASSWORD_FILE", f["pass"])
		first := startServe(t)
		os.Unsetenv("ARENACAST_NATS_LISTEN_USER") // t.Setenv restores them
		os.Unsetenv("ARENACAST_NATS_LISTEN_PASSWORD_FILE")
		second := joinNode(t, first.natsURL, "--nats-user", "node", "--nats-password-file", f["pass"])
		eventReaches(t, first, second)
		refusedNode(t, first.natsURL, "--nats-user", "node", "--nats-password-file", f["wrong"])
		refusedNode(t, first.natsURL) // no credential
		if strings.Contains(first.log.String(), "s3cret-listen") {
			t.Fatal("the password appeared in the log")
		}
	})
}

// TestPublishNATSAuth: arenacast publish --nats-url reaches an embedded
// NATS whose listener requires a token, with --nats-token-file, one event
// and --ndjson alike; without the token NATS refuses it.
func TestPublishNATSAuth(t *testing.T) {
	bus, err := natsbus.Open(context.Background(), natsbus.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		ListenAuth: natsbus.ListenAuth{Token: "t0ken-for-publishers"}})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	f := testFiles(t, map[string][]byte{"token": []byte("t0ken-for-publishers\n")})
	one := []string{"publish", "--nats-url", bus.ClientURL(), "--type", "run_update", "--channel", "/contest/practice", "--public"}
	if code, out := cli(append(one, "--nats-token-file", f["token"])...); code != 0 || !strings.Contains(out, `"id":"1"`) {
		t.Fatalf("with the token: exit %d: %s", code, out)
	}
	if code, out := cli(one...); code == 0 || !strings.Contains(strings.ToLower(out), "authorization violation") {
		t.Fatalf("without the token: exit %d: %s", code, out)
	}
	var out, errOut bytes.Buffer
	c := &Publish{Stdin: strings.NewReader(`{"type":"run_update","channel":"/contest/practice","public":true,"data":{}}` + "\n"), Stdout: &out, Stderr: &errOut}
	if err := c.ParseFlags(context.Background(), []string{"--nats-url", bus.ClientURL(), "--ndjson", "--nats-token-file", f["token"]}); err != nil {
		t.Fatal(err)
	}
	if err := c.Run(context.Background()); err != nil {
		t.Fatalf("--ndjson: %v: %s", err, errOut.String())
	}
	if id, err := bus.LastID(context.Background()); err != nil || id != 2 {
		t.Fatalf("stream at %d (%v), want 2 events stored", id, err)
	}
}
