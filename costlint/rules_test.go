package costlint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/redistest"
	"github.com/upstash-ops/sdk/internal/upstashapi"
)

// Every workload below runs on a real redis-server over a window of 10
// simulated seconds, so one command in the window is 259,200 commands a
// month (2,592,000 s / 10 s), which costs $0.5184 at $0.20 per 100,000.
const perCommandMonthly = 259_200

func tenSecondWindow(t *testing.T, fake *clock.Fake, steps int, step func(i int)) {
	t.Helper()
	for i := range steps {
		step(i)
		fake.Advance(10 * time.Second / time.Duration(steps))
	}
}

func TestRuleRedundantExpireAfterIncr(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()
	tenSecondWindow(t, fake, 100, func(int) {
		mustNoErr(t, rdb.Incr(ctx, "rl:42").Err())
		mustNoErr(t, rdb.Expire(ctx, "rl:42", time.Minute).Err())
	})

	f := findingByRule(t, l.Report(), "redundant-ttl-refresh")
	// The first INCR returned 1 and needed its EXPIRE; the other 99 did
	// not: 99 * 259,200 = 25,660,800 a month, $51.3216.
	approx(t, "CommandsPerMonth", f.CommandsPerMonth, 99*perCommandMonthly)
	approx(t, "CommandsPerMonthAfter", f.CommandsPerMonthAfter, 0)
	approx(t, "MonthlySavings", f.MonthlySavings, 51.3216)
	if f.Severity != SeverityAlert {
		t.Errorf("severity = %v, want alert ($50 <= savings < $200)", f.Severity)
	}
	if !strings.Contains(f.Recommendation, "INCR returns 1") {
		t.Errorf("recommendation = %q", f.Recommendation)
	}
}

func TestRuleRedundantExpireAfterSet(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()
	tenSecondWindow(t, fake, 10, func(i int) {
		key := fmt.Sprintf("page:%d", i)
		mustNoErr(t, rdb.Set(ctx, key, "html", 0).Err())
		mustNoErr(t, rdb.Expire(ctx, key, time.Hour).Err())
	})
	f := findingByRule(t, l.Report(), "redundant-ttl-refresh")
	// 10 EXPIREs that SET EX would fold in: 10 * 259,200 = 2,592,000.
	approx(t, "CommandsPerMonth", f.CommandsPerMonth, 10*perCommandMonthly)
	approx(t, "MonthlySavings", f.MonthlySavings, 5.184)
	if !strings.Contains(f.Recommendation, "SET key value EX") {
		t.Errorf("recommendation = %q", f.Recommendation)
	}
}

func TestRuleTTLThrash(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()
	tenSecondWindow(t, fake, 20, func(i int) {
		for id := range 5 {
			key := fmt.Sprintf("cache:%d", id)
			if i == 0 {
				mustNoErr(t, rdb.Get(ctx, key).Err()) // 5 misses
			}
			mustNoErr(t, rdb.Set(ctx, key, "v", time.Second).Err())
		}
	})
	f := findingByRule(t, l.Report(), "ttl-thrash")
	// 100 writes + 5 misses = 105 -> 27,216,000 a month; a 60 s TTL
	// divides them by 60: 453,600. Savings 26,762,400 * $0.000002.
	approx(t, "CommandsPerMonth", f.CommandsPerMonth, 105*perCommandMonthly)
	approx(t, "CommandsPerMonthAfter", f.CommandsPerMonthAfter, 105*perCommandMonthly/60.0)
	approx(t, "MonthlySavings", f.MonthlySavings, 53.5248)
}

func TestRuleMissingTTL(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()
	tenSecondWindow(t, fake, 10, func(i int) {
		mustNoErr(t, rdb.Set(ctx, fmt.Sprintf("cache:user:%d", i), "v", 0).Err())
	})
	f := findingByRule(t, l.Report(), "missing-ttl")
	if f.Patterns[0] != "cache:user:{id}" || f.MonthlySavings != 0 || f.Severity != SeverityInfo {
		t.Errorf("finding = %+v", f)
	}
}

