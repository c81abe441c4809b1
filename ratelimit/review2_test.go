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
)

// These tests probe the shared per-tick deadlines (deadline.go), the fixed
// window's one-key hot path and the rewritten bucket and sliding window
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

// hangableProxy forwards loopback connections to addr until hang is
// called, after which it reads everything and replies with nothing.
type hangableProxy struct {
	ln      net.Listener
	hanging atomic.Bool
}

func startHangableProxy(t *testing.T, addr string) *hangableProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	track := closeOnCleanup(t)
	track(ln)
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
// Redis first, so that the fixed window takes its one-key hot path, then
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

// TestDeadlineOvershootBounded checks how far past the timeout a shared
// deadline may fall. The issue allows the timeout plus a few milliseconds;
// rounding up to a tick of timeout/64 adds up to 15.6 ms at a 1 s timeout
// and 156 ms at 10 s.
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
	var most atomic.Int64
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
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	// Timers of a loaded 2-core machine under -race fire late, so allow
	// several times the bound before calling the map unbounded.
	if got := most.Load(); got > int64(10*bound) {
		t.Errorf("%d buckets pending at once, want about %d", got, bound)
	}
	waitBucketsDrained(t, d)
}
