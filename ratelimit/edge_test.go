package ratelimit

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
)

// TestGCRAHighRateExact spends all but 5 of a large burst at once and then
// checks that exactly 5 more requests fit, at rates whose emission interval
// T is a microsecond or less. There an absolute arrival time near 2^50 µs
// cannot hold a step of T, and a fixed slack of microseconds is worth
// several units. The bursts keep the key's TTL at seconds or more, so the
// key cannot expire in real time while the fake clock does not move.
func TestGCRAHighRateExact(t *testing.T) {
	cases := []struct {
		limit  float64
		period time.Duration
		burst  float64
	}{
		{1e6, time.Second, 1e7}, // T = 1 µs
		{1e7, time.Second, 1e8}, // T = 0.1 µs
		{1e9, time.Minute, 1e9}, // T = 0.06 µs
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%g per %v", tc.limit, tc.period), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, GCRA(tc.limit, tc.period, tc.burst), WithoutDenyCache())
			if res := f.allowN(t, int(tc.burst)-5); !res.Allowed || res.Remaining != 5 {
				t.Fatalf("AllowN(burst-5) = %+v, want allowed with 5 remaining", res)
			}
			allowed := 0
			for range 20 {
				if f.allowN(t, 1).Allowed {
					allowed++
				}
			}
			if allowed != 5 {
				t.Errorf("allowed %d of 20 with 5 remaining, want 5", allowed)
			}
		})
	}
}

// TestExtremeRatiosNeverFail covers limits and bursts whose refill time is
// far beyond MaxPeriod: they must decide in Redis, not fail over.
func TestExtremeRatiosNeverFail(t *testing.T) {
	cases := map[string]Algorithm{
		"bucket tiny limit":  TokenBucket(1e-15, time.Second, 1),
		"gcra tiny limit":    GCRA(1e-15, time.Second, 1),
		"bucket huge burst":  TokenBucket(1, time.Hour, 1e15),
		"gcra huge burst":    GCRA(1, time.Hour, 1e15),
		"bucket max burst":   TokenBucket(1e-3, MaxPeriod, math.MaxInt64),
		"gcra max burst":     GCRA(1e-3, MaxPeriod, math.MaxInt64),
		"sliding tiny limit": SlidingWindow(1e-300, MaxPeriod),
		"fixed max period":   FixedWindow(math.MaxInt64, MaxPeriod),
	}
	for name, alg := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg, WithoutDenyCache())
			for i := range 3 {
				res, err := f.l.AllowN(context.Background(), f.key, 1)
				if err != nil || res.Source != SourceRedis {
					t.Fatalf("AllowN %d under %v = %+v, %v; want a decision by Redis", i+1, alg, res, err)
				}
				if v, ttl := f.state(t); v != "" && (ttl <= 0 || ttl > 2*MaxPeriod) {
					t.Errorf("state %q has PTTL %v, want in (0, %v]", v, ttl, 2*MaxPeriod)
				}
			}
		})
	}
}

// TestSkewedWriterTTLBounded checks that an app server whose clock lags
// the one that wrote the state never writes a TTL beyond the algorithm's
// bound.
func TestSkewedWriterTTLBounded(t *testing.T) {
	for name, alg := range algorithms(5) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			aheadClock := clock.NewFake(epoch.Add(time.Hour))
			behindClock := clock.NewFake(epoch)
			ahead, err := New(server.Client(t), alg, WithClock(aheadClock), WithoutDenyCache(), WithTimeout(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			behind, err := New(server.Client(t), alg, WithClock(behindClock), WithoutDenyCache(), WithTimeout(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			key := uniqueKey(t)
			ctx := context.Background()
			rdb := server.Client(t)
			for i, l := range []*Limiter{ahead, behind, behind} {
				// GCRA denies the server behind until its clock reaches
				// the arrival time, which is stricter, never looser.
				res, err := l.Allow(ctx, key)
				if err != nil || res.Source != SourceRedis || (i == 0 && !res.Allowed) {
					t.Fatalf("Allow %d = %+v, %v; want a decision by Redis", i+1, res, err)
				}
				ttl, err := rdb.PTTL(ctx, ahead.StateKey(key)).Result()
				if err != nil {
					t.Fatal(err)
				}
				if ttl <= 0 || ttl > maxTTL[name] {
					t.Errorf("after decision %d: PTTL %v, want in (0, %v]", i+1, ttl, maxTTL[name])
				}
			}
		})
	}
}

// TestConcurrentInstancesMixedCosts runs four limiters on one Redis with
// costs 1 to 4 from 24 goroutines at one instant. The cost they admit must
// never exceed the limit. It must also come within 3 of it, because 288
// requests with many of cost 1 leave no room unspent.
func TestConcurrentInstancesMixedCosts(t *testing.T) {
	for name, alg := range algorithms(97) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := clock.NewFake(epoch.Add(7 * time.Second))
			key := uniqueKey(t)
			var limiters []*Limiter
			for range 4 {
				l, err := New(server.Client(t), alg, WithClock(fake), WithTimeout(5*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				limiters = append(limiters, l)
			}
			var spent atomic.Int64
			var wg sync.WaitGroup
			for g := range 24 {
				wg.Go(func() {
					l := limiters[g%len(limiters)]
					for i := range 12 {
						n := 1 + (g+i)%4
						res, err := l.AllowN(context.Background(), key, n)
						if err != nil || (res.Source != SourceRedis && res.Source != SourceDenyCache) {
							t.Errorf("AllowN: %+v, %v", res, err)
							return
						}
						if res.Allowed {
							spent.Add(int64(n))
						}
					}
				})
			}
			wg.Wait()
			got := spent.Load()
			if got > 97 {
				t.Errorf("admitted cost %d under limit 97", got)
			}
			if got < 97-3 {
				t.Errorf("admitted cost %d under limit 97, want at least 94", got)
			}
		})
	}
}

