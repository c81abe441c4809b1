package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/redistest"
)

// These tests probe the shared per-tick deadlines (deadline.go), the fixed
// window's hot path and the rewritten bucket and sliding window
// scripts.

// goroutinesCreated returns how many goroutines the process has started.
func goroutinesCreated(t *testing.T) uint64 {
	t.Helper()
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Skip("runtime/metrics has no /sched/goroutines-created on this Go version")
	}
	return s[0].Value.Uint64()
}

// TestDecisionsStartNoGoroutines checks that go-redis derives no context
// from the limiter's deadlineCtx on the command path: context.WithCancel or
// WithTimeout on a Context type that the context package does not know
// starts a goroutine per call (context.propagateCancel).
func TestDecisionsStartNoGoroutines(t *testing.T) {
	const decisions = 2000
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
			rdb := server.Client(t, func(o *redis.Options) { o.ContextTimeoutEnabled = inline })
			// A 5 s timeout makes the deadline tick 78 ms, so the timers
			// of the shared deadlines start few goroutines of their own
			// (time.AfterFunc runs each in a new goroutine).
			l, err := New(rdb, GCRA(MaxLimit, time.Minute, MaxLimit), WithoutDenyCache(),
				WithClock(clock.NewFake(epoch)), WithTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if l.inline != inline {
				t.Fatalf("limiter inline = %v, want %v", l.inline, inline)
			}
			// A request context is cancelable, like the parents that the
			// middleware passes.
			parent, cancel := context.WithCancel(context.Background())
			defer cancel()
			key := uniqueKey(t)
			// Warm up: load the script, dial the connection, start the worker.
			if _, err := l.Allow(parent, key); err != nil {
				t.Fatal(err)
			}

			before, start := goroutinesCreated(t), time.Now()
			for i := range decisions {
				res, err := l.Allow(parent, key)
				if err != nil || res.Source != SourceRedis {
					t.Fatalf("Allow %d = %+v, %v", i, res, err)
				}
			}
			created := goroutinesCreated(t) - before
			ticks := uint64(time.Since(start)/l.deadlines.tick) + 2
			// One goroutine per deadline tick is the shared timers'; one
			// per decision would be thousands.
			if created > ticks+decisions/20 {
				t.Errorf("%d decisions in %d deadline ticks started %d goroutines, want none per decision", decisions, ticks, created)
			}
		})
	}
}

// TestCallerCancelWhileRedisHangs cancels the caller's context while the
// script waits for a Redis that never replies. The decision must return
// the caller's error, not a failure-policy Result, within the timeout.
func TestCallerCancelWhileRedisHangs(t *testing.T) {
	for _, policy := range []FailurePolicy{FailOpen, FailClosed, FailLocal} {
		for _, inline := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/inline=%v", policy, inline), func(t *testing.T) {
				t.Parallel()
				rdb, received := signallingHangingRedis(t, inline)
				l, err := New(rdb, FixedWindow(5, time.Minute), WithFailurePolicy(policy), WithClock(clock.NewFake(epoch)))
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				go func() {
					<-received
					cancel()
				}()
				start := time.Now()
				res, err := l.Allow(ctx, "k")
				elapsed := time.Since(start)
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Allow cancelled while Redis hangs = %+v, %v, want context.Canceled", res, err)
				}
				if elapsed > maxDecisionTime {
					t.Errorf("Allow took %v after its caller cancelled, want at most %v", elapsed, maxDecisionTime)
				}
			})
		}
	}
}

// hangableProxy forwards loopback connections to a Redis server. Once
// hanging is set, it still reads every command but drops every reply.
type hangableProxy struct {
	ln      net.Listener
	hanging atomic.Bool
}

func startHangableProxy(t *testing.T, addr string) *hangableProxy {
	t.Helper()
	ln, track := listenLoopback(t)
	p := &hangableProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			track(c)
			up, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			track(up)
			go io.Copy(up, c)
			go p.copyUnlessHanging(c, up)
		}
	}()
	return p
}

