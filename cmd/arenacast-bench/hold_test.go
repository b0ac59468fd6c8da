package main

import (
	"context"
	"strings"
	"testing"
)

// TestHoldShare: the shares of events sent to n channels in turn add up
// to the events, and differ by at most one.
func TestHoldShare(t *testing.T) {
	tests := []struct {
		events, n int
		want      []int // by channel
	}{
		{10, 1, []int{10}},
		{10, 0, []int{10}},
		{10, 3, []int{4, 3, 3}},
		{2, 5, []int{1, 1, 0, 0, 0}},
		{600000, 500, nil}, // 1,200 each
	}
	for _, tt := range tests {
		sum := 0
		for k := range max(tt.n, 1) {
			got := holdShare(tt.events, k, tt.n)
			if tt.want != nil && got != tt.want[k] {
				t.Errorf("holdShare(%d, %d, %d) = %d, want %d", tt.events, k, tt.n, got, tt.want[k])
			}
			if tt.want == nil && got != tt.events/tt.n {
				t.Errorf("holdShare(%d, %d, %d) = %d, want %d", tt.events, k, tt.n, got, tt.events/tt.n)
			}
			sum += got
		}
		if sum != tt.events {
			t.Errorf("%d events over %d channels: shares add up to %d", tt.events, tt.n, sum)
		}
	}
}

// TestHoldChannel: one channel keeps the name earlier runs (multi.sh) use;
// several are numbered.
func TestHoldChannel(t *testing.T) {
	if c, ch := holdChannel("bench", 0, 1); c != "bench-hold" || ch != "/contest/bench-hold" {
		t.Errorf("one channel: %q %q", c, ch)
	}
	if c, ch := holdChannel("bench", 7, 500); c != "bench-hold7" || ch != "/contest/bench-hold7" {
		t.Errorf("channel 7 of 500: %q %q", c, ch)
	}
}

// TestHoldRefusesFewerEventsThanChannels: a channel without events would
// make its clients count as done, so hold refuses before connecting.
func TestHoldRefusesFewerEventsThanChannels(t *testing.T) {
	b := &bench{cfg: config{clients: 10, channels: 5, events: 4}}
	if _, err := b.hold(context.Background()); err == nil || !strings.Contains(err.Error(), "fewer than --channels") {
		t.Fatalf("hold with 4 events over 5 channels: %v; want a refusal", err)
	}
}
