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

	"github.com/redis/go-redis/v9"
	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/redistest"
)

// server is one redis-server shared by the package's tests; each test uses
// its own keys, so tests may run in parallel. Tests that count commands
// start their own server.
var server *redistest.Server

func TestMain(m *testing.M) { redistest.RunMain(m, &server) }

// epoch is a fake start time on a whole minute, so window arithmetic in the
// tests is easy to follow.
var epoch = time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)

type fixture struct {
	l     *Limiter
	rdb   *redis.Client
	clock *clock.Fake
	key   string
}

func newFixture(t *testing.T, alg Algorithm, opts ...Option) *fixture {
	t.Helper()
	rdb := server.Client(t)
	fake := clock.NewFake(epoch)
	l, err := New(rdb, alg, append([]Option{WithClock(fake), WithTimeout(time.Second)}, opts...)...)
	if err != nil {
		t.Fatalf("New(%v): %v", alg, err)
	}
	return &fixture{l: l, rdb: rdb, clock: fake, key: uniqueKey(t)}
}

var keySeq atomic.Int64

// uniqueKey returns a key that no other test or run of this test uses on the
// shared server, even under -count.
func uniqueKey(t *testing.T) string {
	return fmt.Sprintf("%s#%d", strings.ReplaceAll(t.Name(), "/", "_"), keySeq.Add(1))
}

func (f *fixture) allowN(t *testing.T, n int) Result {
	t.Helper()
	res, err := f.l.AllowN(context.Background(), f.key, n)
	if err != nil {
		t.Fatalf("AllowN(%q, %d): %v", f.key, n, err)
	}
	if res.Source != SourceRedis && res.Source != SourceDenyCache {
		t.Fatalf("AllowN(%q, %d) decided by %v (err %v), want Redis", f.key, n, res.Source, res.Err)
	}
	return res
}

// state returns the raw state value and its PTTL.
func (f *fixture) state(t *testing.T) (string, time.Duration) {
	t.Helper()
	ctx := context.Background()
	v, err := f.rdb.Get(ctx, f.l.StateKey(f.key)).Result()
	if err == redis.Nil {
		return "", -2
	}
	if err != nil {
		t.Fatalf("GET state: %v", err)
	}
	ttl, err := f.rdb.PTTL(ctx, f.l.StateKey(f.key)).Result()
	if err != nil {
		t.Fatalf("PTTL state: %v", err)
	}
	return v, ttl
}

// algorithms are the four algorithms at a limit of 5 per minute, burst 5.
func algorithms(limit float64) map[string]Algorithm {
	return map[string]Algorithm{
		"fixed_window":   FixedWindow(limit, time.Minute),
		"sliding_window": SlidingWindow(limit, time.Minute),
		"token_bucket":   TokenBucket(limit, time.Minute, limit),
		"gcra":           GCRA(limit, time.Minute, limit),
	}
}

func TestAllowUpToLimit(t *testing.T) {
	for name, alg := range algorithms(5) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg, WithoutDenyCache())
			for i := range 5 {
				res := f.allowN(t, 1)
				if !res.Allowed {
					t.Fatalf("request %d denied: %+v", i+1, res)
				}
				if got, want := res.Remaining, int64(4-i); got != want {
					t.Errorf("request %d: Remaining = %d, want %d", i+1, got, want)
				}
			}
			res := f.allowN(t, 1)
			if res.Allowed {
				t.Fatalf("request 6 allowed: %+v", res)
			}
			if res.Reason != ReasonLimitExceeded {
				t.Errorf("Reason = %v, want limit_exceeded", res.Reason)
			}
			// A sliding window may wait into the next window, until the
			// weight of this one has decayed enough.
			if res.RetryAfter <= 0 || res.RetryAfter > 2*time.Minute {
				t.Errorf("RetryAfter = %v, want in (0, 2m]", res.RetryAfter)
			}
			if res.Limit != 5 {
				t.Errorf("Limit = %v, want 5", res.Limit)
			}
		})
	}
}

