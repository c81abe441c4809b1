// Command adaptive-ratelimit runs an HTTP service behind ratelimit.Middleware
// with the adaptive policy, drives it with a scripted traffic generator and
// prints each limit change with its reason.
//
// Time is simulated: a fake clock moves one minute per step, so two and a
// half hours of traffic replay in a few seconds. The script has three
// accounts with a default limit of 50 requests a minute:
//
//   - acme, a trusted enterprise account, runs a data migration at 90% of
//     its limit and gets a temporary raise that reverts when it expires;
//   - a key the account lookup does not know jumps to 20 times its
//     baseline and is cut, flagged for review;
//   - beta, a known account, sends steady traffic and gets no change.
//
// By default it starts an in-process Redis (miniredis), whose key TTLs
// follow the simulated clock. Set REDIS_URL (for example
// redis://127.0.0.1:6379/0) to run against a real server instead. There
// override TTLs run on the server's own clock, so the raise does not revert
// within the run. The demo's keys are deleted at the end either way. All
// traffic goes to a loopback listener.
//
//	go run ./examples/adaptive-ratelimit
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/ratelimit"
	"github.com/upstash-ops/sdk/ratelimit/adaptive"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// start is when the simulated day begins.
var start = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)

// evaluateEvery is how often Tuner.Run flushes the history and evaluates
// the keys it flushed.
const evaluateEvery = 5 * time.Minute

// accounts is the application's account table. The flood key is absent
// from it, so the tuner treats it as unknown and untrusted.
var accounts = map[string]adaptive.Account{
	"acme": {Known: true, Trusted: true, Tier: "enterprise", Name: "Acme Corp"},
	"beta": {Known: true, Tier: "free", Name: "Beta Labs"},
}

// rates returns the requests each key sends in simulated minute m.
func rates(m int) map[string]int {
	r := map[string]int{"acme": 10, "beta": 8, "k-7f3a": 2}
	if m >= 60 && m < 75 {
		r["acme"] = 45 // a data migration: 90% of the limit, 4.5x the baseline
	}
	if m >= 80 && m < 100 {
		r["k-7f3a"] = 40 // 20x its baseline
	}
	return r
}

// minutes is the length of the script; the last hour has little traffic,
// so acme's raise expires within it.
const minutes = 150

func run(ctx context.Context, out io.Writer) error {
	fake := clock.NewFake(start)
	rdb, where, advanceRedis, cleanup, err := connect()
	if err != nil {
		return err
	}
	defer cleanup()
	prefix := demoPrefix()
	defer deleteKeys(ctx, rdb, prefix)

	recorder, err := adaptive.NewRecorder(rdb, adaptive.WithPrefix(prefix), adaptive.WithRecorderClock(fake))
	if err != nil {
		return err
	}
	// GCRA spaces the allowed requests evenly, so the demo's traffic
	// meets the limit smoothly.
	limiter, err := ratelimit.New(rdb, ratelimit.GCRA(50, time.Minute, 50),
		ratelimit.WithPrefix(prefix), ratelimit.WithClock(fake),
		ratelimit.WithTimeout(time.Second), ratelimit.WithOnDecision(recorder.Observe))
	if err != nil {
		return err
	}
	lookup := adaptive.AccountLookupFunc(func(_ context.Context, key string) (adaptive.Account, error) {
		return accounts[key], nil
	})
	printChange := func(_ context.Context, c adaptive.Change) error {
		if c.Stage == adaptive.StageProposed {
			return nil // the applied stage follows at once
		}
		flag := ""
		if c.Flagged {
			flag = " [review]"
		}
		fmt.Fprintf(out, "%s %-9s %-8s %s%s\n", c.At.Format("15:04"), c.Kind.String()+" "+c.Stage.String(), c.Key, c.Reason, flag)
		return nil
	}
	tuner, err := adaptive.NewTuner(limiter, recorder, lookup, adaptive.WithOnAdjust(printChange))
	if err != nil {
		return err
	}

	srv := httptest.NewServer(ratelimit.Middleware(limiter, ratelimit.WithKey(accountKey))(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })))
	defer srv.Close()

	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- tuner.Run(runCtx, evaluateEvery) }()
	defer func() {
		stopRun()
		<-runDone
	}()

	fmt.Fprintf(out, "Replaying %d simulated minutes of traffic on %s, limit 50/min per key.\n\n", minutes, where)
	totals := map[string]*[2]int{}
	for m := range minutes {
		for key, n := range rates(m) {
			allowed, denied, err := send(ctx, srv.Client(), srv.URL, key, n)
			if err != nil {
				return err
			}
			if totals[key] == nil {
				totals[key] = &[2]int{}
			}
			totals[key][0] += allowed
			totals[key][1] += denied
		}
		// Advance only while Run waits for its next round, so that each
		// round runs at the same simulated time on every run.
		if err := fake.BlockUntil(ctx, 1); err != nil {
			return err
		}
		fake.Advance(time.Minute)
		advanceRedis(time.Minute)
	}
	if err := fake.BlockUntil(ctx, 1); err != nil {
		return err
	}

	fmt.Fprintln(out)
	for _, key := range []string{"acme", "beta", "k-7f3a"} {
		limit, err := limiter.EffectiveLimit(ctx, key)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%-8s allowed %5d  denied %5d  limit now %g/min\n", key, totals[key][0], totals[key][1], limit)
	}
	return nil
}

// accountKey keys requests by the X-Account header. A real service would
// key by an API key, which KeyByHeader hashes before it reaches Redis.
func accountKey(r *http.Request) (string, error) {
	if v := r.Header.Get("X-Account"); v != "" {
		return v, nil
	}
	return "", ratelimit.ErrNoKey
}

// send makes n requests for key and counts the allowed and the denied.
func send(ctx context.Context, client *http.Client, url, key string, n int) (allowed, denied int, err error) {
	for range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return allowed, denied, err
		}
		req.Header.Set("X-Account", key)
		resp, err := client.Do(req)
		if err != nil {
			return allowed, denied, fmt.Errorf("request for %s: %w", key, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			allowed++
		case http.StatusTooManyRequests:
			denied++
		default:
			return allowed, denied, fmt.Errorf("request for %s: unexpected status %s", key, resp.Status)
		}
	}
	return allowed, denied, nil
}

// connect returns a client of REDIS_URL, or of an in-process miniredis,
// with a function that moves the server's TTL clock (a no-op on a real
// server).
func connect() (rdb *redis.Client, where string, advance func(time.Duration), cleanup func(), err error) {
	if url := os.Getenv("REDIS_URL"); url != "" {
		opt, err := redis.ParseURL(url)
		if err != nil {
			return nil, "", nil, nil, fmt.Errorf("invalid REDIS_URL: %w", err)
		}
		opt.DisableIdentity = true
		rdb := redis.NewClient(opt)
		return rdb, "Redis at " + opt.Addr, func(time.Duration) {}, func() { rdb.Close() }, nil
	}
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return nil, "", nil, nil, fmt.Errorf("start in-process Redis: %w", err)
	}
	rdb = redis.NewClient(&redis.Options{Addr: mr.Addr(), DisableIdentity: true})
	cleanup = func() {
		rdb.Close()
		mr.Close()
	}
	return rdb, "an in-process Redis", mr.FastForward, cleanup, nil
}

// demoPrefix returns a key prefix of its own for this run, so that a run on
// a shared server touches no other keys.
func demoPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "adaptive-demo-" + hex.EncodeToString(b[:])
}

func deleteKeys(ctx context.Context, rdb *redis.Client, prefix string) {
	iter := rdb.Scan(ctx, 0, "{"+prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}