// copyUnlessHanging copies replies from up to c, dropping them once the
// proxy hangs.
func (p *hangableProxy) copyUnlessHanging(c, up net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := up.Read(buf)
		if err != nil {
			return
		}
		if p.hanging.Load() {
			continue
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (p *hangableProxy) addr() string { return p.ln.Addr().String() }

// TestRedisHangsMidStream lets each algorithm decide through a working
// Redis first, so that the fixed window takes its hot path, then
// makes Redis stop replying and decides from many goroutines at once. Every
// decision must come from the failure policy within the timeout.
func TestRedisHangsMidStream(t *testing.T) {
	for name, alg := range algorithms(1000) {
		for _, policy := range []FailurePolicy{FailOpen, FailClosed, FailLocal} {
			for _, inline := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/inline=%v", name, policy, inline), func(t *testing.T) {
					t.Parallel()
					proxy := startHangableProxy(t, server.Addr())
					rdb := redis.NewClient(&redis.Options{
						Addr:                  proxy.addr(),
						ReadTimeout:           2 * time.Second,
						WriteTimeout:          2 * time.Second,
						DisableIdentity:       true,
						MaxRetries:            -1,
						ContextTimeoutEnabled: inline,
					})
					t.Cleanup(func() { rdb.Close() })
					l, err := New(rdb, alg, WithFailurePolicy(policy), WithoutDenyCache(), WithClock(clock.NewFake(epoch)))
					if err != nil {
						t.Fatal(err)
					}
					key := uniqueKey(t)
					ctx := context.Background()
					for i := range 3 {
						if res, err := l.Allow(ctx, key); err != nil || res.Source != SourceRedis {
							t.Fatalf("Allow %d before the hang = %+v, %v", i, res, err)
						}
					}
					if alg.kind == kindFixedWindow {
						if _, seen := l.windows.current(key, epoch.UnixMicro()); !seen {
							t.Fatal("the fixed window is not remembered, so the hot path is not tested")
						}
					}

					proxy.hanging.Store(true)
					var wg sync.WaitGroup
					for g := range 8 {
						wg.Go(func() {
							start := time.Now()
							res, err := l.Allow(ctx, key)
							elapsed := time.Since(start)
							if err != nil {
								t.Errorf("goroutine %d: Allow while Redis hangs: %v", g, err)
								return
							}
							if res.Source == SourceRedis || !errors.Is(res.Err, ErrTimeout) {
								t.Errorf("goroutine %d: Allow while Redis hangs = %+v, want the failure policy after ErrTimeout", g, res)
							}
							if elapsed > maxDecisionTime {
								t.Errorf("goroutine %d: Allow took %v while Redis hangs, want at most %v", g, elapsed, maxDecisionTime)
							}
						})
					}
					wg.Wait()
				})
			}
		}
	}
}

// TestDeadlineOvershootBounded checks that a shared deadline falls at most
// a few milliseconds after the timeout. Rounding up to a tick of
// timeout/64 would add up to 15.6 ms at a 1 s timeout and 156 ms at 10 s.
func TestDeadlineOvershootBounded(t *testing.T) {
	const slack = 2 * time.Millisecond
	for _, timeout := range []time.Duration{20 * time.Millisecond, time.Second, 10 * time.Second} {
		d := newDeadlines(timeout)
		// Sample the phases of three ticks without sleeping.
		for stop := time.Now().Add(3 * d.tick); time.Now().Before(stop); {
			before := time.Now()
			ctx := d.start(context.Background())
			after := time.Now()
			at, ok := ctx.Deadline()
			if !ok {
				t.Fatalf("timeout %v: context has no deadline", timeout)
			}
			if latest := after.Add(timeout + slack); at.After(latest) {
				t.Fatalf("timeout %v: deadline %v past the timeout, want at most %v", timeout, at.Sub(before), timeout+slack)
			}
			if earliest := before.Add(timeout - d.tick); at.Before(earliest) {
				t.Fatalf("timeout %v: deadline %v, want at least %v", timeout, at.Sub(after), timeout-d.tick)
			}
		}
	}
}

