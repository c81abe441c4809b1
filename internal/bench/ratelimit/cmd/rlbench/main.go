// Command rlbench compares rate limiters on a redis-server that it starts
// on a loopback port, and prints a Markdown table.
//
//	go run ./ratelimit/cmd/rlbench -d 2s -workers 8
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
	d := flag.Duration("d", 2*time.Second, "duration of each run")
	workers := flag.Int("workers", 8, "concurrent goroutines making decisions")
	only := flag.String("only", "", "run only the limiters whose name contains this text")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the runs to this file")
	scenario := flag.String("scenario", "", "run only the scenarios whose name contains this text")
	flag.Parse()

	srv, err := redistest.StartProcess()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer srv.Close()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	// ContextTimeoutEnabled lets the upstashops limiter call Redis on the
	// caller's goroutine; the peers use the same client.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), DisableIdentity: true, PoolSize: 2 * *workers, ContextTimeoutEnabled: true})
	defer rdb.Close()

	fmt.Printf("%s, GOMAXPROCS=%d, %d workers, %s per run, redis-server on 127.0.0.1\n\n",
		runtime.Version(), runtime.GOMAXPROCS(0), *workers, *d)
	fmt.Println("| scenario | limiter | decisions/s | p50 | p99 | billed cmds/decision | billed cmds/allowed | Redis CPU/decision | client CPU/decision | server CPU/decision | allowed | errors |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	ctx := context.Background()
	for _, sc := range ratelimitbench.Scenarios {
		if !strings.Contains(sc.Name, *scenario) {
			continue
		}
		for _, c := range ratelimitbench.Contenders() {
			if !strings.Contains(c.Name, *only) {
				continue
			}
			row, err := ratelimitbench.Run(ctx, rdb, c, sc, *workers, *d)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s / %s: %v\n", sc.Name, c.Name, err)
				continue
			}
			perDecision, perAllowed := fmt.Sprintf("%.2f", row.BilledPerDecision), fmt.Sprintf("%.2f", row.BilledPerAllowed)
			if !row.UsesRedis {
				perDecision, perAllowed = "n/a", "n/a"
			}
			fmt.Printf("| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %d | %d |\n",
				sc.Name, row.Contender, row.PerSecond, row.P50.Round(time.Microsecond), row.P99.Round(time.Microsecond),
				perDecision, perAllowed, row.ServerTimePerDecision.Round(100*time.Nanosecond),
				row.ClientCPUPerDecision.Round(100*time.Nanosecond), row.ServerCPUPerDecision.Round(100*time.Nanosecond),
				row.Allowed, row.Errors)
			if row.FirstError != nil {
				fmt.Fprintf(os.Stderr, "%s / %s: first error: %v\n", sc.Name, c.Name, row.FirstError)
			}
		}
	}
}