func TestRuleKeysAlwaysHigh(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()
	tenSecondWindow(t, fake, 10, func(i int) {
		mustNoErr(t, rdb.Set(ctx, fmt.Sprintf("session:%d", i), "v", 0).Err())
		mustNoErr(t, rdb.Keys(ctx, "session:*").Err())
	})
	f := findingByRule(t, l.Report(), "keys-command")
	if f.Severity != SeverityHigh {
		t.Errorf("severity = %v, want high for any KEYS", f.Severity)
	}
	approx(t, "CommandsPerMonth", f.CommandsPerMonth, 10*perCommandMonthly)
	if !strings.Contains(f.Recommendation, "index set") || !strings.Contains(f.Recommendation, "SCAN") {
		t.Errorf("recommendation = %q, want an index set and the priced SCAN fix", f.Recommendation)
	}
}

func TestRuleSmallScanCount(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()
	for i := range 200 {
		mustNoErr(t, rdb.Set(ctx, fmt.Sprintf("item:%d", i), "v", 0).Err())
	}
	l.Reset()
	fake.Advance(10 * time.Second)
	iter := rdb.Scan(ctx, 0, "item:*", 10).Iterator()
	for iter.Next(ctx) {
	}
	mustNoErr(t, iter.Err())

	s := l.Snapshot()
	site := siteFor(t, s, "scan")
	f := findingByRule(t, l.ReportFrom(s), "small-scan-count")
	calls := float64(site.Calls)
	if site.ScanCount != 10 {
		t.Errorf("mean COUNT = %v, want 10", site.ScanCount)
	}
	approx(t, "CommandsPerMonth", f.CommandsPerMonth, calls*perCommandMonthly)
	approx(t, "CommandsPerMonthAfter", f.CommandsPerMonthAfter, calls*perCommandMonthly*10/1000)
	approx(t, "MonthlySavings", f.MonthlySavings, calls*perCommandMonthly*0.99*0.000002)
}

func TestRuleIdlePolling(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()
	tenSecondWindow(t, fake, 20, func(int) {
		// go-redis's BRPop rounds timeouts up to 1 s, so send 10 ms raw.
		mustNoErr(t, rdb.Do(ctx, "brpop", "jobs:queue", "0.01").Err())
	})
	f := findingByRule(t, l.Report(), "idle-polling")
	// 20 empty polls -> 5,184,000 a month; a 30 s timeout polls 3,000
	// times less often: 1,728. Savings (5,184,000 - 1,728) * $0.000002.
	approx(t, "CommandsPerMonth", f.CommandsPerMonth, 20*perCommandMonthly)
	approx(t, "CommandsPerMonthAfter", f.CommandsPerMonthAfter, 1728)
	approx(t, "MonthlySavings", f.MonthlySavings, 10.364544)
}

func TestRuleSortedSetLog(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()
	tenSecondWindow(t, fake, 20, func(i int) {
		ts := float64(1_000 + i)
		mustNoErr(t, rdb.ZAdd(ctx, "hits:7", redis.Z{Score: ts, Member: i}).Err())
		mustNoErr(t, rdb.ZRemRangeByScore(ctx, "hits:7", "0", fmt.Sprint(ts-60)).Err())
		mustNoErr(t, rdb.ZCard(ctx, "hits:7").Err())
	})
	f := findingByRule(t, l.Report(), "sorted-set-log")
	// 60 commands -> 15,552,000; two counters per event: 40 -> 10,368,000.
	approx(t, "CommandsPerMonth", f.CommandsPerMonth, 60*perCommandMonthly)
	approx(t, "CommandsPerMonthAfter", f.CommandsPerMonthAfter, 40*perCommandMonthly)
	approx(t, "MonthlySavings", f.MonthlySavings, 10.368)
}