// TestDeadlineBucketsDrainUnderLoad hands out deadlines from many
// goroutines across many ticks and checks that the buckets stay within a
// few times their documented bound and all go once their deadlines pass.
func TestDeadlineBucketsDrainUnderLoad(t *testing.T) {
	const timeout = 5 * time.Millisecond
	d := newDeadlines(timeout)
	bound := int(timeout/d.tick) + 2

	var maxPending atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(60 * time.Millisecond)
	for range 16 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				ctx := d.start(context.Background())
				if _, ok := ctx.Deadline(); !ok {
					t.Error("context has no deadline")
					return
				}
				d.mu.Lock()
				n := int64(len(d.buckets))
				d.mu.Unlock()
				for {
					m := maxPending.Load()
					if n <= m || maxPending.CompareAndSwap(m, n) {
						break
					}
				}
			}
		})
	}
	wg.Wait()

	// Timers of a loaded 2-core machine under -race fire late, so allow
	// several times the bound before calling the map unbounded.
	if got := maxPending.Load(); got > int64(10*bound) {
		t.Errorf("%d buckets pending at once, want about %d", got, bound)
	}
	waitBucketsDrained(t, d)
}

// fixedWindowUsed returns the count of the fixed window state of key.
func fixedWindowUsed(t *testing.T, rdb *redis.Client, l *Limiter, key string) int64 {
	t.Helper()
	v, err := rdb.Get(context.Background(), l.StateKey(key)).Int64()
	if err != nil {
		t.Fatalf("GET fixed window state: %v", err)
	}
	return v % fixedWindowUnit
}

// TestFixedWindowExactWithLimitChanges decides one key from four
// processes while a fifth keeps changing its limit, so that the deciders
// keep meeting another version on their hot path. Every allowed
// unit must be counted in Redis and none may exceed the largest cap.
// Phases that follow each change of limit, with every decider holding a
// window from before it, must then admit exactly what the new cap leaves.
func TestFixedWindowExactWithLimitChanges(t *testing.T) {
	const defaultLimit, lowered = 40, 25
	fake := clock.NewFake(epoch)
	rdb := server.Client(t)
	key := uniqueKey(t)
	ctx := context.Background()
	deciders := make([]*Limiter, 4)
	for i := range deciders {
		deciders[i] = newFixedWindowLimiter(t, defaultLimit, time.Minute, fake)
	}
	changer := newFixedWindowLimiter(t, defaultLimit, time.Minute, fake)

	// decideAll sends perDecider requests of the given costs (cycled) from
	// every decider at once and returns the units allowed.
	decideAll := func(perDecider int, costs ...int) int64 {
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for i, l := range deciders {
			wg.Go(func() {
				for j := range perDecider {
					n := costs[(i+j)%len(costs)]
					res, err := l.AllowN(ctx, key, n)
					if err != nil || res.Source != SourceRedis {
						t.Errorf("decider %d: AllowN(%d) = %+v, %v", i, n, res, err)
						return
					}
					if res.Allowed {
						allowed.Add(int64(n))
					}
				}
			})
		}
		wg.Wait()
		return allowed.Load()
	}

	// Phase 1: limit changes race the decisions.
	stopChanges := flipOverride(t, changer, key, lowered)
	allowed := decideAll(150, 1, 2, 3)
	stopChanges()
	if used := fixedWindowUsed(t, rdb, changer, key); used != allowed {
		t.Errorf("Redis counted %d units, the deciders were allowed %d", used, allowed)
	}
	if allowed > defaultLimit {
		t.Errorf("%d units allowed in one window, want at most the largest cap %d", allowed, defaultLimit)
	}

	// Phase 2: each change of limit, then decisions from processes that
	// remember the window from before it. Phase 1 may have ended with the
	// override set.
	if err := changer.ClearOverride(ctx, key); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		change func() error
		want   int64
	}{
		{"reset", func() error { return changer.Reset(ctx, key) }, defaultLimit},
		{"lowered below the count", func() error { return changer.SetOverride(ctx, key, 10, 0) }, 0},
		{"raised above the count", func() error { return changer.SetOverride(ctx, key, 60, 0) }, 20},
		{"cleared", func() error { return changer.ClearOverride(ctx, key) }, 0},
		{"reset under an override", func() error {
			if err := changer.SetOverride(ctx, key, 7, 0); err != nil {
				return err
			}
			return changer.Reset(ctx, key)
		}, 7},
	}
	for _, step := range steps {
		if err := step.change(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := decideAll(30, 1); got != step.want {
			t.Errorf("%s: %d units allowed, want exactly %d", step.name, got, step.want)
		}
	}
}

