package upstashops

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDefaultCadences(t *testing.T) {
	tests := []struct {
		job  JobName
		want time.Duration
	}{
		{CostJob, 24 * time.Hour},
		{RateLimitJob, 15 * time.Minute},
		{ScheduleJob, 24 * time.Hour},
		{WorkflowJob, 5 * time.Minute},
		{CorrelationJob, time.Minute},
	}
	for _, tt := range tests {
		if got := DefaultCadence(tt.job); got != tt.want {
			t.Errorf("DefaultCadence(%s) = %s, want %s", tt.job, got, tt.want)
		}
	}
}

func TestJobOptionsOverrideCadence(t *testing.T) {
	nop := NewJob(CostJob, func(context.Context) (Result, error) { return Result{}, nil })
	op := newTestOperator(t, WithJob(nop), WithJobOptions(CostJob, Every(6*time.Hour), Timeout(time.Minute), Jitter(0)))
	st := op.JobStatuses()[0]
	if st.Every != 6*time.Hour || st.Timeout != time.Minute {
		t.Errorf("Every, Timeout = %s, %s; want 6h, 1m", st.Every, st.Timeout)
	}
	if _, err := New(WithJobOptions("nope", Every(time.Hour))); !errors.Is(err, ErrUnknownJob) {
		t.Errorf("New with options of an unknown job: err = %v, want ErrUnknownJob", err)
	}
}

func TestRunOnceUnknownJob(t *testing.T) {
	op := newTestOperator(t)
	if _, err := op.RunOnce(ctxT(t), "missing"); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("err = %v, want ErrUnknownJob", err)
	}
}

func TestRunOnceRecoversPanic(t *testing.T) {
	boom := NewJob("boom", func(context.Context) (Result, error) { panic("nil map") })
	op := newTestOperator(t, WithJob(boom))
	_, err := op.RunOnce(ctxT(t), "boom")
	if !errors.Is(err, ErrJobPanicked) {
		t.Fatalf("err = %v, want ErrJobPanicked", err)
	}
	st := op.JobStatuses()[0]
	if st.Failures != 1 || st.LastError == "" || st.Running {
		t.Errorf("status after panic = %+v", st)
	}
	// The run lock was released: the job can run again.
	if _, err := op.RunOnce(ctxT(t), "boom"); !errors.Is(err, ErrJobPanicked) {
		t.Errorf("second run: err = %v, want ErrJobPanicked", err)
	}
}