func TestRuleConstantScoresAndUnbounded(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()
	tenSecondWindow(t, fake, 20, func(i int) {
		mustNoErr(t, rdb.ZAdd(ctx, "members:1", redis.Z{Score: 0, Member: i}).Err())
		mustNoErr(t, rdb.LPush(ctx, "events:1", i).Err())
	})
	rep := l.Report()
	if f := findingByRule(t, rep, "constant-scores"); f.Patterns[0] != "members:{id}" {
		t.Errorf("constant-scores pattern = %v", f.Patterns)
	}
	var unbounded []string
	for _, f := range rep.Findings {
		if f.Rule == "unbounded-collection" {
			unbounded = append(unbounded, f.Patterns...)
		}
	}
	if strings.Join(unbounded, ",") != "events:{id},members:{id}" {
		t.Errorf("unbounded patterns = %v, want events:{id} and members:{id}", unbounded)
	}
}

func TestRuleBigValues(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()
	blob := strings.Repeat("x", 200<<10)
	mustNoErr(t, rdb.Set(ctx, "report:1", blob, 0).Err())
	l.Reset()
	tenSecondWindow(t, fake, 10, func(int) {
		mustNoErr(t, rdb.Get(ctx, "report:1").Err())
	})
	s := l.Snapshot()
	f := findingByRule(t, l.ReportFrom(s), "big-values")
	// 10 replies of 204,800 bytes + 10 * 15 argument bytes in 10 s.
	wantBytes := float64(10*(200<<10)+10*len("getreport:1")) * perCommandMonthly
	approx(t, "BandwidthSavedPerMonth", f.BandwidthSavedPerMonth, wantBytes)
	total := s.PerMonth(float64(s.ArgBytes + s.ReplyBytes))
	// 530.9 GB a month: 330.9 GB beyond the free 200 GB at $0.03.
	approx(t, "MonthlySavings", f.MonthlySavings, (total/1e9-200)*0.03)
}

func TestRuleHotKey(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()
	tenSecondWindow(t, fake, 200, func(int) {
		mustNoErr(t, rdb.Get(ctx, "config:flags").Err())
	})
	rep := l.Report()
	f := findingByRule(t, rep, "hot-key")
	// 200 reads -> 51,840,000 a month; one read a second: 2,592,000.
	approx(t, "CommandsPerMonth", f.CommandsPerMonth, 200*perCommandMonthly)
	approx(t, "CommandsPerMonthAfter", f.CommandsPerMonthAfter, 2_592_000)
	approx(t, "MonthlySavings", f.MonthlySavings, 98.496)
	if hasRule(rep, "n-plus-one") {
		t.Error("reads of one key reported as N+1")
	}
}

func TestRuleHotKeyNeedsEvidence(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()
	// Five reads in 50 ms are 100 a second and every keyed command, but
	// too few to call a key hot.
	for range 5 {
		mustNoErr(t, rdb.Get(ctx, "upstashops:lease:cost").Err())
		fake.Advance(10 * time.Millisecond)
	}
	if rep := l.Report(); hasRule(rep, "hot-key") {
		t.Errorf("5 reads reported as a hot key; findings: %v", ruleNames(rep))
	}
}

func TestRuleConnectionChurn(t *testing.T) {
	srv := redistest.Start(t)
	fake := clock.NewFake(epoch)
	l := New(WithClock(fake))
	ctx := context.Background()
	tenSecondWindow(t, fake, 10, func(int) {
		// A new client per request is the anti-pattern; go-redis sends
		// CLIENT SETINFO twice per connection unless DisableIdentity.
		rdb := srv.Client(t, func(o *redis.Options) { o.DisableIdentity = false })
		l.Instrument(rdb)
		mustNoErr(t, rdb.Get(ctx, "k").Err())
	})
	s := l.Snapshot()
	f := findingByRule(t, l.ReportFrom(s), "connection-churn")
	// Each of the 10 dials sent CLIENT SETINFO twice and CLIENT
	// MAINT_NOTIFICATIONS once: 30 billed -> 7,776,000 a month, $15.552.
	if s.HandshakeCommands != 30 {
		t.Errorf("handshake commands = %d, want 30", s.HandshakeCommands)
	}
	approx(t, "CommandsPerMonth", f.CommandsPerMonth, 30*perCommandMonthly)
	approx(t, "MonthlySavings", f.MonthlySavings, 15.552)
	if got := siteCount(s, "client"); got != 0 {
		t.Errorf("%d handshake sites, want 0: handshakes belong to no call site", got)
	}
	if !strings.Contains(f.Recommendation, "DisableIdentity") {
		t.Errorf("recommendation = %q", f.Recommendation)
	}

	// NOTE: the server is not asked to confirm the handshake commands,
	// because CLIENT SETINFO arrived in Redis 7.2 and Debian's 7.0 rejects
	// it without counting it in commandstats.
}

