// Package ratelimitbench compares the SDK's ratelimit package with other Go
// rate limiters on one loopback redis-server: decisions per second, latency
// percentiles, and billed Redis commands per decision, counted with INFO
// commandstats (which counts the commands inside scripts too).
package ratelimitbench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	redisrate "github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"github.com/sethvargo/go-limiter/memorystore"
	ulule "github.com/ulule/limiter/v3"
	ululeredis "github.com/ulule/limiter/v3/drivers/store/redis"
	"github.com/upstash-ops/sdk/internal/redisinfo"
	"github.com/upstash-ops/sdk/ratelimit"
)

// Decider makes one rate-limit decision for key.
type Decider func(ctx context.Context, key string) (allowed bool, err error)

// Contender is a limiter under test, built for a limit per minute.
type Contender struct {
	Name string
	// UsesRedis is false for limiters that keep their state in process.
	UsesRedis bool
	New       func(rdb *redis.Client, perMinute int) (Decider, error)
}

// Contenders returns the SDK's four algorithms and the peers.
func Contenders() []Contender {
	ours := func(name string, alg func(limit int) ratelimit.Algorithm) Contender {
		return Contender{Name: "upstashops " + name, UsesRedis: true, New: func(rdb *redis.Client, perMinute int) (Decider, error) {
			l, err := ratelimit.New(rdb, alg(perMinute), ratelimit.WithFailClosed(), ratelimit.WithTimeout(time.Second))
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context, key string) (bool, error) {
				res, err := l.Allow(ctx, key)
				if err == nil && res.Err != nil {
					err = res.Err
				}
				return res.Allowed, err
			}, nil
		}}
	}
	return []Contender{
		ours("fixed window", func(n int) ratelimit.Algorithm { return ratelimit.FixedWindow(float64(n), time.Minute) }),
		ours("sliding window", func(n int) ratelimit.Algorithm { return ratelimit.SlidingWindow(float64(n), time.Minute) }),
		ours("token bucket", func(n int) ratelimit.Algorithm {
			return ratelimit.TokenBucket(float64(n), time.Minute, float64(n))
		}),
		ours("GCRA", func(n int) ratelimit.Algorithm { return ratelimit.GCRA(float64(n), time.Minute, float64(n)) }),
		{Name: "go-redis/redis_rate v10 (GCRA)", UsesRedis: true, New: func(rdb *redis.Client, perMinute int) (Decider, error) {
			l := redisrate.NewLimiter(rdb)
			limit := redisrate.PerMinute(perMinute)
			return func(ctx context.Context, key string) (bool, error) {
				res, err := l.Allow(ctx, key, limit)
				if err != nil {
					return false, err
				}
				return res.Allowed > 0, nil
			}, nil
		}},
		{Name: "ulule/limiter v3 (fixed window)", UsesRedis: true, New: func(rdb *redis.Client, perMinute int) (Decider, error) {
			store, err := ululeredis.NewStoreWithOptions(rdb, ulule.StoreOptions{Prefix: "ulule", MaxRetry: 3})
			if err != nil {
				return nil, err
			}
			l := ulule.New(store, ulule.Rate{Period: time.Minute, Limit: int64(perMinute)})
			return func(ctx context.Context, key string) (bool, error) {
				res, err := l.Get(ctx, key)
				return !res.Reached, err
			}, nil
		}},
		{Name: "sethvargo/go-limiter v0.7 (memory; no Redis store)", UsesRedis: false, New: func(_ *redis.Client, perMinute int) (Decider, error) {
			store, err := memorystore.New(&memorystore.Config{Tokens: uint64(perMinute), Interval: time.Minute})
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context, key string) (bool, error) {
				_, _, _, ok, err := store.Take(ctx, key)
				return ok, err
			}, nil
		}},
	}
}

// Scenario is a traffic shape.
type Scenario struct {
	Name      string
	PerMinute int
	// Keys is how many distinct keys the workers spread requests over.
	Keys int
}