// TestFixedWindowStaleCapAfterEviction loses the state under a process
// that remembers the window, as Redis eviction under maxmemory or a FLUSHDB
// would, then lowers the limit while no state exists and lets another
// process begin the window again. A window begins at a version derived from
// its cap, so the header differs from the one the first process remembers.
func TestFixedWindowStaleCapAfterEviction(t *testing.T) {
	fake := clock.NewFake(epoch)
	rdb := server.Client(t)
	key := uniqueKey(t)
	ctx := context.Background()
	a := newFixedWindowLimiter(t, 10, time.Minute, fake)
	b := newFixedWindowLimiter(t, 10, time.Minute, fake)
	if got := countAllowed(t, a, key, 1); got != 1 {
		t.Fatalf("first decision of A: %d allowed, want 1", got)
	}
	if err := rdb.Del(ctx, a.StateKey(key)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.SetOverride(ctx, key, 2, 0); err != nil {
		t.Fatal(err)
	}
	if got := countAllowed(t, b, key, 1); got != 1 {
		t.Fatalf("B begins the window again: %d allowed, want 1", got)
	}
	if got := countAllowed(t, a, key, 10); got != 1 {
		t.Errorf("A after the override of 2: %d allowed, want 1 (the window holds 1 of 2)", got)
	}
}

// TestScriptsCountEveryAllowedUnit decides one key from four processes
// with mixed costs while a fifth raises and clears its override, on a
// clock that does not move, so nothing refills or slides. The state must
// then hold exactly the units allowed, and no more than the largest limit
// may pass. Later overrides must admit exactly the difference they make.
func TestScriptsCountEveryAllowedUnit(t *testing.T) {
	const raised = 10
	algs := map[string]Algorithm{
		"sliding_window": SlidingWindow(6.5, time.Minute),
		"token_bucket":   TokenBucket(6.5, time.Minute, 6.5),
		"gcra":           GCRA(6.5, time.Minute, 6.5),
	}
	for name, alg := range algs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := clock.NewFake(epoch.Add(17 * time.Second))
			rdb := server.Client(t)
			key := uniqueKey(t)
			ctx := context.Background()
			newLimiter := func() *Limiter {
				l, err := New(server.Client(t), alg, WithClock(fake), WithoutDenyCache(), WithTimeout(time.Second))
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			changer := newLimiter()
			deciders := []*Limiter{newLimiter(), newLimiter(), newLimiter(), newLimiter()}
			decideAll := func(perDecider int, costs ...int) int64 {
				var allowed atomic.Int64
				var wg sync.WaitGroup
				for i, l := range deciders {
					wg.Go(func() {
						for j := range perDecider {
							n := costs[(i+j)%len(costs)]
							res, err := l.AllowN(ctx, key, n)
							if err != nil || res.Source != SourceRedis {
								t.Errorf("decider %d: AllowN(%d) = %+v, %v", i, n, res, err)
								return
							}
							if res.Allowed {
								allowed.Add(int64(n))
							}
						}
					})
				}
				wg.Wait()
				return allowed.Load()
			}
			// spentUnits reads the units the state holds as spent: the
			// current count, the tokens spent or the units outstanding.
			spentUnits := func() string {
				t.Helper()
				v, err := rdb.Get(ctx, changer.StateKey(key)).Result()
				if err != nil {
					t.Fatalf("GET state: %v", err)
				}
				var a, b, c float64
				if alg.kind == kindSlidingWindow {
					if _, err := fmt.Sscanf(v, "%g %g %g", &a, &b, &c); err != nil {
						t.Fatalf("state %q: %v", v, err)
					}
					return fmt.Sprint(b)
				}
				if _, err := fmt.Sscanf(v, "%g %g", &a, &b); err != nil {
					t.Fatalf("state %q: %v", v, err)
				}
				return fmt.Sprint(a)
			}

			stopChanges := flipOverride(t, changer, key, raised)
			allowed := decideAll(40, 1, 2, 3)
			stopChanges()
			if got := spentUnits(); got != fmt.Sprint(allowed) {
				t.Errorf("state holds %s units spent, the deciders were allowed %d", got, allowed)
			}
			if allowed > raised {
				t.Errorf("%d units allowed, want at most the largest limit %d", allowed, raised)
			}

			// From an empty state: the default limit, then each override.
			if err := changer.ClearOverride(ctx, key); err != nil {
				t.Fatal(err)
			}
			if err := changer.Reset(ctx, key); err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				name     string
				override float64 // 0: clear
				want     int64
			}{
				{"default 6.5", 0, 6},
				{"raised to 10", raised, 4},
				{"lowered to 3", 3, 0},
				{"cleared", 0, 0},
				{"raised to 12.5", 12.5, 2},
			}
			for _, step := range steps {
				var err error
				if step.override > 0 {
					err = changer.SetOverride(ctx, key, step.override, 0)
				} else {
					err = changer.ClearOverride(ctx, key)
				}
				if err != nil {
					t.Fatalf("%s: %v", step.name, err)
				}
				if got := decideAll(5, 1); got != step.want {
					t.Errorf("%s: %d units allowed, want exactly %d", step.name, got, step.want)
				}
			}
		})
	}
}