func TestRuleServerStats(t *testing.T) {
	srv := redistest.Start(t, redistest.WithConfig("maxmemory", "2mb", "maxmemory-policy", "allkeys-lru"))
	rdb := srv.Client(t)
	ctx := context.Background()
	l := New(WithClock(clock.NewFake(epoch)))
	if err := l.CollectServerStats(ctx, rdb); err != nil {
		t.Fatal(err)
	}

	for i := range 1200 {
		mustNoErr(t, rdb.Get(ctx, fmt.Sprintf("absent:%d", i)).Err())
	}
	value := strings.Repeat("v", 10<<10)
	for i := range 400 {
		mustNoErr(t, rdb.Set(ctx, fmt.Sprintf("fill:%d", i), value, 0).Err())
	}
	if err := l.CollectServerStats(ctx, rdb); err != nil {
		t.Fatal(err)
	}

	rep := l.Report()
	for _, rule := range []string{"server-command-mix", "server-hit-ratio", "server-evictions"} {
		findingByRule(t, rep, rule)
	}
	s := l.Snapshot()
	if s.Server.Commands["get"] != 1200 {
		t.Errorf("server GET count = %d, want 1200", s.Server.Commands["get"])
	}
	if s.Server.KeyspaceMisses != 1200 {
		t.Errorf("server misses = %d, want 1200", s.Server.KeyspaceMisses)
	}
}

func TestCustomRuleAndReplace(t *testing.T) {
	ctx := context.Background()
	custom := NewRule("always", func(s *Snapshot) []Finding {
		return []Finding{{Title: "custom", CommandsPerMonth: 100_000_000}}
	})
	broken := NewRule("broken", func(*Snapshot) []Finding { panic("bug") })
	l := New(WithRules(custom), WithExtraRules(broken))
	process := l.Hook().ProcessHook(okNext)
	_ = process(ctx, redis.NewCmd(ctx, "keys", "*"))

	rep := l.Report()
	if len(rep.Findings) != 1 || rep.Findings[0].Rule != "always" {
		t.Fatalf("findings = %v, want only the custom rule's", ruleNames(rep))
	}
	// 100,000,000 commands at $0.20 per 100K: $200, the detail threshold.
	approx(t, "MonthlySavings", rep.Findings[0].MonthlySavings, 200)
	if rep.Findings[0].Severity != SeverityHigh {
		t.Errorf("severity = %v, want high at $200", rep.Findings[0].Severity)
	}
	if len(rep.RuleErrors) != 1 || rep.RuleErrors[0] != "broken" {
		t.Errorf("rule errors = %v, want [broken]", rep.RuleErrors)
	}
}

func TestSeverityThresholdsConfigurable(t *testing.T) {
	rule := NewRule("fixed", func(*Snapshot) []Finding {
		return []Finding{{Title: "x", CommandsPerMonth: 10_000_000}} // $20
	})
	rep := New(WithRules(rule), WithSeverity(10, 20)).Report()
	if got := rep.Findings[0].Severity; got != SeverityHigh {
		t.Errorf("severity = %v, want high with detail at $20", got)
	}
	rep = New(WithRules(rule)).Report()
	if got := rep.Findings[0].Severity; got != SeverityInfo {
		t.Errorf("severity = %v, want info under the $50 default", got)
	}
}