// Scenarios are the shapes the table reports. In the first two every
// decision is allowed, spread over 10,000 keys (many first hits of a key or
// window) or over 100 keys (steady state). In the third, one abusive key
// floods a limit of 100 per minute, so nearly every decision is a denial.
var Scenarios = []Scenario{
	{Name: "allowed, 10k keys", PerMinute: 1_000_000, Keys: 10_000},
	{Name: "allowed, 100 keys", PerMinute: 1_000_000_000, Keys: 100},
	{Name: "one abusive key", PerMinute: 100, Keys: 1},
}

// Row is one measured contender in one scenario.
type Row struct {
	Contender, Scenario string
	Decisions, Allowed  int64
	Errors              int64
	PerSecond           float64
	P50, P99            time.Duration
	BilledPerDecision   float64
	BilledPerAllowed    float64
	// ServerTimePerDecision is the Redis CPU time per decision, from the
	// usec totals of INFO commandstats.
	ServerTimePerDecision time.Duration
	// ClientCPUPerDecision is this process's user and system CPU time per
	// decision (getrusage), and ServerCPUPerDecision the redis-server
	// process's (INFO cpu), which includes reading requests and writing
	// replies. On a machine where client and server share the cores, their
	// sum bounds the decisions per second.
	ClientCPUPerDecision, ServerCPUPerDecision time.Duration
	UsesRedis                                  bool
	FirstError                                 error
}

// maxSamples bounds the latency samples kept per worker.
const maxSamples = 200_000

// Run measures c in sc for d with the given number of workers. It empties
// the server first (FLUSHALL and CONFIG RESETSTAT), so that no key or
// command count from an earlier run is left. The billed commands are the
// difference of INFO commandstats taken after one unmeasured warm-up
// decision and after the run.
func Run(ctx context.Context, rdb *redis.Client, c Contender, sc Scenario, workers int, d time.Duration) (Row, error) {
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		return Row{}, fmt.Errorf("flush before %s: %w", c.Name, err)
	}
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		return Row{}, fmt.Errorf("CONFIG RESETSTAT before %s: %w", c.Name, err)
	}
	decide, err := c.New(rdb, sc.PerMinute)
	if err != nil {
		return Row{}, fmt.Errorf("build %s: %w", c.Name, err)
	}
	// One warm-up decision loads scripts, so that NOSCRIPT round trips are
	// not counted.
	if _, err := decide(ctx, "warm-up"); err != nil {
		return Row{}, fmt.Errorf("warm up %s: %w", c.Name, err)
	}
	before, beforeUsec, err := billed(ctx, rdb)
	if err != nil {
		return Row{}, err
	}
	serverBefore, err := serverCPU(ctx, rdb)
	if err != nil {
		return Row{}, err
	}
	clientBefore := processCPU()

	var decisions, allowed, errs atomic.Int64
	var firstErr atomic.Value
	samples := make([][]time.Duration, workers)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			local := make([]time.Duration, 0, 1024)
			for i := w; time.Now().Before(deadline); i += workers {
				key := fmt.Sprintf("k%d", i%sc.Keys)
				t0 := time.Now()
				ok, err := decide(ctx, key)
				if len(local) < maxSamples {
					local = append(local, time.Since(t0))
				}
				decisions.Add(1)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else if ok {
					allowed.Add(1)
				}
			}
			samples[w] = local
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	clientAfter := processCPU()
	serverAfter, err := serverCPU(ctx, rdb)
	if err != nil {
		return Row{}, err
	}

	after, afterUsec, err := billed(ctx, rdb)
	if err != nil {
		return Row{}, err
	}
	all := slices.Concat(samples...)
	slices.Sort(all)
	row := Row{
		Contender: c.Name, Scenario: sc.Name,
		Decisions: decisions.Load(), Allowed: allowed.Load(), Errors: errs.Load(),
		PerSecond: float64(decisions.Load()) / elapsed.Seconds(),
		P50:       percentile(all, 0.50), P99: percentile(all, 0.99),
		UsesRedis: c.UsesRedis,
	}
	if e, ok := firstErr.Load().(error); ok {
		row.FirstError = e
	}
	if row.Decisions > 0 {
		row.BilledPerDecision = float64(after-before) / float64(row.Decisions)
		row.ServerTimePerDecision = time.Duration(float64(afterUsec-beforeUsec) / float64(row.Decisions) * float64(time.Microsecond))
		row.ClientCPUPerDecision = (clientAfter - clientBefore) / time.Duration(row.Decisions)
		row.ServerCPUPerDecision = (serverAfter - serverBefore) / time.Duration(row.Decisions)
	}
	if row.Allowed > 0 {
		row.BilledPerAllowed = float64(after-before) / float64(row.Allowed)
	}
	return row, nil
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU returns the user and system CPU time of the redis-server
// process, from INFO cpu.
func serverCPU(ctx context.Context, rdb *redis.Client) (time.Duration, error) {
	text, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, fmt.Errorf("INFO cpu: %w", err)
	}
	info, err := redisinfo.Parse(text)
	if err != nil {
		return 0, fmt.Errorf("parse INFO cpu: %w", err)
	}
	user, ok1 := info.Float("cpu", "used_cpu_user")
	sys, ok2 := info.Float("cpu", "used_cpu_sys")
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("INFO cpu: no used_cpu_user or used_cpu_sys")
	}
	return time.Duration((user + sys) * float64(time.Second)), nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(float64(len(sorted))*p), len(sorted)-1)]
}

