package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
)

// skewedPair returns two limiters on one key of the shared redis-server
// whose clocks are 5 s ahead and 5 s behind the true time.
func skewedPair(t *testing.T, alg Algorithm, opts ...Option) (ahead, behind *Limiter, aheadClock, behindClock *clock.Fake, key string) {
	t.Helper()
	aheadClock = clock.NewFake(epoch.Add(5 * time.Second))
	behindClock = clock.NewFake(epoch.Add(-5 * time.Second))
	var err error
	ahead, err = New(server.Client(t), alg, append([]Option{WithClock(aheadClock), WithoutDenyCache(), WithTimeout(time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	behind, err = New(server.Client(t), alg, append([]Option{WithClock(behindClock), WithoutDenyCache(), WithTimeout(time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return ahead, behind, aheadClock, behindClock, uniqueKey(t)
}

// skewAlgorithms admit 10 requests per second with a burst of 10.
var skewAlgorithms = map[string]Algorithm{
	"fixed_window":   FixedWindow(10, time.Second),
	"sliding_window": SlidingWindow(10, time.Second),
	"token_bucket":   TokenBucket(10, time.Second, 10),
	"gcra":           GCRA(10, time.Second, 10),
}

func TestSkewedClockCannotReopenQuota(t *testing.T) {
	for name, alg := range skewAlgorithms {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ahead, behind, _, _, key := skewedPair(t, alg)
			ctx := context.Background()
			if res, err := ahead.AllowN(ctx, key, 10); err != nil || !res.Allowed {
				t.Fatalf("server ahead: AllowN(10) = %+v, %v", res, err)
			}
			// The server 10 s behind must see the quota as spent, not as a
			// window or bucket of its own past.
			res, err := behind.Allow(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if res.Allowed {
				t.Errorf("server behind was allowed after the server ahead spent the limit: %+v", res)
			}
		})
	}
}

// TestSkewedClocksBoundedOverRun alternates requests from two servers whose
// clocks are 10 s apart for 20 s of true time, 50 requests per second each,
// and checks the total against one clock's bound: the burst plus the rate
// times the elapsed time, plus one more window for the fixed window's
// boundary.
func TestSkewedClocksBoundedOverRun(t *testing.T) {
	for name, alg := range skewAlgorithms {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ahead, behind, aheadClock, behindClock, key := skewedPair(t, alg)
			ctx := context.Background()
			allowed := 0
			const steps = 1000
			for range steps {
				for _, l := range []*Limiter{ahead, behind} {
					res, err := l.Allow(ctx, key)
					if err != nil {
						t.Fatal(err)
					}
					if res.Allowed {
						allowed++
					}
				}
				aheadClock.Advance(20 * time.Millisecond)
				behindClock.Advance(20 * time.Millisecond)
			}
			// 20 s at 10/s, plus a burst of 10, plus 10 for the window that
			// is open at the end.
			if limit := 10 + 200 + 10; allowed > limit {
				t.Errorf("two skewed servers allowed %d in 20 s, want at most %d", allowed, limit)
			}
			if allowed < 150 {
				t.Errorf("two skewed servers allowed only %d in 20 s; the slow clock starves the fast one", allowed)
			}
		})
	}
}

func TestServerTimeIgnoresCallerClocks(t *testing.T) {
	// Hour-long periods, so that the real seconds this test takes neither
	// refill a bucket nor cross a window boundary (but once in 10^5 runs).
	for name, alg := range algorithms(10) {
		alg.period = time.Hour
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ahead, behind, aheadClock, _, key := skewedPair(t, alg, WithServerTime())
			aheadClock.Advance(time.Hour)
			ctx := context.Background()
			allowed := 0
			for range 10 {
				for _, l := range []*Limiter{ahead, behind} {
					if res, err := l.Allow(ctx, key); err != nil {
						t.Fatal(err)
					} else if res.Allowed {
						allowed++
					}
				}
			}
			if allowed != 10 {
				t.Errorf("allowed %d of 20 on server time, want 10", allowed)
			}
		})
	}
}
