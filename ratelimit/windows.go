package ratelimit

import "sync"

// windowMemory records, per key, the fixed window that this process last
// saw in Redis: the header that identifies it, the whole units it admits
// and when it ends. A decision in a remembered window sends the header and
// the cap, so that the script decides with one INCRBY. Any other decision
// runs the script in read mode, which reads the state and the override
// first (see fixedWindowScript).
//
// It holds at most size keys, about 200 bytes each with their Redis key
// names. Adding a key to a full record drops one
// arbitrary key (the first in Go's map order), whose next decision then
// bills 3 commands instead of 2. It is safe for concurrent use.
type windowMemory struct {
	mu   sync.RWMutex // read-locked by every decision, locked when a window begins
	size int
	m    map[string]window
}

// window is a fixed window as the script reported it.
type window struct {
	header   int64 // the state's value divided by fixedWindowUnit
	capacity int64 // whole units the window admits
	end      int64 // end of the window on this process's clock, in microseconds since the Unix epoch
	seenAt   int64 // the time in timeArg, when this process first saw the window

	// The script's arguments for a decision in this window, converted to
	// interface values once per window instead of once per decision. They
	// are the two keys, header*2^28 + capacity, and the "now period limit"
	// argument with the time at which this process first saw the window.
	stateKeyArg, overrideKeyArg, windowArg, timeArg any
}

func newWindowMemory(size int) *windowMemory {
	return &windowMemory{size: size, m: make(map[string]window)}
}

// current returns the remembered window of key if it has not ended at now
// (microseconds).
func (w *windowMemory) current(key string, now int64) (window, bool) {
	w.mu.RLock()
	win, ok := w.m[key]
	w.mu.RUnlock()
	return win, ok && now < win.end
}

func (w *windowMemory) remember(key, stateKey, overrideKey, timeArg string, win window) {
	win.stateKeyArg, win.overrideKeyArg = stateKey, overrideKey
	win.windowArg, win.timeArg = win.header<<28|win.capacity, timeArg
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.m[key]; !ok && len(w.m) >= w.size {
		for k := range w.m {
			delete(w.m, k)
			break
		}
	}
	w.m[key] = win
}

func (w *windowMemory) forget(key string) {
	w.mu.Lock()
	delete(w.m, key)
	w.mu.Unlock()
}