// TestGCRALoweredLimitRetryAfter spends a whole burst under a high limit,
// lowers the limit, and decides again just before the state's TTL, which
// was set when the units would drain at the high limit, ends. The units
// outstanding are capped at the lowered burst, so the wait is one refill.
func TestGCRALoweredLimitRetryAfter(t *testing.T) {
	f := newFixture(t, GCRA(3600, time.Hour, 3600))
	if res := f.allowN(t, 3600); !res.Allowed {
		t.Fatalf("a whole burst at the default limit = %+v, want allowed", res)
	}
	if err := f.l.SetOverride(context.Background(), f.key, 1, 0); err != nil {
		t.Fatal(err)
	}
	elapseRedis(t, f.rdb, []string{f.l.StateKey(f.key)}, 3599*time.Second, f.clock)
	_, ttl := f.state(t)
	res := f.allowN(t, 1)
	if res.Allowed {
		t.Fatalf("Allow with 1 unit still outstanding at 1 per hour = %+v, want denied", res)
	}
	// Redis drops the state within ttl, and one unit at the lowered limit
	// takes 1 h.
	if limit := ttl + time.Hour; res.RetryAfter > limit {
		t.Errorf("RetryAfter = %v with the state's TTL at %v, want at most %v", res.RetryAfter, ttl, limit)
	}
}

// TestFixedWindowBilledAfterLimitChange counts the billed commands of the
// documented cases around a limit change: the first decision after it in
// a process that remembers the window bills 3, later ones 2, and a Reset
// costs the same once.
func TestFixedWindowBilledAfterLimitChange(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	fake := clock.NewFake(epoch)
	newLimiter := func() *Limiter {
		l, err := New(rdb, FixedWindow(10, time.Minute), WithClock(fake), WithTimeout(time.Second), WithoutDenyCache())
		if err != nil {
			t.Fatal(err)
		}
		return l
	}

	a, b := newLimiter(), newLimiter()
	// Load the script, so that no NOSCRIPT round trip is counted.
	if _, err := a.Allow(ctx, "warm-up"); err != nil {
		t.Fatal(err)
	}
	cost := func(step string, l *Limiter, wantAllowed bool, want int64) {
		t.Helper()
		checkBilled(t, rdb, step, l, "k", wantAllowed, want)
	}

	cost("A begins the window", a, true, 3)
	cost("A again", a, true, 2)
	if err := b.SetOverride(ctx, "k", 3, 0); err != nil {
		t.Fatal(err)
	}
	cost("A after B lowered the limit", a, true, 3)
	cost("A at the lowered limit", a, false, 3)
	if err := b.Reset(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	cost("A after B's Reset", a, true, 3)
	cost("A after that", a, true, 2)
	if err := b.ClearOverride(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	// The INCRBY finds the new version, and the script reads the
	// override with one MGET.
	cost("A after B cleared the override", a, true, 3)
}

// flipOverride sets key's override to limit and clears it again, in a loop
// on its own goroutine, until the returned function is called, which waits
// for the loop to end.
func flipOverride(t *testing.T, l *Limiter, key string, limit float64) (stop func()) {
	t.Helper()
	ctx := context.Background()
	done := make(chan struct{})
	var changes sync.WaitGroup
	changes.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			var err error
			if i%2 == 0 {
				err = l.SetOverride(ctx, key, limit, 0)
			} else {
				err = l.ClearOverride(ctx, key)
			}
			if err != nil {
				t.Errorf("limit change %d: %v", i, err)
				return
			}
		}
	})
	return func() {
		close(done)
		changes.Wait()
	}
}