// billed returns every command call counted by INFO commandstats, less INFO
// and CONFIG themselves, and the server time they took in microseconds.
func billed(ctx context.Context, rdb *redis.Client) (calls, usec int64, err error) {
	text, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, 0, fmt.Errorf("INFO commandstats: %w", err)
	}
	info, err := redisinfo.Parse(text)
	if err != nil {
		return 0, 0, fmt.Errorf("parse INFO commandstats: %w", err)
	}
	for _, cs := range info.CommandStats() {
		if cs.Name == "info" || cs.Name == "config" || strings.HasPrefix(cs.Name, "config|") {
			continue
		}
		calls += cs.Calls
		if cs.Name == "evalsha" || cs.Name == "eval" {
			// A script's usec includes the commands it calls, which are
			// counted on their own lines too.
			usec += cs.Usec
		} else if !isScriptedCommand(cs.Name) {
			usec += cs.Usec
		}
	}
	return calls, usec, nil
}

// isScriptedCommand reports whether the limiters here call name only from
// inside scripts, so that its server time is already in the script's.
func isScriptedCommand(name string) bool {
	switch name {
	case "get", "set", "mget", "time", "incrby", "pttl", "pexpire", "expire", "bitfield":
		return true
	}
	return false
}

// Rounds configures RunRounds.
type Rounds struct {
	// Count is how many measured runs each contender gets; values below 1
	// count as 1.
	Count    int
	Workers  int
	Duration time.Duration
	// WarmUp is the length of one unmeasured run per contender before the
	// first round, which fills the connection pool and loads the scripts.
	// Zero skips it.
	WarmUp time.Duration
	// Progress, if set, is called after every measured run, with err set
	// when the run failed.
	Progress func(sc Scenario, round int, c Contender, row Row, err error)
}

// Summary is one contender's measured runs in one scenario. Every field that
// Row also has is the median over the successful runs, except Errors, which
// is their sum, and FirstError, which comes from the earliest run that had
// one.
type Summary struct {
	Row
	// MinPerSecond and MaxPerSecond are the slowest and fastest run.
	MinPerSecond, MaxPerSecond float64
	// Runs counts the successful runs, and RunError is the first error that
	// made a run or the warm-up fail.
	Runs     int
	RunError error
}

