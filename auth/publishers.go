package auth

import (
	"crypto/sha256"
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

// UserCacheTTL is the longest Verify goes on accepting a user token
// without checking its signature again.
const UserCacheTTL = 10 * time.Minute

// userCacheMax bounds the user tokens Verify remembers (~100 bytes each
// and the principal, which the connections holding it share).
const userCacheMax = 1 << 16

// tokenCache holds accepted tokens, under key K, with their principals and
// the time until which each stays accepted. Set max before first use.
type tokenCache[K comparable] struct {
	max     int        // the bound on entries
	mu      sync.Mutex // guards entries
	entries map[K]cacheEntry
}

type cacheEntry struct {
	p     *Principal // immutable, shared by the requests that present the token
	since time.Time  // when it was verified: a clock set back before it misses
	until time.Time  // accepted before this instant
}

// publisherCache is VerifyPublisher's: keyed by the token itself.
type publisherCache = tokenCache[string]

// userCache is Verify's: keyed by the token's SHA-256, so an entry does not
// keep the token's few hundred bytes. Finding a second token with the same
// digest is not feasible, so a hit is the very token once verified.
type userCache = tokenCache[[sha256.Size]byte]

// get returns the principal under key if it is remembered and now is
// within [since, until), else nil. Times are compared as wall clock
// readings (the callers strip the monotonic one), as jwt compares them.
func (c *tokenCache[K]) get(key K, now time.Time) *Principal {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil
	}
	if now.Before(e.since) || !now.Before(e.until) {
		delete(c.entries, key)
		return nil
	}
	return e.p
}

// put remembers key's principal, verified at now, until until. When the
// cache is full it drops the expired entries, and all of them if that
// frees less than a quarter of the bound, so a full cache is not scanned
// on every insert.
func (c *tokenCache[K]) put(key K, p *Principal, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[K]cacheEntry)
	}
	limit := c.max
	if _, ok := c.entries[key]; !ok && len(c.entries) >= limit {
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) > limit-limit/4 {
			clear(c.entries)
		}
	}
	c.entries[key] = cacheEntry{p: p, since: now, until: until}
}

// len reports how many entries are held (tests).
func (c *tokenCache[K]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
