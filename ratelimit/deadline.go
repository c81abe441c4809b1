package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlines hands out the contexts that bound each Redis call by the
// per-call timeout. A context.WithTimeout per call starts and stops a
// runtime timer per decision, which cost about a microsecond per decision
// in the peer benchmark, as much as the rest of the limiter's own work.
// Instead, calls whose deadlines fall in the same tick share one timer and
// one channel. The tick is 1 ms, or timeout/64 for timeouts above 64 ms. A
// call's deadline is the last tick boundary before now+timeout+1ms, which is
// at most 1 ms past the timeout and less than one tick short of it.
// Rounding up to a 15.6 ms tick at a 1 s timeout would overshoot it by more
// than the few milliseconds a caller allows for.
//
// The map holds one bucket per tick that still has a pending deadline, at
// most timeout/tick + 2 of them, because each bucket removes itself when
// its timer fires. It is safe for concurrent use.
type deadlines struct {
	timeout time.Duration
	tick    time.Duration

	// last is the bucket handed out last, read without the mutex: calls
	// in the same tick find their bucket there.
	last atomic.Pointer[deadlineBucket]

	mu      sync.Mutex
	buckets map[int64]*deadlineBucket
}

type deadlineBucket struct {
	k    int64 // the deadline in ticks since the Unix epoch
	at   time.Time
	done chan struct{}
}

func newDeadlines(timeout time.Duration) *deadlines {
	return &deadlines{
		timeout: timeout,
		tick:    max(time.Millisecond, timeout/64),
		buckets: make(map[int64]*deadlineBucket),
	}
}

// start returns a context that is done at the shared deadline, or parent
// itself when parent ends first. The context reports its parent's error
// once the parent ends, but its Done channel closes only at the deadline.
// So go-redis, which blocks on Done while it waits for a pooled connection
// or between retries and bounds socket reads by Deadline, notices a
// cancelled parent at the deadline at the latest. The limiter's own wait
// for a worker selects on the parent too and notices it at once.
func (d *deadlines) start(parent context.Context) context.Context {
	k := (time.Now().Add(d.timeout).UnixNano() + int64(time.Millisecond) - 1) / int64(d.tick)
	b := d.last.Load()
	if b == nil || b.k != k {
		b = d.bucket(k)
	}
	if at, ok := parent.Deadline(); ok && !at.After(b.at) {
		return parent
	}
	return &deadlineCtx{Context: parent, b: b}
}

// bucket returns the bucket of tick k, starting its timer if it is new.
func (d *deadlines) bucket(k int64) *deadlineBucket {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.buckets[k]
	if b == nil {
		b = &deadlineBucket{k: k, at: time.Unix(0, k*int64(d.tick)), done: make(chan struct{})}
		d.buckets[k] = b
		time.AfterFunc(time.Until(b.at), func() {
			close(b.done)
			d.mu.Lock()
			delete(d.buckets, k)
			d.mu.Unlock()
		})
	}
	d.last.Store(b)
	return b
}

// deadlineCtx is a context whose deadline is a shared bucket's.
type deadlineCtx struct {
	context.Context
	b *deadlineBucket
}

// Deadline returns the shared deadline.
func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.b.at, true }

// Done returns the channel that closes at the shared deadline.
func (c *deadlineCtx) Done() <-chan struct{} { return c.b.done }

// Err returns the parent's error once the parent has ended, else
// context.DeadlineExceeded once the deadline has passed, else nil.
func (c *deadlineCtx) Err() error {
	if err := c.Context.Err(); err != nil {
		return err
	}
	select {
	case <-c.b.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
