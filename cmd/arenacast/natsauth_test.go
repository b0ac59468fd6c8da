package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TestServeNATSAuth: serve reaches a nats-server that requires a
// password, read from --nats-password-file; with a wrong one it exits at
// once (not after --nats-connect-timeout) saying NATS refused it, and
// never prints the password.
func TestServeNATSAuth(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true, Username: "node", Password: "s3cret-pass"})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(20 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	url := "nats://" + ns.Addr().String()
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	os.WriteFile(good, []byte("s3cret-pass\n"), 0o600)
	os.WriteFile(bad, []byte("wrong-pass\n"), 0o600)

	ctx, stop := context.WithCancel(context.Background())
	addr, out, served := startServeCtx(t, ctx, "--nats-url", url, "--nats-user", "node", "--nats-password-file", good, "--shutdown-drain", "10ms")
	if addr == "" {
		t.Fatal("no address")
	}
	stop()
	if code := <-served; code != 0 {
		t.Fatalf("serve exited with %d: %s", code, out.String())
	}

	keys, _ := filepath.Abs("../../testdata/devkeys")
	var buf syncBuffer
	code := run(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
		"--keys", keys, "--nats-url", url, "--nats-user", "node", "--nats-password-file", bad, "--nats-connect-timeout", "1h"}, &buf, &buf)
	if code == 0 || !strings.Contains(buf.String(), "refused the connection") {
		t.Fatalf("a wrong password: exit %d, output %s", code, buf.String())
	}
	if strings.Contains(buf.String(), "wrong-pass") || strings.Contains(out.String(), "s3cret-pass") {
		t.Fatal("a password was printed")
	}
}
