// Command rlbench compares rate limiters on a redis-server that it starts
// on a loopback port, and prints a Markdown table.
//
//	go run ./ratelimit/cmd/rlbench -d 2s -workers 8
//
// Each contender runs -rounds times per scenario. The rounds interleave the
// contenders and rotate which one starts, and the table reports medians, so
// that neither run order nor one noisy run decides a close result.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/upstash-ops/sdk/internal/bench/ratelimit"
	"github.com/upstash-ops/sdk/internal/redistest"
)

func main() {
	d := flag.Duration("d", 2*time.Second, "duration of each measured run")
	workers := flag.Int("workers", 8, "concurrent goroutines making decisions")
	rounds := flag.Int("rounds", 5, "measured runs of each limiter per scenario; the table shows their median")
	warmUp := flag.Duration("warmup", 200*time.Millisecond, "unmeasured run of each limiter per scenario before the first round; 0 skips it")
	only := flag.String("only", "", "run only the limiters whose name contains this text")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the runs, warm-ups included, to this file")
	scenario := flag.String("scenario", "", "run only the scenarios whose name contains this text")
	flag.Parse()
	if err := checkFlags(*d, *workers, *rounds, *warmUp); err != nil {
		fmt.Fprintf(os.Stderr, "rlbench: %v\n", err)
		os.Exit(2)
	}
	if err := run(*d, *workers, *rounds, *warmUp, *only, *scenario, *cpuProfile); err != nil {
		fmt.Fprintf(os.Stderr, "rlbench: %v\n", err)
		os.Exit(1)
	}
}

func checkFlags(d time.Duration, workers, rounds int, warmUp time.Duration) error {
	switch {
	case d <= 0:
		return fmt.Errorf("invalid -d %s: must be positive", d)
	case workers < 1:
		return fmt.Errorf("invalid -workers %d: must be at least 1", workers)
	case rounds < 1:
		return fmt.Errorf("invalid -rounds %d: must be at least 1", rounds)
	case warmUp < 0:
		return fmt.Errorf("invalid -warmup %s: must be 0 or positive", warmUp)
	}
	return nil
}

func run(d time.Duration, workers, rounds int, warmUp time.Duration, only, scenario, cpuProfile string) error {
	var contenders []ratelimitbench.Contender
	for _, c := range ratelimitbench.Contenders() {
		if strings.Contains(c.Name, only) {
			contenders = append(contenders, c)
		}
	}
	var scenarios []ratelimitbench.Scenario
	for _, sc := range ratelimitbench.Scenarios {
		if strings.Contains(sc.Name, scenario) {
			scenarios = append(scenarios, sc)
		}
	}
	if len(contenders) == 0 || len(scenarios) == 0 {
		return fmt.Errorf("no limiter matches -only %q or no scenario matches -scenario %q", only, scenario)
	}

	srv, err := redistest.StartProcess()
	if err != nil {
		return err
	}
	defer srv.Close()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// ContextTimeoutEnabled lets the upstashops limiter call Redis on the
	// caller's goroutine; the peers use the same client.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), DisableIdentity: true, PoolSize: 2 * workers, ContextTimeoutEnabled: true})
	defer rdb.Close()

	loadAtStart := loadAverage()
	cfg := ratelimitbench.Rounds{
		Count: rounds, Workers: workers, Duration: d, WarmUp: warmUp,
		Progress: func(sc ratelimitbench.Scenario, round int, c ratelimitbench.Contender, row ratelimitbench.Row, err error) {
			if err != nil {
				fmt.Fprintf(os.Stderr, "round %d/%d, %s / %s: %v\n", round+1, rounds, sc.Name, c.Name, err)
				return
			}
			fmt.Fprintf(os.Stderr, "round %d/%d, %s / %s: %.0f decisions/s\n", round+1, rounds, sc.Name, c.Name, row.PerSecond)
		},
	}
	ctx := context.Background()
	var summaries []ratelimitbench.Summary
	for _, sc := range scenarios {
		summaries = append(summaries, ratelimitbench.RunRounds(ctx, rdb, contenders, sc, cfg)...)
	}
	loadAtEnd := loadAverage()

	// The machine line comes first but needs the load average at the end,
	// so the table is printed only after all runs.
	fmt.Printf("%s, GOMAXPROCS=%d, %d workers, %s per run, median of %d rounds after a %s warm-up, load average %s at start and %s at end, redis-server on 127.0.0.1\n\n",
		runtime.Version(), runtime.GOMAXPROCS(0), workers, d, rounds, warmUp, loadAtStart, loadAtEnd)
	printTable(summaries, rounds)
	return nil
}

func printTable(summaries []ratelimitbench.Summary, rounds int) {
	fmt.Println("| scenario | limiter | decisions/s | decisions/s (min–max) | p50 | p99 | billed cmds/decision | billed cmds/allowed | Redis CPU/decision | client CPU/decision | server CPU/decision | allowed | errors (all rounds) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range summaries {
		if s.RunError != nil {
			fmt.Fprintf(os.Stderr, "%s / %s: %d of %d rounds succeeded, first failure: %v\n", s.Scenario, s.Contender, s.Runs, rounds, s.RunError)
		}
		if s.FirstError != nil {
			fmt.Fprintf(os.Stderr, "%s / %s: first decision error: %v\n", s.Scenario, s.Contender, s.FirstError)
		}
		if s.Runs == 0 {
			continue
		}
		perDecision, perAllowed := fmt.Sprintf("%.2f", s.BilledPerDecision), fmt.Sprintf("%.2f", s.BilledPerAllowed)
		if !s.UsesRedis {
			perDecision, perAllowed = "n/a", "n/a"
		}
		fmt.Printf("| %s | %s | %.0f | %.0f–%.0f | %s | %s | %s | %s | %s | %s | %s | %d | %d |\n",
			s.Scenario, s.Contender, s.PerSecond, s.MinPerSecond, s.MaxPerSecond,
			s.P50.Round(time.Microsecond), s.P99.Round(time.Microsecond),
			perDecision, perAllowed, s.ServerTimePerDecision.Round(100*time.Nanosecond),
			s.ClientCPUPerDecision.Round(100*time.Nanosecond), s.ServerCPUPerDecision.Round(100*time.Nanosecond),
			s.Allowed, s.Errors)
	}
}

// loadAverage returns the 1, 5 and 15 minute load averages from
// /proc/loadavg, or "unknown" where that file cannot be read.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], " ")
}
