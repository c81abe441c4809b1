package costlint_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/costlint"
	"github.com/upstash-ops/sdk/internal/clock"
)

// Example instruments a client, runs an N+1 loop for ten simulated
// seconds and prints the priced findings.
func Example() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), DisableIdentity: true})
	defer rdb.Close()

	fake := clock.NewFake(time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC))
	linter := costlint.Instrument(rdb, costlint.WithClock(fake))

	ctx := context.Background()
	for range 20 { // 2 requests a second for 10 seconds
		reqCtx := costlint.WithScope(ctx) // one scope per request
		for id := range 100 {
			rdb.Get(reqCtx, fmt.Sprintf("user:%d:profile", id))
		}
		fake.Advance(500 * time.Millisecond)
	}

	report := linter.Report()
	fmt.Printf("%s commands a month, $%.2f\n", formatCount(report.CommandsPerMonth), report.CostPerMonth)
	for _, f := range report.Findings {
		fmt.Printf("%s %s: $%.2f a month\n", f.Severity, f.Rule, f.MonthlySavings)
	}
	// The extra 259,200 commands a month are one CLIENT command that
	// go-redis sends while it opens the connection.

	// Output:
	// 518,659,200 commands a month, $1037.32
	// high n-plus-one: $1026.43 a month
}

// ExampleReport_WriteJSON prints the start of the JSON report.
func ExampleReport_WriteJSON() {
	linter := costlint.New(costlint.WithClock(clock.NewFake(time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC))))
	report := linter.Report()
	report.Findings = report.Findings[:0]
	if err := report.WriteJSON(os.Stdout); err != nil {
		panic(err)
	}
	// Output:
	// {
	//   "schema_version": 1,
	//   "pricing": "Upstash pay-as-you-go",
	//   "window_start": "2026-01-05T12:00:00Z",
	//   "window_end": "2026-01-05T12:00:00Z",
	//   "window_seconds": 0,
	//   "commands_observed": 0,
	//   "commands_per_month": 0,
	//   "bandwidth_per_month_gb": 0,
	//   "cost_per_month_usd": 0,
	//   "commands_per_second": 0,
	//   "findings": [],
	//   "monthly_savings_usd": 0,
	//   "overflow": {
	//     "call_sites": 0,
	//     "patterns": 0,
	//     "unknown_scripts": 0
	//   }
	// }
}

func formatCount(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// ExampleNewRule adds a rule that flags any pattern read more than 1,000
// times in the window, next to the built-in rules.
func ExampleNewRule() {
	hotPatterns := costlint.NewRule("hot-pattern", func(s *costlint.Snapshot) []costlint.Finding {
		var out []costlint.Finding
		for _, p := range s.Patterns {
			if p.Reads > 1000 {
				out = append(out, costlint.Finding{
					Title:            "Many reads of " + p.Pattern,
					Evidence:         fmt.Sprintf("%d reads", p.Reads),
					Recommendation:   "Cache it in process.",
					CommandsPerMonth: s.PerMonth(float64(p.Reads)),
				})
			}
		}
		return out
	})

	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), DisableIdentity: true})
	defer rdb.Close()
	fake := clock.NewFake(time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC))
	linter := costlint.Instrument(rdb, costlint.WithClock(fake),
		costlint.WithRules(hotPatterns)) // only this rule

	ctx := costlint.WithScope(context.Background())
	for i := range 1500 {
		rdb.Get(ctx, fmt.Sprintf("price:%d", i%10))
	}
	fake.Advance(time.Minute)

	for _, f := range linter.Report().Findings {
		fmt.Printf("%s: %s, %s, $%.2f a month\n", f.Rule, f.Title, f.Evidence, f.MonthlySavings)
	}
	// Output:
	// hot-pattern: Many reads of price:{id}, 1500 reads, $129.60 a month
}
