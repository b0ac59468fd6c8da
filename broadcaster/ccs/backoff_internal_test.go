package ccs

import (
	"testing"
	"time"
)

// TestBackoff: each wait lies in the upper half of minD doubled per
// attempt, capped at maxD, also for attempts far past the cap.
func TestBackoff(t *testing.T) {
	const minD, maxD = 100 * time.Millisecond, 30 * time.Second
	for _, tc := range []struct {
		attempt int
		full    time.Duration
	}{
		{0, minD},
		{1, 2 * minD},
		{3, 8 * minD},
		{9, maxD}, // 51.2 s capped
		{1000, maxD},
	} {
		for range 50 {
			if d := backoff(minD, maxD, tc.attempt); d < tc.full/2 || d > tc.full {
				t.Fatalf("attempt %d: %v, want within [%v, %v]", tc.attempt, d, tc.full/2, tc.full)
			}
		}
	}
}
