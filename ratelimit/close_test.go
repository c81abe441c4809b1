package ratelimit

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/upstash-ops/sdk/internal/clock"
)

// The tests in this file do not call t.Parallel: they count worker
// goroutines of the whole process, which only the idle workers of earlier
// tests share with them, and those can only exit.

// workerGoroutines returns how many goroutines of the process are running
// workers.work, read from their stacks as goleak does.
func workerGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "ratelimit.(*workers).work(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// waitFor polls cond every millisecond until it holds, and fails t when it
// still does not hold after 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still false after 5s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// startWorkers makes l run calls on several workers at once, and returns
// how many workers it started.
func startWorkers(t *testing.T, l *Limiter) int64 {
	t.Helper()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				if res, err := l.Allow(context.Background(), uniqueKey(t)); err != nil || res.Source != SourceRedis {
					t.Errorf("Allow before Close = %+v, %v; want a decision by Redis", res, err)
				}
			}
		})
	}
	wg.Wait()
	n := l.workers.count.Load()
	if n == 0 {
		t.Fatal("decisions through a client without ContextTimeoutEnabled started no worker")
	}
	return n
}

func TestCloseStopsIdleWorkers(t *testing.T) {
	before := workerGoroutines()
	l, err := New(server.Client(t), GCRA(1000, time.Minute, 1000), WithClock(clock.NewFake(epoch)), WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	started := startWorkers(t, l)
	// Idle workers of earlier tests may exit meanwhile, so only this
	// limiter's workers are certain to be there.
	if got := workerGoroutines(); got < int(started) {
		t.Fatalf("%d worker goroutines after this limiter started %d, want at least %d", got, started, started)
	}

	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close returns after the last worker has counted itself out, so the
	// count is 0 at once. The goroutines themselves end a moment later.
	if got := l.workers.count.Load(); got != 0 {
		t.Errorf("%d workers running after Close returned, want 0", got)
	}
	waitFor(t, "worker goroutines back to the count before the limiter", func() bool {
		return workerGoroutines() <= before
	})

	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseLetsCallInFlightFinish(t *testing.T) {
	alg := FixedWindow(5, time.Minute)
	g := &gatedScripter{
		Scripter: server.Client(t),
		decision: decisionScripts[alg.kind].sha,
		started:  make(chan struct{}),
		release:  make(chan struct{}),
	}
	l, err := New(gatedEval{g}, alg, WithClock(clock.NewFake(epoch)), WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := uniqueKey(t)

	inFlight := make(chan Result, 1)
	go func() {
		res, _ := l.Allow(ctx, key)
		inFlight <- res
	}()
	select {
	case <-g.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the first decision did not reach Redis within 5s")
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	waitFor(t, "Close has marked the workers closed", l.workers.closed.Load)

	// While the first call is held, a new decision is rejected at once.
	res, err := l.Allow(ctx, uniqueKey(t))
	if err != nil {
		t.Fatalf("Allow after Close: %v", err)
	}
	if res.Source != SourceLocal || !errors.Is(res.Err, ErrClosed) {
		t.Errorf("Allow after Close = %+v, want a FailLocal decision with ErrClosed", res)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v while a call was in flight", err)
	default:
	}

	close(g.release)
	if res := <-inFlight; !res.Allowed || res.Source != SourceRedis {
		t.Errorf("call in flight during Close = %+v, want allowed by Redis", res)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if got := l.workers.count.Load(); got != 0 {
		t.Errorf("%d workers running after Close returned, want 0", got)
	}
}

func TestCloseReportsStuckCall(t *testing.T) {
	l, err := New(hangingRedis(t), SlidingWindow(5, time.Minute), WithFailOpen())
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Allow(context.Background(), "stuck")
	if err != nil || !errors.Is(res.Err, ErrTimeout) {
		t.Fatalf("Allow on a hanging Redis = %+v, %v; want a FailOpen decision with ErrTimeout", res, err)
	}

	// The worker waits for the client's 2 s read timeout, beyond the
	// limiter's 50 ms, so Close stops waiting and returns an error.
	err = l.Close()
	if err == nil || !strings.Contains(err.Error(), "1 redis calls still running") {
		t.Fatalf("Close with a call stuck in the client = %v, want an error naming 1 running call", err)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Errorf("Close error %q contains the Redis password", err)
	}
	waitFor(t, "the stuck worker exits after the client's read timeout", func() bool {
		return l.workers.count.Load() == 0
	})
	if err := l.Close(); err != nil {
		t.Errorf("Close after the worker exited: %v", err)
	}
}

func TestDecisionAfterClose(t *testing.T) {
	for _, tc := range []struct {
		policy  FailurePolicy
		allowed bool
		source  Source
	}{
		{FailOpen, true, SourceFailOpen},
		{FailClosed, false, SourceFailClosed},
		{FailLocal, true, SourceLocal},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			l, err := New(server.Client(t), TokenBucket(5, time.Minute, 5),
				WithClock(clock.NewFake(epoch)), WithFailurePolicy(tc.policy))
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			ctx := context.Background()
			key := uniqueKey(t)

			res, err := l.Allow(ctx, key)
			if err != nil {
				t.Fatalf("Allow after Close: %v", err)
			}
			if res.Allowed != tc.allowed || res.Source != tc.source {
				t.Errorf("Allow after Close = %+v, want allowed=%v by %v", res, tc.allowed, tc.source)
			}
			if !errors.Is(res.Err, ErrClosed) {
				t.Errorf("Result.Err = %v, want ErrClosed", res.Err)
			}
			if _, err := l.Remaining(ctx, key); !errors.Is(err, ErrClosed) {
				t.Errorf("Remaining after Close: err = %v, want ErrClosed", err)
			}
			if err := l.Reset(ctx, key); !errors.Is(err, ErrClosed) {
				t.Errorf("Reset after Close: err = %v, want ErrClosed", err)
			}
			if err := l.SetOverride(ctx, key, 10, time.Minute); !errors.Is(err, ErrClosed) {
				t.Errorf("SetOverride after Close: err = %v, want ErrClosed", err)
			}
			if got := l.workers.count.Load(); got != 0 {
				t.Errorf("%d workers running after decisions on a closed limiter, want 0", got)
			}
		})
	}
}

// TestCloseStopsInlineCalls checks that a limiter whose client runs calls
// on the caller's goroutine rejects them after Close too.
func TestCloseStopsInlineCalls(t *testing.T) {
	rdb := server.Client(t, func(o *redis.Options) { o.ContextTimeoutEnabled = true })
	l, err := New(rdb, GCRA(5, time.Minute, 5), WithClock(clock.NewFake(epoch)), WithTimeout(5*time.Second), WithFailClosed())
	if err != nil {
		t.Fatal(err)
	}
	key := uniqueKey(t)
	if res, err := l.Allow(context.Background(), key); err != nil || !res.Allowed || res.Source != SourceRedis {
		t.Fatalf("Allow before Close = %+v, %v; want allowed by Redis", res, err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	res, err := l.Allow(context.Background(), key)
	if err != nil || res.Allowed || res.Source != SourceFailClosed || !errors.Is(res.Err, ErrClosed) {
		t.Errorf("Allow after Close with ContextTimeoutEnabled = %+v, %v; want denied by the FailClosed policy with ErrClosed", res, err)
	}
}

func TestCloseDuringDecisions(t *testing.T) {
	l, err := New(server.Client(t), SlidingWindow(1e6, time.Minute), WithClock(clock.NewFake(epoch)), WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	key := uniqueKey(t)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			<-start
			for range 50 {
				res, err := l.Allow(context.Background(), key)
				if err != nil {
					t.Errorf("Allow: %v", err)
					return
				}
				byRedis := res.Source == SourceRedis && res.Allowed
				rejected := res.Source == SourceLocal && errors.Is(res.Err, ErrClosed)
				if !byRedis && !rejected {
					t.Errorf("Allow during Close = %+v, want allowed by Redis or rejected with ErrClosed", res)
					return
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			<-start
			if err := l.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()

	if res, _ := l.Allow(context.Background(), key); !errors.Is(res.Err, ErrClosed) {
		t.Errorf("Allow after every Close returned = %+v, want ErrClosed", res)
	}
	if got := l.workers.count.Load(); got != 0 {
		t.Errorf("%d workers running after Close, want 0", got)
	}
}
