package costlint

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestNPlusOneMonthlyDollars runs 2 requests a second, each doing 200
// sequential GETs from one call site, on a real redis-server for 5
// simulated seconds.
//
// By hand: 2 req/s * 200 GET = 400 GET/s. A 30-day month has 2,592,000 s,
// so 400 * 2,592,000 = 1,036,800,000 GETs a month, which at $0.20 per
// 100,000 commands costs 1,036,800,000 / 100,000 * 0.20 = $2,073.60.
// With one MGET per request: 2 * 2,592,000 = 5,184,000 commands, $10.368.
// Savings: 2,073.60 - 10.368 = $2,063.232 a month.
func TestNPlusOneMonthlyDollars(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()

	ids := make([]int, 200)
	for i := range ids {
		ids[i] = 1000 + i
		mustNoErr(t, rdb.Set(ctx, "user:"+itoa(ids[i])+":profile", "{}", 0).Err())
	}
	l.Reset() // the window starts after the seeding writes

	for range 10 {
		if err := userProfiles(ctx, rdb, ids); err != nil {
			t.Fatal(err)
		}
		fake.Advance(500 * time.Millisecond)
	}

	rep := l.Report()
	if rep.WindowSeconds != 5 {
		t.Fatalf("window = %vs, want 5s", rep.WindowSeconds)
	}
	if rep.CommandsObserved != 2000 {
		t.Errorf("commands observed = %d, want 2000", rep.CommandsObserved)
	}
	f := findingByRule(t, rep, "n-plus-one")
	approx(t, "CommandsPerMonth", f.CommandsPerMonth, 1_036_800_000)
	approx(t, "CommandsPerMonthAfter", f.CommandsPerMonthAfter, 5_184_000)
	approx(t, "MonthlySavings", f.MonthlySavings, 2063.232)
	if f.Severity != SeverityHigh {
		t.Errorf("severity = %v, want high (savings above $200)", f.Severity)
	}
	if len(f.Patterns) != 1 || f.Patterns[0] != "user:{id}:profile" {
		t.Errorf("patterns = %v, want [user:{id}:profile]", f.Patterns)
	}
	if len(f.CallSites) != 1 || !strings.Contains(f.CallSites[0], "userProfiles") {
		t.Errorf("call sites = %v, want userProfiles", f.CallSites)
	}
	if !strings.Contains(f.Recommendation, "MGET") {
		t.Errorf("recommendation %q does not name MGET", f.Recommendation)
	}
	if !strings.Contains(f.Recommendation, "pipeline would save round trips but not money") {
		t.Errorf("recommendation %q does not say a pipeline saves nothing", f.Recommendation)
	}
	if !strings.Contains(f.After, "MGet") {
		t.Errorf("after sketch %q does not use MGet", f.After)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestNPlusOnePipelinedSavesNothing checks that GETs already sent in a
// pipeline are still priced as N+1, because every pipelined command is
// billed, and that the recommendation states it.
func TestNPlusOnePipelinedSavesNothing(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()
	tenSecondWindow(t, fake, 10, func(int) {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for id := range 50 {
				p.Get(ctx, "user:"+strconv.Itoa(id)+":name")
			}
			return nil
		})
		mustNoErr(t, err)
	})
	f := findingByRule(t, l.Report(), "n-plus-one")
	// 500 GETs in 10 s -> 129,600,000 a month; one MGET per pipeline:
	// 10 -> 2,592,000. Savings 127,008,000 * $0.000002 = $254.016.
	approx(t, "CommandsPerMonth", f.CommandsPerMonth, 500*perCommandMonthly)
	approx(t, "CommandsPerMonthAfter", f.CommandsPerMonthAfter, 10*perCommandMonthly)
	approx(t, "MonthlySavings", f.MonthlySavings, 254.016)
	if !strings.Contains(f.Recommendation, "saves round trips but no money") {
		t.Errorf("recommendation = %q, want it to say the pipeline saves no money", f.Recommendation)
	}
}

