package main

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

func TestParseFlagsRestartAndHold(t *testing.T) {
	c, err := parseFlags([]string{"--preset", "restart,hold,publish", "--restart-cmd", "true",
		"--max-backoff", "500ms", "--run-id", "42", "--events", "3", "--event-rate", "2", "--hold", "5s", "--ready-file", "/tmp/x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c.presets) != "[restart hold publish]" || c.restartCmd != "true" || c.maxBackoff != 500*time.Millisecond ||
		c.runID != 42 || c.events != 3 || c.eventRate != 2 || c.hold != 5*time.Second || c.readyFile != "/tmp/x" {
		t.Errorf("parsed %+v", c)
	}
	for _, bad := range [][]string{
		{"--run-id", "-1"},
		{"--run-id", "1000000000"},
		{"--events", "-1"},
		{"--event-rate", "0"},
		{"--max-backoff", "0s"},
		{"--preset", "reboot"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestNewMeterRunID(t *testing.T) {
	b := &bench{cfg: config{runID: 7}}
	if m := b.newMeter(); m.runID != 7 {
		t.Errorf("runID %d, want 7", m.runID)
	}
}

func TestErrorKind(t *testing.T) {
	for err, want := range map[error]string{
		errors.New("dial tcp 127.0.0.3:0->127.0.0.1:18680: connect: connection refused"): "connection refused",
		errors.New("read tcp 127.0.0.3:1->127.0.0.1:2: read: connection reset by peer"):  "connection reset",
		errors.New("not subscribed in time: context deadline exceeded"):                  "not subscribed in time",
		errors.New("upgrade refused: 503 Service Unavailable: draining"):                 "upgrade refused: 503 Service Unavailable: draining",
	} {
		if got := errorKind(err); got != want {
			t.Errorf("errorKind(%q) = %q, want %q", err, got, want)
		}
	}
}

func TestParseFlagsChannelsAndHTTPPublish(t *testing.T) {
	c, err := parseFlags([]string{"--preset", "channels", "--publish-http", "http://127.0.0.1:1", "--publish-batch", "50", "--publish-linger", "2ms", "--publish-inflight", "16"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c.presets) != "[channels]" || c.publishHTTP != "http://127.0.0.1:1" || c.publishBatch != 50 ||
		c.publishLinger != 2*time.Millisecond || c.publishInFlight != 16 || c.ratesSet || c.channelsSet {
		t.Errorf("parsed %+v", c)
	}
	if c, err = parseFlags([]string{"--rates", "10", "--channels", "3"}, io.Discard); err != nil || !c.ratesSet || !c.channelsSet {
		t.Errorf("--rates/--channels given: %+v %v", c, err)
	}
	for _, bad := range [][]string{{"--publish-batch", "0"}, {"--publish-linger", "-1ms"}, {"--publish-inflight", "0"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
