package ratelimit

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"
)

// denyCache remembers keys that Redis denied until a known time, so that
// their requests on this process are denied without a round trip until
// then.
//
// It holds at most size keys (nothing when size is zero or less). A
// min-heap orders the entries by the end of their denial, so an insert into
// a full cache evicts the entry that expires first, which is an expired
// entry when there is one. Every operation costs at most O(log size) under
// the mutex. It is safe for concurrent use.
type denyCache struct {
	mu      sync.Mutex
	size    int
	entries map[string]*denyEntry
	byUntil denyHeap // the same entries as in entries
	// removals counts calls to remove. A denial decided while a removal
	// ran may predate it, so put drops it (see generation).
	removals atomic.Uint64
	// count mirrors len(entries), so that get skips the mutex while the
	// cache is empty, as it is while no key is denied.
	count atomic.Int64
}

type denyEntry struct {
	key     string
	until   time.Time // denied until this time on the limiter's clock
	resetAt time.Time
	limit   float64
	reason  Reason
	index   int // position in denyCache.byUntil
}

func newDenyCache(size int) *denyCache {
	return &denyCache{size: size, entries: make(map[string]*denyEntry)}
}

// get returns the cached denial of key at now, if there is one, and deletes
// the entry when its denial has ended.
func (c *denyCache) get(key string, now time.Time, period time.Duration) (Result, bool) {
	if c.count.Load() == 0 {
		return Result{}, false
	}
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok && !now.Before(e.until) {
		c.deleteLocked(e)
		ok = false
	}
	var found denyEntry
	if ok {
		// A copy, because put reuses the entry of an evicted key.
		found = *e
	}
	c.mu.Unlock()
	if !ok {
		return Result{}, false
	}
	return Result{
		Allowed:    false,
		Limit:      found.limit,
		Remaining:  0,
		RetryAfter: found.until.Sub(now),
		ResetAfter: max(found.resetAt.Sub(now), 0),
		Period:     period,
		Reason:     found.reason,
		Source:     SourceDenyCache,
	}, true
}

// generation returns a value to pass to put for a decision that starts
// now.
func (c *denyCache) generation() uint64 {
	return c.removals.Load()
}

// put caches the denial res of key, made at now, for wait, unless an entry
// was removed since gen was read: the denial may then come from a state
// that a Reset or a limit change has replaced.
func (c *denyCache) put(key string, now time.Time, wait time.Duration, res Result, gen uint64) {
	if wait <= 0 || c.size <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removals.Load() != gen {
		return
	}

	e, ok := c.entries[key]
	switch {
	case ok:
		c.fill(e, now, wait, res)
		heap.Fix(&c.byUntil, e.index)
		return
	case len(c.entries) >= c.size:
		// Evict the entry that expires first and reuse it for key.
		e = heap.Pop(&c.byUntil).(*denyEntry)
		delete(c.entries, e.key)
	default:
		e = new(denyEntry)
	}
	e.key = key
	c.fill(e, now, wait, res)
	c.entries[key] = e
	heap.Push(&c.byUntil, e)
	c.count.Store(int64(len(c.entries)))
}

func (c *denyCache) fill(e *denyEntry, now time.Time, wait time.Duration, res Result) {
	e.until = now.Add(wait)
	e.resetAt = now.Add(res.ResetAfter)
	e.limit = res.Limit
	e.reason = res.Reason
}

func (c *denyCache) deleteLocked(e *denyEntry) {
	heap.Remove(&c.byUntil, e.index)
	delete(c.entries, e.key)
	c.count.Store(int64(len(c.entries)))
}

func (c *denyCache) remove(key string) {
	c.mu.Lock()
	if e, ok := c.entries[key]; ok {
		c.deleteLocked(e)
	}
	c.removals.Add(1)
	c.mu.Unlock()
}

func (c *denyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// denyHeap is a min-heap of entries on until, for container/heap. It keeps
// each entry's index up to date so that an entry can be fixed or removed
// in place.
type denyHeap []*denyEntry

func (h denyHeap) Len() int           { return len(h) }
func (h denyHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }

func (h denyHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *denyHeap) Push(x any) {
	e := x.(*denyEntry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *denyHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
