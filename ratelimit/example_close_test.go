package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/upstash-ops/sdk/ratelimit"
)

// A limiter on a client without ContextTimeoutEnabled calls Redis on worker
// goroutines, which Close stops. Later decisions go to the failure policy
// with ErrClosed.
func ExampleLimiter_Close() {
	rdb, stop := newExampleRedis()
	defer stop()

	limiter, err := ratelimit.New(rdb, ratelimit.SlidingWindow(3, time.Minute),
		ratelimit.WithClock(exampleClock), ratelimit.WithFailClosed())
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	res, _ := limiter.Allow(ctx, "user:42")
	fmt.Printf("before Close: allowed=%v source=%v\n", res.Allowed, res.Source)

	if err := limiter.Close(); err != nil {
		panic(err)
	}
	res, _ = limiter.Allow(ctx, "user:42")
	fmt.Printf("after Close: allowed=%v source=%v closed=%v\n", res.Allowed, res.Source, errors.Is(res.Err, ratelimit.ErrClosed))
	// Output:
	// before Close: allowed=true source=redis
	// after Close: allowed=false source=fail_closed closed=true
}
