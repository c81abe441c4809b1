package ratelimit

import (
	"sync"
	"time"
)

// denyCache remembers keys that Redis denied until a known time, so that
// their requests on this process are denied without a round trip until
// then.
//
// It holds at most size keys. An insert into a full cache first drops every
// expired entry and, if none had expired, one arbitrary entry (the first in
// Go's map order). It is safe for concurrent use.
type denyCache struct {
	mu      sync.Mutex
	size    int
	entries map[string]denyEntry
	// removals counts calls to remove. A denial decided while a removal
	// ran may predate it, so put drops it (see generation).
	removals uint64
}

type denyEntry struct {
	until   time.Time // denied until this time on the limiter's clock
	resetAt time.Time
	limit   float64
	reason  Reason
}

func newDenyCache(size int) *denyCache {
	return &denyCache{size: size, entries: make(map[string]denyEntry)}
}

// get returns the cached denial of key at now, if there is one.
func (c *denyCache) get(key string, now time.Time, period time.Duration) (Result, bool) {
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok && !now.Before(e.until) {
		delete(c.entries, key)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return Result{}, false
	}
	return Result{
		Allowed:    false,
		Limit:      e.limit,
		Remaining:  0,
		RetryAfter: e.until.Sub(now),
		ResetAfter: max(e.resetAt.Sub(now), 0),
		Period:     period,
		Reason:     e.reason,
		Source:     SourceDenyCache,
	}, true
}

// generation returns a value to pass to put for a decision that starts
// now.
func (c *denyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.removals
}

// put caches the denial res of key, made at now, for wait, unless an entry
// was removed since gen was read: the denial may then come from a state
// that a Reset or a limit change has replaced.
func (c *denyCache) put(key string, now time.Time, wait time.Duration, res Result, gen uint64) {
	if wait <= 0 {
		return
	}
	e := denyEntry{
		until:   now.Add(wait),
		resetAt: now.Add(res.ResetAfter),
		limit:   res.Limit,
		reason:  res.Reason,
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removals != gen {
		return
	}
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.size {
		c.evictLocked(now)
	}
	c.entries[key] = e
}

func (c *denyCache) evictLocked(now time.Time) {
	before := len(c.entries)
	for k, e := range c.entries {
		if !now.Before(e.until) {
			delete(c.entries, k)
		}
	}
	if len(c.entries) < before {
		return
	}
	for k := range c.entries {
		delete(c.entries, k)
		return
	}
}

func (c *denyCache) remove(key string) {
	c.mu.Lock()
	delete(c.entries, key)
	c.removals++
	c.mu.Unlock()
}

func (c *denyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
