package costlint

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
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
