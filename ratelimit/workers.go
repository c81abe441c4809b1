package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// workerIdleTimeout is how long an idle worker waits for a job before it
// exits.
const workerIdleTimeout = 30 * time.Second

// workers runs Redis calls on long-lived goroutines, so that a caller can
// stop waiting at its timeout while the call goes on, without starting (and
// growing the stack of) a new goroutine for every call. There are at most
// max workers, busy or idle; a worker exits after workerIdleTimeout without
// a job, or at once when close is called while it is idle. The bound is the
// limiter's bound on outstanding Redis calls.
type workers struct {
	jobs   chan *job
	count  atomic.Int64 // running workers, busy or idle
	max    int64
	closed atomic.Bool

	// mu orders close against the start of a worker, so that no worker
	// starts once close has set closed.
	mu sync.Mutex
	// stop is closed by close, which makes idle workers exit.
	stop chan struct{}
	// exited is closed once closed is set and count is 0.
	exited     chan struct{}
	exitedOnce sync.Once
}

type job struct {
	ctx  context.Context
	run  func(ctx context.Context) (any, error)
	done chan callResult // buffered, so a worker never blocks on a caller that left
}

func newWorkers(max int) *workers {
	return &workers{
		jobs:   make(chan *job),
		max:    int64(max),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
	}
}

// submit hands j to an idle worker or starts one. It returns false when
// max workers are all busy. After close it runs nothing: it completes j at
// once with ErrClosed and returns true, so that the caller reads the error
// from j.done like any other failure of the call.
func (w *workers) submit(j *job) bool {
	if w.closed.Load() {
		j.done <- callResult{err: ErrClosed}
		return true
	}
	select {
	case w.jobs <- j:
		return true
	default:
	}

	w.mu.Lock()
	if w.closed.Load() {
		w.mu.Unlock()
		j.done <- callResult{err: ErrClosed}
		return true
	}
	if w.count.Add(1) > w.max {
		w.count.Add(-1)
		w.mu.Unlock()
		// A worker may have become idle meanwhile.
		select {
		case w.jobs <- j:
			return true
		default:
			return false
		}
	}
	w.mu.Unlock()
	go w.work(j)
	return true
}

func (w *workers) work(j *job) {
	defer w.exit()
	idle := time.NewTimer(workerIdleTimeout)
	defer idle.Stop()
	for {
		v, err := j.run(j.ctx)
		j.done <- callResult{v, err}
		idle.Reset(workerIdleTimeout)
		select {
		case j = <-w.jobs:
		case <-idle.C:
			return
		case <-w.stop:
			return
		}
	}
}

// exit counts a worker out and, when it is the last one after close,
// closes exited.
func (w *workers) exit() {
	if w.count.Add(-1) == 0 && w.closed.Load() {
		w.exitedOnce.Do(func() { close(w.exited) })
	}
}

// close makes idle workers exit at once and later submits fail with
// ErrClosed. Workers that run a call exit when the call returns. close
// waits until every worker has exited or timeout has passed, and returns
// the workers still running then. It is safe to call more than once and
// concurrently with submit.
func (w *workers) close(timeout time.Duration) int64 {
	w.mu.Lock()
	if !w.closed.Load() {
		w.closed.Store(true)
		close(w.stop)
		// Submits change count only while they hold mu, so 0 here means
		// that no worker runs and, with closed set, none will start.
		if w.count.Load() == 0 {
			w.exitedOnce.Do(func() { close(w.exited) })
		}
	}
	w.mu.Unlock()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-w.exited:
		return 0
	case <-timer.C:
		return w.count.Load()
	}
}
