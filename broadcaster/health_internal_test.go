package broadcaster

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// TestConsumerStalledRule: the readiness rule for a consumer that keeps
// up or not, case by case.
func TestConsumerStalledRule(t *testing.T) {
	const window = time.Second
	long := time.Now().Add(-time.Hour).UnixNano()
	cases := []struct {
		name    string
		pos     uint64
		at      int64  // when pos last moved
		last    uint64 // the stream's newest id
		moves   bool   // the consumer moves during the probe's grace
		stalled bool
	}{
		{"caught up, idle for long", 10, long, 10, false, false},
		{"behind, moved just now", 10, time.Now().UnixNano(), 12, false, false},
		{"behind after a quiet spell, then routes one", 10, long, 13, true, false},
		{"behind and not moving", 10, long, 13, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newBenchServer(t, 16)
			srv.opts.ConsumerStall = window
			srv.progress.pos.Store(tc.pos)
			srv.progress.at.Store(tc.at)
			done := make(chan struct{})
			if tc.moves {
				go func() {
					defer close(done)
					// Once the probe waits out its grace, the consumer moves.
					pollUntil(t, func() bool {
						for _, g := range goroutines() {
							if bytes.Contains(g, []byte("[select")) && bytes.Contains(g, []byte("consumerStalled")) {
								return true
							}
						}
						return false
					})
					srv.progress.pos.Store(tc.pos + 1)
				}()
			} else {
				close(done)
			}
			got := srv.consumerStalled(context.Background(), tc.last)
			<-done
			if got != tc.stalled {
				t.Fatalf("stalled = %v, want %v", got, tc.stalled)
			}
		})
	}
}