func TestRemainingZeroStillAllowed(t *testing.T) {
	for name, alg := range algorithms(5) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg)
			if res := f.allowN(t, 4); !res.Allowed || res.Remaining != 1 {
				t.Fatalf("AllowN(4) = %+v, want allowed with 1 remaining", res)
			}
			res := f.allowN(t, 1)
			if !res.Allowed {
				t.Fatalf("the request that brings Remaining to 0 was denied: %+v", res)
			}
			if res.Remaining != 0 {
				t.Errorf("Remaining = %d, want 0", res.Remaining)
			}
		})
	}
}

func TestCostAboveRemainingLeavesState(t *testing.T) {
	for name, alg := range algorithms(5) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg, WithoutDenyCache())
			f.allowN(t, 3)
			beforeValue, beforeTTL := f.state(t)

			f.clock.Advance(time.Millisecond)
			res := f.allowN(t, 3)
			if res.Allowed {
				t.Fatalf("AllowN(3) with 2 remaining was allowed: %+v", res)
			}
			afterValue, afterTTL := f.state(t)
			if afterValue != beforeValue {
				t.Errorf("state after denial = %q, want unchanged %q", afterValue, beforeValue)
			}
			if afterTTL > beforeTTL {
				t.Errorf("denial extended the TTL from %v to %v", beforeTTL, afterTTL)
			}
			if res := f.allowN(t, 2); !res.Allowed {
				t.Errorf("AllowN(2) with 2 remaining was denied: %+v", res)
			}
		})
	}
}

func TestSlidingWindowWeightsPrevious(t *testing.T) {
	f := newFixture(t, SlidingWindow(10, time.Minute), WithoutDenyCache())
	f.allowN(t, 10)

	// Halfway through the next window the previous count weighs 0.5.
	f.clock.Advance(90 * time.Second)
	res, err := f.l.Remaining(context.Background(), f.key)
	if err != nil {
		t.Fatal(err)
	}
	if res.Remaining != 5 {
		t.Fatalf("Remaining halfway through the next window = %d, want 5", res.Remaining)
	}
	if res := f.allowN(t, 5); !res.Allowed {
		t.Fatalf("AllowN(5) = %+v, want allowed", res)
	}
	res = f.allowN(t, 1)
	if res.Allowed {
		t.Fatalf("request above the weighted limit allowed: %+v", res)
	}
	// 10*(1-f) + 5 + 1 <= 10 once f >= 0.6, 6 s after now.
	if want := 6 * time.Second; res.RetryAfter < want || res.RetryAfter > want+time.Millisecond {
		t.Errorf("RetryAfter = %v, want %v", res.RetryAfter, want)
	}
	f.clock.Advance(res.RetryAfter)
	if res := f.allowN(t, 1); !res.Allowed {
		t.Errorf("request at RetryAfter denied: %+v", res)
	}
}

func TestFixedWindowRetryAfter(t *testing.T) {
	f := newFixture(t, FixedWindow(1, time.Minute), WithoutDenyCache())
	f.clock.Advance(10*time.Second + 500*time.Millisecond)
	f.allowN(t, 1)
	res := f.allowN(t, 1)
	if want := 49*time.Second + 500*time.Millisecond; res.RetryAfter != want {
		t.Errorf("RetryAfter = %v, want %v", res.RetryAfter, want)
	}
	if res.ResetAfter != res.RetryAfter {
		t.Errorf("ResetAfter = %v, want %v", res.ResetAfter, res.RetryAfter)
	}
}

func TestBucketRetryAfter(t *testing.T) {
	for _, alg := range []Algorithm{TokenBucket(1, time.Second, 2), GCRA(1, time.Second, 2)} {
		t.Run(alg.name(), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg, WithoutDenyCache())
			f.allowN(t, 2)
			res := f.allowN(t, 1)
			if res.Allowed {
				t.Fatalf("third request allowed: %+v", res)
			}
			if res.RetryAfter < time.Second-time.Millisecond || res.RetryAfter > time.Second+time.Millisecond {
				t.Errorf("RetryAfter = %v, want 1s", res.RetryAfter)
			}
			f.clock.Advance(res.RetryAfter)
			if res := f.allowN(t, 1); !res.Allowed {
				t.Errorf("request at RetryAfter denied: %+v", res)
			}
		})
	}
}

