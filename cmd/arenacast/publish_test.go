package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arenacast/arenacast/broadcaster/natsbus"
)

// ndjsonInput is four events, one of them malformed, and a blank line.
const ndjsonInput = `{"type":"run_update","channel":"/contest/nd","public":true,"data":{"n":1}}
{"type":"run_update","channel":"/contest/nd","pubilc":true,"data":{}}

{"type":"run_update","channel":"/contest/nd2","data":{"n":2}}
{"type":"contest_update","channel":"/contest/nd","public":true,"data":{"n":3}}`

// checkNDJSONResults checks publish --ndjson's output for ndjsonInput: one
// result per event in order, ids increasing, the malformed event failed
// alone.
func checkNDJSONResults(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d result lines, want 4: %s", len(lines), out)
	}
	var prev uint64
	for i, line := range lines {
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %d: %q: %v", i, line, err)
		}
		if i == 1 {
			if r.Error != "bad_request" || !strings.Contains(r.Message, "pubilc") {
				t.Fatalf("line %d: %+v, want the unknown field named", i, r)
			}
			continue
		}
		id, err := strconv.ParseUint(r.ID, 10, 64)
		if err != nil || id <= prev || r.Error != "" {
			t.Fatalf("line %d: %+v after id %d", i, r, prev)
		}
		prev = id
	}
}

// TestPublishNDJSONOverNATS: publish --ndjson straight onto JetStream, with
// a window smaller than the input so that it waits for acknowledgements.
func TestPublishNDJSONOverNATS(t *testing.T) {
	bus, err := natsbus.Open(context.Background(), natsbus.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	var out, errOut bytes.Buffer
	c := &Publish{Stdin: strings.NewReader(ndjsonInput), Stdout: &out, Stderr: &errOut}
	if err := c.ParseFlags(context.Background(), []string{"--nats-url", bus.ClientURL(), "--ndjson", "--batch", "2"}); err != nil {
		t.Fatal(err)
	}
	err = c.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "1 of 4 events failed") {
		t.Fatalf("Run: %v, want 1 of 4 failed", err)
	}
	checkNDJSONResults(t, out.String())
	if id, err := bus.LastID(context.Background()); err != nil || id != 3 {
		t.Fatalf("stream at %d (%v), want 3 events stored", id, err)
	}
}

// TestPublishNDJSONFlags: --ndjson refuses the single-event flags.
func TestPublishNDJSONFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--http", "http://x", "--ndjson", "--type", "run_update"},
		{"--http", "http://x", "--ndjson", "--channel", "/contest/a"},
		{"--http", "http://x", "--ndjson", "--batch", "0"},
	} {
		c := &Publish{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
		if err := c.ParseFlags(context.Background(), args); err == nil {
			t.Errorf("ParseFlags(%q) accepted", args)
		}
	}
}

// publishNDJSONOverHTTP runs publish --ndjson against a running server (from
// TestEndToEnd), in batches of 2 with a slow second half of the input, so
// a partial batch leaves on the linger timer.
func publishNDJSONOverHTTP(t *testing.T, addr, key string) {
	t.Helper()
	pr, pw := io.Pipe()
	var out, errOut bytes.Buffer
	c := &Publish{Stdin: pr, Stdout: &out, Stderr: &errOut}
	if err := c.ParseFlags(context.Background(), []string{"--http", "http://" + addr, "--key", key, "--ndjson", "--batch", "2", "--linger", "1ms"}); err != nil {
		t.Fatal(err)
	}
	go func() {
		lines := strings.SplitAfter(ndjsonInput, "\n")
		for i, l := range lines {
			pw.Write([]byte(l))
			if i == 0 {
				time.Sleep(20 * time.Millisecond) // not a synchronization: only spreads the input over batches
			}
		}
		pw.Close()
	}()
	err := c.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "1 of 4 events failed") {
		t.Fatalf("Run: %v, want 1 of 4 failed (%s)", err, errOut.String())
	}
	checkNDJSONResults(t, out.String())
}
