// Command quickstart runs a small app with wasteful Redis access patterns
// through a go-redis client instrumented by costlint, then prints the
// priced cost report.
//
// By default it starts an in-process Redis (miniredis), so it needs no
// setup. Set REDIS_URL (for example redis://127.0.0.1:6379/0) to run the
// same app against a real server. The app writes keys under the "qs:"
// prefix and deletes them at the end.
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -duration 5s -format markdown
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/costlint"
)

func main() {
	duration := flag.Duration("duration", 3*time.Second, "how long the simulated app runs")
	rate := flag.Int("rate", 20, "simulated HTTP requests a second")
	format := flag.String("format", "text", "report format: text, markdown or json")
	flag.Parse()

	if err := run(context.Background(), os.Stdout, os.Stderr, *duration, *rate, *format); err != nil {
		log.Fatal(err)
	}
}

// run writes the report to out and progress messages to status, so that
// out carries only the report and -format json can be piped to a parser.
func run(ctx context.Context, out, status io.Writer, duration time.Duration, rate int, format string) error {
	if rate < 1 {
		return fmt.Errorf("invalid -rate %d: want at least 1 request a second", rate)
	}
	if format != "text" && format != "markdown" && format != "json" {
		return fmt.Errorf("invalid -format %q: want text, markdown or json", format)
	}
	rdb, where, cleanup, err := connect()
	if err != nil {
		return err
	}
	defer cleanup()

	if err := seed(ctx, rdb); err != nil {
		return err
	}
	// Instrument after seeding, so that one-off setup is not projected to
	// a month of traffic.
	linter := costlint.Instrument(rdb)
	fmt.Fprintf(status, "Running the demo app on %s for %s at %d requests/s...\n\n", where, duration, rate)

	if err := simulate(ctx, rdb, duration, rate); err != nil {
		return err
	}

	report := linter.Report()
	switch format {
	case "text":
		return report.WriteText(out)
	case "markdown":
		return report.WriteMarkdown(out)
	case "json":
		return report.WriteJSON(out)
	}
	return fmt.Errorf("invalid -format %q: want text, markdown or json", format)
}

// connect returns a client for REDIS_URL, or for an in-process miniredis
// whose clock is advanced in real time so that TTLs expire.
func connect() (*redis.Client, string, func(), error) {
	if url := os.Getenv("REDIS_URL"); url != "" {
		opt, err := redis.ParseURL(url)
		if err != nil {
			return nil, "", nil, fmt.Errorf("invalid REDIS_URL: %w", err)
		}
		opt.DisableIdentity = true
		rdb := redis.NewClient(opt)
		cleanup := func() {
			ctx := context.Background()
			iter := rdb.Scan(ctx, 0, "qs:*", 1000).Iterator()
			for iter.Next(ctx) {
				rdb.Del(ctx, iter.Val())
			}
			rdb.Close()
		}
		return rdb, "Redis at " + opt.Addr, cleanup, nil
	}

	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return nil, "", nil, fmt.Errorf("start in-process Redis: %w", err)
	}
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				mr.FastForward(50 * time.Millisecond)
			case <-stop:
				return
			}
		}
	}()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), DisableIdentity: true})
	cleanup := func() {
		close(stop)
		rdb.Close()
		mr.Close()
	}
	return rdb, "an in-process Redis (set REDIS_URL to use a real server)", cleanup, nil
}

// simulate serves rate requests a second for duration, and runs an admin
// job once a second.
func simulate(ctx context.Context, rdb *redis.Client, duration time.Duration, rate int) error {
	interval := time.Second / time.Duration(rate)
	deadline := time.Now().Add(duration)
	lastAdmin := time.Time{}
	for n := 0; time.Now().Before(deadline); n++ {
		reqCtx := costlint.WithScope(ctx) // one scope per request
		if err := handleFriends(reqCtx, rdb, n); err != nil {
			return err
		}
		if err := handleProduct(reqCtx, rdb, n%5); err != nil {
			return err
		}
		if err := countHit(reqCtx, rdb, "home"); err != nil {
			return err
		}
		if time.Since(lastAdmin) >= time.Second {
			if err := adminSessions(ctx, rdb); err != nil {
				return err
			}
			lastAdmin = time.Now()
		}
		time.Sleep(interval)
	}
	return nil
}

// seed writes the user profiles that the app reads.
func seed(ctx context.Context, rdb *redis.Client) error {
	pairs := make([]any, 0, 100)
	for id := range 50 {
		pairs = append(pairs, fmt.Sprintf("qs:user:%d:profile", id), `{"name":"user"}`)
	}
	if err := rdb.MSet(ctx, pairs...).Err(); err != nil {
		return fmt.Errorf("seed demo data: %w", err)
	}
	return nil
}

// handleFriends loads 20 friend profiles one GET at a time: the N+1.
func handleFriends(ctx context.Context, rdb *redis.Client, n int) error {
	for i := range 20 {
		id := (n + i) % 50
		err := rdb.Get(ctx, fmt.Sprintf("qs:user:%d:profile", id)).Err()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("load profile %d: %w", id, err)
		}
	}
	return nil
}

// handleProduct reads through a cache whose 1-second TTL makes every key
// expire and be rebuilt constantly.
func handleProduct(ctx context.Context, rdb *redis.Client, id int) error {
	key := fmt.Sprintf("qs:product:%d", id)
	err := rdb.Get(ctx, key).Err()
	if errors.Is(err, redis.Nil) {
		return rdb.Set(ctx, key, "product details", time.Second).Err()
	}
	return err
}

// countHit refreshes the counter's TTL on every hit.
func countHit(ctx context.Context, rdb *redis.Client, page string) error {
	key := "qs:hits:" + page
	if err := rdb.Incr(ctx, key).Err(); err != nil {
		return err
	}
	return rdb.Expire(ctx, key, time.Hour).Err()
}

// adminSessions lists sessions with KEYS.
func adminSessions(ctx context.Context, rdb *redis.Client) error {
	return rdb.Keys(ctx, "qs:session:*").Err()
}