// TestSlidingWindowWeightByHand spends 7 in one window and 2 in the next,
// then checks the estimate 7*(1-f)+2 at f = 0.25 against a hand
// computation: 7.25, so 2 of 10 remain and 3 is denied.
func TestSlidingWindowWeightByHand(t *testing.T) {
	f := newFixture(t, SlidingWindow(10, 40*time.Second), WithoutDenyCache())
	f.allowN(t, 7)
	f.clock.Advance(40*time.Second + 10*time.Second) // f = 10/40
	if res := f.allowN(t, 2); !res.Allowed || res.Remaining != 2 {
		t.Fatalf("AllowN(2) = %+v, want allowed with floor(10-7.25)=2 remaining", res)
	}
	res := f.allowN(t, 3)
	if res.Allowed {
		t.Fatalf("AllowN(3) over the estimate 7.25 allowed: %+v", res)
	}
	// 7*(1-f)+2+3 <= 10 once f >= 2/7, that is 40*(2/7 - 1/4) s from now.
	want := time.Duration(math.Ceil(40e6*(2.0/7-0.25))) * time.Microsecond
	if d := res.RetryAfter - want; d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("RetryAfter = %v, want %v", res.RetryAfter, want)
	}
	// A window later the previous one no longer counts.
	f.clock.Advance(2 * 40 * time.Second)
	if res := f.allowN(t, 10); !res.Allowed {
		t.Errorf("AllowN(10) two windows later = %+v, want allowed", res)
	}
}

// TestNoScriptAfterFlush runs a decision after SCRIPT FLUSH: the EVALSHA
// fails with NOSCRIPT and the limiter must fall back to EVAL.
func TestNoScriptAfterFlush(t *testing.T) {
	for name, alg := range algorithms(3) {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, alg, WithoutDenyCache())
			ctx := context.Background()
			f.allowN(t, 1)
			if err := f.rdb.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if res := f.allowN(t, 1); !res.Allowed || res.Remaining != 1 {
				t.Errorf("decision after SCRIPT FLUSH = %+v, want allowed with 1 remaining", res)
			}
			if err := f.rdb.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if err := f.l.Reset(ctx, f.key); err != nil {
				t.Errorf("Reset after SCRIPT FLUSH: %v", err)
			}
		})
	}
}

func TestScriptMaxPeriodIsMaxPeriod(t *testing.T) {
	want := fmt.Sprintf("local MAXP = %d\n", MaxPeriod.Microseconds())
	if !strings.Contains(scriptPrelude, want) {
		t.Errorf("scriptPrelude does not define %q", want)
	}
}

func TestHugeCostDeniedWithoutWrite(t *testing.T) {
	for name, alg := range algorithms(5) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg, WithoutDenyCache())
			f.allowN(t, 2)
			before, _ := f.state(t)
			for _, n := range []int{6, MaxLimit + 5, math.MaxInt} {
				res := f.allowN(t, n)
				if res.Allowed || res.Reason != ReasonCostExceedsLimit || res.RetryAfter <= 0 {
					t.Errorf("AllowN(%d) = %+v, want cost_exceeds_limit with RetryAfter > 0", n, res)
				}
			}
			if after, _ := f.state(t); after != before {
				t.Errorf("state changed from %q to %q", before, after)
			}
		})
	}
}

func TestWaitZeroCostReturns(t *testing.T) {
	f := newFixture(t, FixedWindow(1, time.Minute))
	f.allowN(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := f.l.WaitN(ctx, f.key, 0)
	if err != nil {
		t.Fatalf("WaitN(0) on a spent key = %+v, %v; want the peek at once", res, err)
	}
	if res.Remaining != 0 {
		t.Errorf("WaitN(0) Remaining = %d, want 0", res.Remaining)
	}
}

// TestFixedWindowWrongTypeOverride puts a hash where the override belongs
// and deletes the state under a process that saw the window begun, so the
// script's INCRBY creates the key before it reads the override. The key
// must not be left without a TTL.
func TestFixedWindowWrongTypeOverride(t *testing.T) {
	f := newFixture(t, FixedWindow(5, time.Minute), WithoutDenyCache())
	ctx := context.Background()
	f.allowN(t, 1)
	if err := f.rdb.HSet(ctx, f.l.OverrideKey(f.key), "limit", "9").Err(); err != nil {
		t.Fatal(err)
	}
	f.rdb.Del(ctx, f.l.StateKey(f.key))
	for i := range 3 {
		res, err := f.l.Allow(ctx, f.key)
		if err != nil {
			t.Fatal(err)
		}
		if res.Source != SourceRedis || !res.Allowed || res.Limit != 5 {
			t.Errorf("Allow %d with a hash at the override key = %+v, want allowed by Redis at the default limit", i+1, res)
		}
		if v, ttl := f.state(t); v == "" || ttl <= 0 || ttl > 2*time.Minute {
			t.Errorf("after Allow %d: state %q with PTTL %v, want a TTL within two windows", i+1, v, ttl)
		}
	}
}