func TestLimitOne(t *testing.T) {
	for name, alg := range algorithms(1) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg, WithoutDenyCache())
			if res := f.allowN(t, 1); !res.Allowed || res.Remaining != 0 {
				t.Fatalf("first request = %+v, want allowed with 0 remaining", res)
			}
			res := f.allowN(t, 1)
			if res.Allowed || res.Reason != ReasonLimitExceeded || res.RetryAfter <= 0 {
				t.Fatalf("second request = %+v, want limit_exceeded with RetryAfter > 0", res)
			}
			if res := f.allowN(t, 2); res.Reason != ReasonCostExceedsLimit {
				t.Errorf("AllowN(2) reason = %v, want cost_exceeds_limit", res.Reason)
			}
		})
	}
}

func TestLimitZeroDeniesWithoutKeys(t *testing.T) {
	for name, alg := range algorithms(0) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg)
			res := f.allowN(t, 1)
			if res.Allowed {
				t.Fatalf("request under limit 0 allowed: %+v", res)
			}
			if res.Reason != ReasonCostExceedsLimit {
				t.Errorf("Reason = %v, want cost_exceeds_limit", res.Reason)
			}
			if res.RetryAfter != time.Minute {
				t.Errorf("RetryAfter = %v, want one period", res.RetryAfter)
			}
			if v, _ := f.state(t); v != "" {
				t.Errorf("limit 0 wrote state %q", v)
			}
			if res := f.allowN(t, 1); res.Source != SourceDenyCache {
				t.Errorf("second request source = %v, want deny_cache", res.Source)
			}
		})
	}
}

func TestOddLimitsNeverFail(t *testing.T) {
	cases := []struct {
		name        string
		alg         Algorithm
		wantAllowed int
	}{
		{"fixed fractional floors", FixedWindow(2.5, time.Minute), 2},
		{"sliding fractional", SlidingWindow(2.5, time.Minute), 2},
		{"bucket half per second", TokenBucket(0.5, time.Second, 1), 1},
		{"gcra half per second", GCRA(0.5, time.Second, 1), 1},
		{"fixed infinite", FixedWindow(math.Inf(1), time.Minute), 50},
		{"sliding huge", SlidingWindow(math.MaxFloat64, time.Minute), 50},
		{"bucket huge", TokenBucket(1e300, time.Nanosecond, math.Inf(1)), 50},
		{"gcra huge", GCRA(math.MaxInt64, time.Hour, math.MaxInt64), 50},
		{"fixed NaN", FixedWindow(math.NaN(), time.Minute), 0},
		{"gcra negative", GCRA(-3, time.Minute, 5), 0},
		{"bucket zero burst", TokenBucket(10, time.Second, 0), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.alg, WithoutDenyCache())
			allowed := 0
			for range 50 {
				if f.allowN(t, 1).Allowed {
					allowed++
				}
			}
			if allowed != tc.wantAllowed {
				t.Errorf("%v allowed %d of 50, want %d", tc.alg, allowed, tc.wantAllowed)
			}
			// A huge limit may expire the key within a millisecond, so PTTL
			// may find it gone (-2) or at 0; -1 means it has no TTL at all.
			if v, ttl := f.state(t); v != "" && ttl == -1 {
				t.Errorf("state %q has PTTL %v, want a TTL", v, ttl)
			}
		})
	}
}

func TestPeriodClamped(t *testing.T) {
	if got := FixedWindow(3, 0).Period(); got != MinPeriod {
		t.Errorf("FixedWindow(3, 0).Period() = %v, want %v", got, MinPeriod)
	}
	if got := GCRA(3, 100*365*24*time.Hour, 1).Period(); got != MaxPeriod {
		t.Errorf("GCRA period of 100 years = %v, want %v", got, MaxPeriod)
	}
}

// maxTTL is the longest TTL a state key may have under each algorithm at a
// limit of 5 per minute, burst 5. Both window algorithms keep a window
// until the end of the next one.
var maxTTL = map[string]time.Duration{
	"fixed_window":   2 * time.Minute,
	"sliding_window": 2 * time.Minute,
	"token_bucket":   time.Minute,
	"gcra":           time.Minute,
}

