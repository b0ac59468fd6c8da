package ccs

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is the wait before retry attempt (0 for the first): minD
// doubling up to maxD, drawn from its upper half so that nodes that failed
// together do not all retry together.
func backoff(minD, maxD time.Duration, attempt int) time.Duration {
	d := minD << min(attempt, 20)
	if d > maxD || d <= 0 {
		d = maxD
	}
	return d/2 + rand.N(d/2+1)
}

// sleepCtx waits d, or less if ctx ends first; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
