package adaptive_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/upstash-ops/sdk/ratelimit"
	"github.com/upstash-ops/sdk/ratelimit/adaptive"
)

// manualClock moves only when advance is called, so that the example
// replays hours of traffic at once and prints the same output on every run.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- c.Now().Add(d)
	return ch
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func ExampleTuner() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	clock := &manualClock{now: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}

	recorder, err := adaptive.NewRecorder(rdb, adaptive.WithRecorderClock(clock))
	if err != nil {
		panic(err)
	}
	limiter, err := ratelimit.New(rdb, ratelimit.GCRA(500, time.Minute, 500),
		ratelimit.WithClock(clock), ratelimit.WithOnDecision(recorder.Observe))
	if err != nil {
		panic(err)
	}
	accounts := adaptive.AccountLookupFunc(func(ctx context.Context, key string) (adaptive.Account, error) {
		return adaptive.Account{Known: true, Trusted: key == "acme", Tier: "enterprise", Name: "Acme"}, nil
	})
	tuner, err := adaptive.NewTuner(limiter, recorder, accounts,
		adaptive.WithOnAdjust(func(ctx context.Context, c adaptive.Change) error {
			fmt.Printf("%s %s: %s\n", c.Kind, c.Stage, c.Reason)
			return nil
		}))
	if err != nil {
		panic(err)
	}

	// Two hours at 100 requests a minute, then a data migration at 450.
	ctx := context.Background()
	for minute := range 125 {
		rate := int64(100)
		if minute >= 120 {
			rate = 450
		}
		recorder.Record("acme", rate, 0)
		clock.advance(time.Minute)
	}
	if _, err := recorder.Flush(ctx); err != nil {
		panic(err)
	}
	if _, err := tuner.Evaluate(ctx, "acme"); err != nil {
		panic(err)
	}
	limit, _ := limiter.EffectiveLimit(ctx, "acme")
	fmt.Println("limit now:", limit)
	// Output:
	// raise proposed: trusted key at 450 per 1m0s, 90% of its limit 500 and 4.5x its baseline: raised to 1000 for 1h0m0s
	// raise applied: trusted key at 450 per 1m0s, 90% of its limit 500 and 4.5x its baseline: raised to 1000 for 1h0m0s
	// limit now: 1000
}