func TestTTLOnEveryKey(t *testing.T) {
	for name, alg := range algorithms(5) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg, WithoutDenyCache())
			ctx := context.Background()
			for i := range 40 {
				f.allowN(t, 1)
				if i%7 == 3 {
					// The key expired between two calls.
					f.rdb.Del(ctx, f.l.StateKey(f.key))
				}
				f.clock.Advance(time.Duration(i%5) * 3 * time.Second)
				v, ttl := f.state(t)
				if v == "" {
					continue
				}
				if ttl <= 0 || ttl > maxTTL[name] {
					t.Fatalf("after decision %d: state %q has PTTL %v, want in (0, %v]", i, v, ttl, maxTTL[name])
				}
			}
			if n, _ := f.rdb.Exists(ctx, f.l.OverrideKey(f.key)).Result(); n != 0 {
				t.Errorf("decisions created the override key")
			}
		})
	}
}

func TestConcurrentNeverExceedsLimit(t *testing.T) {
	for name, alg := range algorithms(100) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg)
			var allowed atomic.Int64
			var wg sync.WaitGroup
			for range 40 {
				wg.Go(func() {
					for range 10 {
						res, err := f.l.Allow(context.Background(), f.key)
						if err != nil || (res.Source != SourceRedis && res.Source != SourceDenyCache) {
							t.Errorf("Allow: %+v, %v", res, err)
							return
						}
						if res.Allowed {
							allowed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if got := allowed.Load(); got != 100 {
				t.Errorf("400 concurrent requests under limit 100: %d allowed, want exactly 100", got)
			}
		})
	}
}

func TestRemainingCreatesNoKey(t *testing.T) {
	for name, alg := range algorithms(5) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg)
			res, err := f.l.Remaining(context.Background(), f.key)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Allowed || res.Remaining != 5 {
				t.Errorf("Remaining on a new key = %+v, want allowed with 5", res)
			}
			if v, _ := f.state(t); v != "" {
				t.Errorf("Remaining wrote state %q", v)
			}
			f.allowN(t, 2)
			before, _ := f.state(t)
			res, _ = f.l.Remaining(context.Background(), f.key)
			if res.Remaining != 3 {
				t.Errorf("Remaining after spending 2 = %d, want 3", res.Remaining)
			}
			if after, _ := f.state(t); after != before {
				t.Errorf("Remaining changed state from %q to %q", before, after)
			}
		})
	}
}

func TestResetRestoresLimit(t *testing.T) {
	for name, alg := range algorithms(2) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg)
			f.allowN(t, 2)
			if res := f.allowN(t, 1); res.Allowed {
				t.Fatalf("third request allowed")
			}
			if res := f.allowN(t, 1); res.Source != SourceDenyCache {
				t.Fatalf("denial not cached: %+v", res)
			}
			if err := f.l.Reset(context.Background(), f.key); err != nil {
				t.Fatal(err)
			}
			if res := f.allowN(t, 1); !res.Allowed || res.Source != SourceRedis {
				t.Errorf("request after Reset = %+v, want allowed by Redis", res)
			}
		})
	}
}

func TestWaitReturnsWhenAllowed(t *testing.T) {
	f := newFixture(t, GCRA(1, time.Second, 1))
	f.allowN(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	done := make(chan Result, 1)
	go func() {
		res, err := f.l.Wait(ctx, f.key)
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		done <- res
	}()
	if err := f.clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	if res := <-done; !res.Allowed {
		t.Errorf("Wait returned a denial: %+v", res)
	}
}

func TestWaitStopsWithContext(t *testing.T) {
	f := newFixture(t, FixedWindow(0, time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.l.Wait(ctx, f.key)
		done <- err
	}()
	if err := f.clock.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("Wait after cancel = %v, want context canceled", err)
	}
}

func TestNewRejectsInvalidInput(t *testing.T) {
	rdb := server.Client(t)
	if _, err := New(nil, GCRA(1, time.Second, 1)); err == nil {
		t.Error("New(nil client) succeeded")
	}
	if _, err := New(rdb, Algorithm{}); err == nil {
		t.Error("New(zero algorithm) succeeded")
	}
	for _, p := range []string{"", "a{b", "a}"} {
		if _, err := New(rdb, GCRA(1, time.Second, 1), WithPrefix(p)); err == nil {
			t.Errorf("New(WithPrefix(%q)) succeeded", p)
		}
	}
}
