package natsbus

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitFor is the generous deadline of every wait here (a busy 2-core
// machine under -race).
const waitFor = 20 * time.Second

// logBuffer collects a logger's output; safe for the NATS client's
// goroutines and the test's reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// open starts a Bus for the test and closes it when the test ends.
func open(t *testing.T, cfg Config) *Bus {
	t.Helper()
	if cfg.DataDir == "" && cfg.URL == "" {
		cfg.DataDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	b, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// eventually waits for cond, failing with what after waitFor.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDisconnectLogging: closing the bus is no warning; losing the server
// is one, with the error.
func TestDisconnectLogging(t *testing.T) {
	var own logBuffer
	b := open(t, Config{Logger: own.logger()})
	b.Close()
	if strings.Contains(own.String(), "level=WARN") || !strings.Contains(own.String(), `msg="nats connection closed"`) {
		t.Fatalf("a normal close logged:\n%s", own.String())
	}

	server := open(t, Config{Listen: "127.0.0.1:0"})
	var client logBuffer
	open(t, Config{URL: server.ClientURL(), Logger: client.logger()})
	server.Close()
	eventually(t, "a warning for the lost server", func() bool {
		return strings.Contains(client.String(), `level=WARN msg="nats disconnected" err=`)
	})
	if strings.Contains(client.String(), "err=<nil>") {
		t.Fatalf("logged a nil error:\n%s", client.String())
	}
}
