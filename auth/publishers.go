package auth

import (
	"sync"
	"time"
)

// PublisherCacheTTL is the longest VerifyPublisher goes on accepting a
// token without verifying it again.
const PublisherCacheTTL = time.Minute

// publisherCacheMax bounds the tokens VerifyPublisher remembers. Real
// deployments have a handful of publishers; past the bound the expired
// entries go, and if none had, all of them (the next requests verify again).
const publisherCacheMax = 256

// publisherCache holds accepted publisher tokens with the time until
// which each stays accepted. The zero value is empty and ready.
type publisherCache struct {
	mu      sync.Mutex // guards entries
	entries map[string]publisherEntry
}

type publisherEntry struct {
	p     *Principal // immutable, shared by the requests that present the token
	until time.Time  // accepted before this instant
}

// get returns the principal of token if it is remembered and now is
// before its time, else nil.
func (c *publisherCache) get(token string, now time.Time) *Principal {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[token]
	if !ok {
		return nil
	}
	if !now.Before(e.until) {
		delete(c.entries, token)
		return nil
	}
	return e.p
}

// put remembers token's principal until until.
func (c *publisherCache) put(token string, p *Principal, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]publisherEntry)
	}
	if _, ok := c.entries[token]; !ok && len(c.entries) >= publisherCacheMax {
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= publisherCacheMax {
			clear(c.entries)
		}
	}
	c.entries[token] = publisherEntry{p: p, until: until}
}
