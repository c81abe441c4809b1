package ratelimit

import (
	"context"
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
// a job. The bound is the limiter's bound on outstanding Redis calls.
type workers struct {
	jobs  chan *job
	count atomic.Int64
	max   int64
}

type job struct {
	ctx  context.Context
	run  func(ctx context.Context) (any, error)
	done chan callResult // buffered, so a worker never blocks on a caller that left
}

func newWorkers(max int) *workers {
	return &workers{jobs: make(chan *job), max: int64(max)}
}

// submit hands j to an idle worker or starts one. It returns false when
// max workers are all busy.
func (w *workers) submit(j *job) bool {
	select {
	case w.jobs <- j:
		return true
	default:
	}
	if w.count.Add(1) > w.max {
		w.count.Add(-1)
		// A worker may have become idle meanwhile.
		select {
		case w.jobs <- j:
			return true
		default:
			return false
		}
	}
	go w.work(j)
	return true
}

func (w *workers) work(j *job) {
	defer w.count.Add(-1)
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
		}
	}
}