// RunRounds runs every contender cfg.Count times in sc and returns one
// Summary per contender, in the order of contenders. Each round runs every
// contender once, and round r starts at contender r mod len(contenders), so
// that no contender always runs first or always runs last. Before each run
// a garbage collection clears the previous run's garbage, so that the next
// contender does not pay for collecting it.
//
// NOTE: the rotation keeps the cyclic order, so a contender that does not
// start a round always runs right after the same one.
func RunRounds(ctx context.Context, rdb *redis.Client, contenders []Contender, sc Scenario, cfg Rounds) []Summary {
	count := max(cfg.Count, 1)
	rows := make([][]Row, len(contenders))
	runErrs := make([]error, len(contenders))

	if cfg.WarmUp > 0 {
		for _, i := range RoundOrder(len(contenders), 0) {
			runtime.GC()
			if _, err := Run(ctx, rdb, contenders[i], sc, cfg.Workers, cfg.WarmUp); err != nil {
				runErrs[i] = fmt.Errorf("warm-up: %w", err)
			}
		}
	}

	for round := range count {
		for _, i := range RoundOrder(len(contenders), round) {
			runtime.GC()
			row, err := Run(ctx, rdb, contenders[i], sc, cfg.Workers, cfg.Duration)
			if cfg.Progress != nil {
				cfg.Progress(sc, round, contenders[i], row, err)
			}
			if err != nil {
				if runErrs[i] == nil {
					runErrs[i] = fmt.Errorf("round %d: %w", round, err)
				}
				continue
			}
			rows[i] = append(rows[i], row)
		}
	}

	summaries := make([]Summary, len(contenders))
	for i, c := range contenders {
		summaries[i] = Summarize(rows[i])
		summaries[i].Contender, summaries[i].Scenario, summaries[i].UsesRedis = c.Name, sc.Name, c.UsesRedis
		summaries[i].RunError = runErrs[i]
	}
	return summaries
}

// RoundOrder returns the indexes 0..n-1 in the order that round runs them:
// starting at round mod n and wrapping around.
func RoundOrder(n, round int) []int {
	order := make([]int, n)
	for k := range order {
		order[k] = (round + k) % n
	}
	return order
}

// Summarize aggregates runs of one contender in one scenario, in run order.
// It takes Contender, Scenario and UsesRedis from the first run.
func Summarize(rows []Row) Summary {
	s := Summary{Runs: len(rows)}
	if len(rows) == 0 {
		return s
	}
	s.Contender, s.Scenario, s.UsesRedis = rows[0].Contender, rows[0].Scenario, rows[0].UsesRedis

	column := func(value func(Row) float64) []float64 {
		values := make([]float64, len(rows))
		for i, r := range rows {
			values[i] = value(r)
		}
		return values
	}
	durations := func(value func(Row) time.Duration) time.Duration {
		return time.Duration(median(column(func(r Row) float64 { return float64(value(r)) })))
	}

	perSecond := column(func(r Row) float64 { return r.PerSecond })
	s.PerSecond = median(perSecond)
	s.MinPerSecond, s.MaxPerSecond = slices.Min(perSecond), slices.Max(perSecond)
	s.Decisions = int64(median(column(func(r Row) float64 { return float64(r.Decisions) })))
	s.Allowed = int64(median(column(func(r Row) float64 { return float64(r.Allowed) })))
	s.P50 = durations(func(r Row) time.Duration { return r.P50 })
	s.P99 = durations(func(r Row) time.Duration { return r.P99 })
	s.BilledPerDecision = median(column(func(r Row) float64 { return r.BilledPerDecision }))
	s.BilledPerAllowed = median(column(func(r Row) float64 { return r.BilledPerAllowed }))
	s.ServerTimePerDecision = durations(func(r Row) time.Duration { return r.ServerTimePerDecision })
	s.ClientCPUPerDecision = durations(func(r Row) time.Duration { return r.ClientCPUPerDecision })
	s.ServerCPUPerDecision = durations(func(r Row) time.Duration { return r.ServerCPUPerDecision })

	for _, r := range rows {
		s.Errors += r.Errors
		if s.FirstError == nil {
			s.FirstError = r.FirstError
		}
	}
	return s
}

// median returns the middle value of values, or the mean of the two middle
// values when their number is even, and 0 for none. It sorts values in place.
func median(values []float64) float64 {
	n := len(values)
	if n == 0 {
		return 0
	}
	slices.Sort(values)
	if n%2 == 1 {
		return values[n/2]
	}
	return (values[n/2-1] + values[n/2]) / 2
}