// TestNPlusOneSameHashFields checks HGET of many fields of one hash, which
// HMGET replaces.
func TestNPlusOneSameHashFields(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()
	tenSecondWindow(t, fake, 10, func(int) {
		for field := range 8 {
			mustNoErr(t, rdb.HGet(ctx, "settings:42", "f"+strconv.Itoa(field)).Err())
		}
	})
	f := findingByRule(t, l.Report(), "n-plus-one")
	if f.Commands[1] != "HMGET" {
		t.Errorf("replacement = %v, want HMGET", f.Commands)
	}
	approx(t, "CommandsPerMonth", f.CommandsPerMonth, 80*perCommandMonthly)
	approx(t, "CommandsPerMonthAfter", f.CommandsPerMonthAfter, 10*perCommandMonthly)
}

// TestTxPipelineRealServer checks that a MULTI/EXEC transaction is
// recorded in Tx mode with MULTI and EXEC billed.
func TestTxPipelineRealServer(t *testing.T) {
	rdb, l, _ := newRealClient(t)
	ctx := context.Background()
	l.Reset()
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "counter:1")
		p.Expire(ctx, "counter:1", time.Minute)
		return nil
	})
	mustNoErr(t, err)
	s := l.Snapshot()
	if s.BilledCommands != 5 || s.HandshakeCommands != 1 {
		t.Errorf("billed = %d, want 4 (MULTI, INCR, EXPIRE, EXEC) plus 1 handshake", s.BilledCommands)
	}
	for _, site := range s.Sites {
		if site.Mode != Tx {
			t.Errorf("%s mode = %v, want tx", site.Command, site.Mode)
		}
	}
}

// TestSkipPackagesMovesCallSite treats userProfiles as a wrapper of
// go-redis, so the call site becomes the test that calls it.
func TestSkipPackagesMovesCallSite(t *testing.T) {
	rdb, l, _ := newRealClient(t, WithSkipPackages("github.com/upstash-ops/sdk/costlint.userProfiles"))
	if err := userProfiles(context.Background(), rdb, []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	site := siteFor(t, l.Snapshot(), "get")
	if !strings.Contains(site.CallSite, "TestSkipPackagesMovesCallSite") {
		t.Errorf("call site = %q, want the test, not the skipped wrapper", site.CallSite)
	}
}

// TestNPlusOneConcurrentRequests runs eight requests at once through one
// call site with no Scope. Each goroutine's loop is a run of its own, so
// the report counts eight bursts, not one merged run.
func TestNPlusOneConcurrentRequests(t *testing.T) {
	if getg() == 0 {
		t.Skip("goroutines are distinguished only on linux/amd64")
	}
	rdb, l, _ := newRealClient(t)
	ctx := context.Background()
	ids := make([]int, 50)
	for i := range ids {
		ids[i] = i
	}
	mustNoErr(t, rdb.Ping(ctx).Err()) // open the first connection
	l.Reset()

	// Every goroutine stays alive until the snapshot, because the runtime
	// reuses the goroutine of one that ended for the next, which would
	// make two requests one caller.
	var finished, exited sync.WaitGroup
	release := make(chan struct{})
	for range 8 {
		finished.Add(1)
		exited.Go(func() {
			if err := userProfiles(ctx, rdb, ids); err != nil {
				t.Error(err)
			}
			finished.Done()
			<-release
		})
	}
	finished.Wait()
	site := siteFor(t, l.Snapshot(), "get")
	close(release)
	exited.Wait()

	if site.Bursts != 8 || site.BatchCalls != 8 || site.BurstCalls != 400 {
		t.Errorf("bursts = %d, batch calls = %d, burst calls = %d; want 8, 8, 400",
			site.Bursts, site.BatchCalls, site.BurstCalls)
	}
}

// deepGet calls GET through depth nested frames of itself.
//
//go:noinline
func deepGet(ctx context.Context, rdb *redis.Client, depth int) error {
	if depth == 0 {
		return rdb.Get(ctx, "deep:1").Err()
	}
	return deepGet(ctx, rdb, depth-1)
}

// TestCallSiteBeyondFastWalk hides the caller behind more skipped frames
// than the frame-pointer walk reads, so the runtime.Callers path finds it.
func TestCallSiteBeyondFastWalk(t *testing.T) {
	rdb, l, _ := newRealClient(t, WithSkipPackages("github.com/upstash-ops/sdk/costlint.deepGet"))
	mustNoErr(t, deepGet(context.Background(), rdb, 12))
	site := siteFor(t, l.Snapshot(), "get")
	if !strings.Contains(site.CallSite, "TestCallSiteBeyondFastWalk") {
		t.Errorf("call site = %q, want the test above 13 skipped frames", site.CallSite)
	}
}