func TestFixedPlanShowsHeadroom(t *testing.T) {
	rdb, l, fake := newRealClient(t, WithPricing(FixedPlan("Fixed 250MB", 10, 10_000, 0.25, 50)))
	ctx := context.Background()
	tenSecondWindow(t, fake, 2, func(i int) {
		for id := range 200 {
			mustNoErr(t, rdb.Get(ctx, fmt.Sprintf("user:%d:profile", id)).Err())
		}
	})
	rep := l.Report()
	f := findingByRule(t, rep, "n-plus-one")
	if f.MonthlySavings != 0 {
		t.Errorf("savings on a fixed plan = %v, want 0", f.MonthlySavings)
	}
	// 400 GETs in 10 s become 2 MGETs: 39.8 commands a second freed.
	approx(t, "CommandsPerSecondFreed", f.CommandsPerSecondFreed, 39.8)
	if rep.CostPerMonth != 10 {
		t.Errorf("cost = %v, want the flat $10", rep.CostPerMonth)
	}
}

func TestUpstashStatsFeedServerRules(t *testing.T) {
	const key = "dev-api-key-never-printed"
	emu := upstashapi.StartEmulator(t, "ops@example.com", key)
	emu.AddCommands("db-1", epoch, map[string]int64{"GET": 9_000, "SET": 900, "MGET": 100})
	ctx := context.Background()
	l := New(WithClock(clock.NewFake(epoch)))

	acct := UpstashAccount{Email: "ops@example.com", APIKey: key, DatabaseID: "db-1", BaseURL: emu.URL()}
	if err := l.CollectUpstashStats(ctx, acct); err != nil {
		t.Fatal(err)
	}
	s := l.Snapshot()
	if s.Server == nil || s.Server.Source != "upstash-api" || s.Server.Commands["get"] != 9_000 {
		t.Fatalf("server stats = %+v", s.Server)
	}
	// 10,000 commands at $0.20 per 100K: $0.02 so far this month.
	approx(t, "MonthlyBilling", s.Server.MonthlyBilling, 0.02)
	f := findingByRule(t, l.ReportFrom(s), "server-command-mix")
	if !strings.Contains(f.Evidence, "GET is 90%") {
		t.Errorf("evidence = %q", f.Evidence)
	}

	acct.APIKey = "wrong-" + key
	err := l.CollectUpstashStats(ctx, acct)
	if !errors.Is(err, ErrUpstashUnauthorized) {
		t.Errorf("wrong key: error = %v, want unauthorized", err)
	}
	if err != nil && strings.Contains(err.Error(), key) {
		t.Errorf("error %q contains the API key", err)
	}
}

func TestRulePlanHeadroom(t *testing.T) {
	ctx := context.Background()
	// A fixed plan capped at 100 commands a second and 1 kB of data.
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	fake := clock.NewFake(epoch)
	l := New(WithClock(fake), WithPricing(FixedPlan("tiny", 10, 100, 0.000001, 1)))
	l.Instrument(rdb)
	mustNoErr(t, l.CollectServerStats(ctx, rdb))
	tenSecondWindow(t, fake, 10, func(i int) {
		for range 90 {
			mustNoErr(t, rdb.Incr(ctx, "hits").Err())
		}
	})
	mustNoErr(t, l.CollectServerStats(ctx, rdb))

	var titles []string
	for _, f := range l.Report().Findings {
		if f.Rule == "plan-headroom" {
			titles = append(titles, f.Title)
		}
	}
	// 900 INCRs and one handshake command over 10 s: 90.1 a second.
	want := []string{"90% of the plan's 100 commands a second in use"}
	found := false
	for _, title := range titles {
		found = found || title == want[0]
	}
	if len(titles) != 2 || !found {
		t.Errorf("plan-headroom findings = %q, want %q and a data-cap finding", titles, want[0])
	}
}