func TestRunOnceTimeout(t *testing.T) {
	clk := fakeClock()
	release := make(chan struct{})
	stuck := NewJob("stuck", func(ctx context.Context) (Result, error) {
		<-ctx.Done()
		<-release
		return Result{}, ctx.Err()
	})
	op := newTestOperator(t, WithClock(clk), WithJob(stuck, Timeout(time.Minute)))
	errc := make(chan error, 1)
	go func() { _, err := op.RunOnce(ctxT(t), "stuck"); errc <- err }()
	if err := clk.BlockUntil(ctxT(t), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if err := <-errc; !errors.Is(err, ErrJobTimeout) {
		t.Fatalf("err = %v, want ErrJobTimeout", err)
	}
	// The job has not returned yet, so a new run must not start.
	if _, err := op.RunOnce(ctxT(t), "stuck"); !errors.Is(err, ErrJobBusy) {
		t.Errorf("run while the timed-out one is still going: err = %v, want ErrJobBusy", err)
	}
	close(release)
}

// TestRunFailingJobsDoNotStopOthers runs three jobs on one cadence: one
// panics, one fails, one succeeds; all three keep running.
func TestRunFailingJobsDoNotStopOthers(t *testing.T) {
	clk := fakeClock()
	var panics, fails, oks atomic.Int32
	op := newTestOperator(t, WithClock(clk),
		WithJob(NewJob("panics", func(context.Context) (Result, error) { panics.Add(1); panic("boom") }), Every(time.Minute), Jitter(0)),
		WithJob(NewJob("fails", func(context.Context) (Result, error) { fails.Add(1); return Result{}, errors.New("backend down") }), Every(time.Minute), Jitter(0)),
		WithJob(NewJob("works", func(context.Context) (Result, error) { oks.Add(1); return Result{}, nil }), Every(time.Minute), Jitter(0)),
	)
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() { done <- op.Run(ctx) }()

	// Between runs, seven timers wait on the clock: three job loops, the
	// digest loop and the three run timeouts, which the fake clock keeps
	// until they fire.
	for round := 1; round <= 3; round++ {
		waitFor(t, func() bool {
			return int(panics.Load()) >= round && int(fails.Load()) >= round && int(oks.Load()) >= round
		}, func() string { return fmt.Sprint(round, panics.Load(), fails.Load(), oks.Load()) })
		if err := clk.BlockUntil(ctxT(t), 7); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		clk.Advance(time.Minute)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
	for _, st := range op.JobStatuses() {
		if st.Runs < 3 {
			t.Errorf("job %s ran %d times, want at least 3", st.Name, st.Runs)
		}
	}
}

func TestRunJitterDelaysFirstRun(t *testing.T) {
	clk := fakeClock()
	var runs atomic.Int32
	op := newTestOperator(t, WithClock(clk), WithJob(NewJob("j", func(context.Context) (Result, error) { runs.Add(1); return Result{}, nil }), Every(time.Hour), Jitter(10*time.Minute)))
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	go op.Run(ctx)
	if err := clk.BlockUntil(ctxT(t), 2); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Minute) // the first run comes within the jitter
	waitFor(t, func() bool { return runs.Load() == 1 })
	// The job loop, the digest loop and the first run's timeout.
	if err := clk.BlockUntil(ctxT(t), 3); err != nil {
		t.Fatal(err)
	}
	clk.Advance(70 * time.Minute) // the next run comes within cadence + jitter
	waitFor(t, func() bool { return runs.Load() == 2 })
}

// TestLeaseTwoInstances starts two Operators on one redis-server and fires
// the same job from both many times at once. The job must never run twice
// at the same time.
func TestLeaseTwoInstances(t *testing.T) {
	rdb, prefix := testRedis(t)
	var running, maxRunning, runs atomic.Int32
	gate := make(chan struct{})
	job := NewJob(CostJob, func(ctx context.Context) (Result, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		runs.Add(1)
		<-gate
		return Result{}, nil
	})
	a := newTestOperator(t, WithRedis(rdb), prefix, WithJob(job))
	b := newTestOperator(t, WithRedis(redisServer.Client(t)), prefix, WithJob(job))

	ctx := ctxT(t)
	errA := make(chan error, 1)
	go func() { _, err := a.RunOnce(ctx, CostJob); errA <- err }()
	waitFor(t, func() bool { return running.Load() == 1 })
	if _, err := b.RunOnce(ctx, CostJob); !errors.Is(err, ErrJobBusy) {
		t.Fatalf("second instance while the first runs: err = %v, want ErrJobBusy", err)
	}
	close(gate)
	if err := <-errA; err != nil {
		t.Fatalf("first instance: %v", err)
	}

	// Now both race: 20 attempts from each instance.
	var wg sync.WaitGroup
	var busy atomic.Int32
	for i := range 40 {
		op := a
		if i%2 == 1 {
			op = b
		}
		wg.Go(func() {
			if _, err := op.RunOnce(ctx, CostJob); errors.Is(err, ErrJobBusy) {
				busy.Add(1)
			} else if err != nil {
				t.Errorf("RunOnce: %v", err)
			}
		})
	}
	wg.Wait()
	if got := maxRunning.Load(); got != 1 {
		t.Errorf("max concurrent runs = %d, want 1", got)
	}
	if runs.Load()+busy.Load() != 41 {
		t.Errorf("runs %d + busy %d != 41 attempts", runs.Load(), busy.Load())
	}
	if n, _ := rdb.Exists(ctx, a.keys.lease(CostJob)).Result(); n != 0 {
		t.Errorf("lease key still exists after every run ended")
	}
}

func TestLeaseRenewedWhileRunning(t *testing.T) {
	rdb, prefix := testRedis(t)
	clk := fakeClock()
	gate := make(chan struct{})
	started := make(chan struct{})
	job := NewJob("long", func(ctx context.Context) (Result, error) { close(started); <-gate; return Result{}, nil })
	op := newTestOperator(t, WithRedis(rdb), prefix, WithClock(clk), WithLeaseTTL(30*time.Second), WithJob(job, Timeout(time.Hour)))
	renewed := make(chan struct{}, 10)
	op.testHookRenewed = func(JobName) { renewed <- struct{}{} }

	ctx := ctxT(t)
	done := make(chan error, 1)
	go func() { _, err := op.RunOnce(ctx, "long"); done <- err }()
	<-started
	key := op.keys.lease("long")
	// Shorten the lease as if time had passed; a renewal restores it.
	if err := rdb.PExpire(ctx, key, 2*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	if err := clk.BlockUntil(ctx, 2); err != nil { // timeout and renewal timers
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	<-renewed
	ttl, err := rdb.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl < 20*time.Second {
		t.Errorf("lease TTL after renewal = %s, want close to 30s", ttl)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestLeaseLostCancelsRun covers a job that returns no error once
// cancelled and the usual one that returns ctx.Err(): both report
// ErrLeaseLost.
func TestLeaseLostCancelsRun(t *testing.T) {
	for name, jobErr := range map[string]func(context.Context) error{
		"nil":       func(context.Context) error { return nil },
		"ctx error": func(ctx context.Context) error { return ctx.Err() },
	} {
		t.Run(name, func(t *testing.T) {
			rdb, prefix := testRedis(t)
			clk := fakeClock()
			started := make(chan struct{})
			job := NewJob("long", func(ctx context.Context) (Result, error) { close(started); <-ctx.Done(); return Result{}, jobErr(ctx) })
			op := newTestOperator(t, WithRedis(rdb), prefix, WithClock(clk), WithLeaseTTL(30*time.Second), WithJob(job, Timeout(time.Hour)))

			ctx := ctxT(t)
			done := make(chan error, 1)
			go func() { _, err := op.RunOnce(ctx, "long"); done <- err }()
			<-started
			// Another instance took over after the lease expired.
			if err := rdb.Set(ctx, op.keys.lease("long"), "someone-else", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			if err := clk.BlockUntil(ctx, 2); err != nil {
				t.Fatal(err)
			}
			clk.Advance(10 * time.Second)
			if err := <-done; !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("err = %v, want ErrLeaseLost", err)
			}
			if v, _ := rdb.Get(ctx, op.keys.lease("long")).Result(); v != "someone-else" {
				t.Errorf("the run released a lease it no longer held: value %q", v)
			}
		})
	}
}

// waitFor polls cond until it holds; the test's deadline bounds it. It
// waits for goroutines to reach a state, never for time to pass.
func waitFor(t *testing.T, cond func() bool, state ...func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			for _, s := range state {
				t.Log(s())
			}
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
