package ratelimit

import "sync"

// windowMemory records, per key, the last fixed window that this process
// saw begun in Redis. A decision in a window it has not seen asks the script
// to read before it increments, which bills 3 commands where a blind
// BITFIELD that finds no window would bill 4.
//
// It holds at most size keys. Adding a key to a full record drops one
// arbitrary key (the first in Go's map order), so that key's next decision
// bills 3 commands instead of 2. It is safe for concurrent use.
type windowMemory struct {
	mu   sync.Mutex
	size int
	m    map[string]int64
}

func newWindowMemory(size int) *windowMemory {
	return &windowMemory{size: size, m: make(map[string]int64)}
}

// begun reports whether this process has seen window idx of key begun.
func (w *windowMemory) begun(key string, idx int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	last, ok := w.m[key]
	return ok && last >= idx
}

func (w *windowMemory) remember(key string, idx int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.m[key]; !ok && len(w.m) >= w.size {
		for k := range w.m {
			delete(w.m, k)
			break
		}
	}
	w.m[key] = idx
}

func (w *windowMemory) forget(key string) {
	w.mu.Lock()
	delete(w.m, key)
	w.mu.Unlock()
}
