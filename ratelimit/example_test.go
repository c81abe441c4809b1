package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/upstash-ops/sdk/ratelimit"
)

// stoppedClock is a clock that does not move, so that the examples print
// the same output on every run. Production code leaves WithClock out.
type stoppedClock struct{ now time.Time }

func (c stoppedClock) Now() time.Time { return c.now }

func (c stoppedClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- c.now.Add(d)
	return ch
}

var exampleClock = stoppedClock{now: time.Date(2026, 3, 1, 12, 0, 15, 0, time.UTC)}

// newExampleRedis starts an in-process Redis, so that the examples run with
// nothing installed; a real deployment passes its own go-redis client.
func newExampleRedis() (*redis.Client, func()) {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	return rdb, func() { rdb.Close(); mr.Close() }
}

func Example() {
	rdb, stop := newExampleRedis()
	defer stop()

	limiter, err := ratelimit.New(rdb, ratelimit.SlidingWindow(3, time.Minute),
		ratelimit.WithClock(exampleClock))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for range 4 {
		res, err := limiter.Allow(ctx, "user:42")
		if err != nil {
			panic(err)
		}
		fmt.Printf("allowed=%v remaining=%d reason=%v\n", res.Allowed, res.Remaining, res.Reason)
	}
	// Output:
	// allowed=true remaining=2 reason=none
	// allowed=true remaining=1 reason=none
	// allowed=true remaining=0 reason=none
	// allowed=false remaining=0 reason=limit_exceeded
}

// A fixed window with a request of cost 3: a cost that does not fit is
// denied and leaves the count as it was, so a cheaper request still fits.
func ExampleFixedWindow() {
	rdb, stop := newExampleRedis()
	defer stop()

	limiter, err := ratelimit.New(rdb, ratelimit.FixedWindow(5, time.Minute),
		ratelimit.WithClock(exampleClock))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for _, cost := range []int{3, 3, 2, 1} {
		res, err := limiter.AllowN(ctx, "user:42", cost)
		if err != nil {
			panic(err)
		}
		fmt.Printf("cost=%d allowed=%v remaining=%d retry_after=%v\n", cost, res.Allowed, res.Remaining, res.RetryAfter)
	}
	// Output:
	// cost=3 allowed=true remaining=2 retry_after=0s
	// cost=3 allowed=false remaining=2 retry_after=45s
	// cost=2 allowed=true remaining=0 retry_after=0s
	// cost=1 allowed=false remaining=0 retry_after=45s
}

func ExampleMiddleware() {
	rdb, stop := newExampleRedis()
	defer stop()

	limiter, err := ratelimit.New(rdb, ratelimit.TokenBucket(2, time.Minute, 2),
		ratelimit.WithClock(exampleClock))
	if err != nil {
		panic(err)
	}
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	handler := ratelimit.Middleware(limiter, ratelimit.WithKey(ratelimit.KeyByHeader("X-API-Key")))(hello)

	for range 3 {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-API-Key", "key-of-customer-a")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Printf("%d RateLimit: %s Retry-After: %q\n", rec.Code, rec.Header().Get("RateLimit"), rec.Header().Get("Retry-After"))
	}
	// Output:
	// 200 RateLimit: "default";r=1;t=30 Retry-After: ""
	// 200 RateLimit: "default";r=0;t=60 Retry-After: ""
	// 429 RateLimit: "default";r=0;t=30 Retry-After: "30"
}

func ExampleLimiter_SetOverride() {
	rdb, stop := newExampleRedis()
	defer stop()

	limiter, err := ratelimit.New(rdb, ratelimit.GCRA(1, time.Second, 1),
		ratelimit.WithClock(exampleClock))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	res, _ := limiter.AllowN(ctx, "tenant:acme", 5)
	fmt.Println("default limit:", res.Limit, "allowed:", res.Allowed)

	// Raise the limit for one key for an hour; it reverts by itself.
	if err := limiter.SetOverride(ctx, "tenant:acme", 10, time.Hour); err != nil {
		panic(err)
	}
	res, _ = limiter.AllowN(ctx, "tenant:acme", 5)
	fmt.Println("override limit:", res.Limit, "allowed:", res.Allowed)
	// Output:
	// default limit: 1 allowed: false
	// override limit: 10 allowed: true
}
