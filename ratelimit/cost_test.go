package ratelimit

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/redistest"
)

// billedCommands returns the calls that INFO commandstats has counted,
// which include the commands run inside scripts, less INFO and CONFIG
// themselves.
func billedCommands(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	text, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	var total int64
	for line := range strings.Lines(text) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		if cmd := strings.TrimPrefix(name, "cmdstat_"); strings.HasPrefix(cmd, "info") || strings.HasPrefix(cmd, "config") {
			continue
		}
		for field := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(field, "calls="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("INFO commandstats line %q: %v", line, err)
				}
				total += n
			}
		}
	}
	return total
}

// checkBilled runs l.Allow for key and checks its outcome and the commands
// that INFO commandstats counted for it. It returns the decision.
func checkBilled(t *testing.T, rdb *redis.Client, step string, l *Limiter, key string, wantAllowed bool, want int64) Result {
	t.Helper()
	before := billedCommands(t, rdb)
	res, err := l.Allow(context.Background(), key)
	if err != nil {
		t.Fatalf("%s: Allow: %v", step, err)
	}
	if res.Allowed != wantAllowed {
		t.Fatalf("%s: Allow = %+v, want Allowed %v", step, res, wantAllowed)
	}
	if got := billedCommands(t, rdb) - before; got != want {
		t.Errorf("%s: %d billed commands, want %d", step, got, want)
	}
	return res
}

// TestBilledCommandsPerDecision counts, with INFO commandstats on a server
// of its own, the billed commands of each kind of decision: the EVALSHA plus
// every redis.call inside the script.
func TestBilledCommandsPerDecision(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()

	for name, alg := range algorithms(2) {
		for _, serverTime := range []bool{false, true} {
			opts := []Option{WithClock(clock.NewFake(epoch)), WithTimeout(time.Second)}
			extra := int64(0)
			if serverTime {
				opts = append(opts, WithServerTime())
				extra = 1
				name += "+server_time"
			}
			t.Run(name, func(t *testing.T) {
				l, err := New(rdb, alg, opts...)
				if err != nil {
					t.Fatal(err)
				}
				// Load the script, so that no NOSCRIPT round trip is counted.
				if _, err := l.Allow(ctx, "warm-up"); err != nil {
					t.Fatal(err)
				}
				key := "k-" + name
				cost := func(step string, wantAllowed bool, want int64) {
					t.Helper()
					checkBilled(t, rdb, step, l, key, wantAllowed, want)
				}
				// The fixed window reads state and override and writes the
				// window on its first hit, then decides with one INCRBY,
				// and one more that takes the cost back from a denial. Only
				// its first hit and its peek read the server's TIME.
				later, denied, laterExtra := int64(3), int64(2), extra
				if alg.kind == kindFixedWindow {
					later, denied, laterExtra = 2, 3, 0
				}
				cost("first hit", true, 3+extra)
				cost("allowed", true, later+laterExtra)
				cost("denied by Redis", false, denied+laterExtra)
				cost("denied by the deny cache", false, 0)

				before := billedCommands(t, rdb)
				if _, err := l.Remaining(ctx, key); err != nil {
					t.Fatal(err)
				}
				if got := billedCommands(t, rdb) - before; got != 2+extra {
					t.Errorf("peek with Remaining: %d billed commands, want %d", got, 2+extra)
				}
			})
		}
	}
}

// TestFixedWindowBilledAcrossProcesses counts the fixed window's commands
// when a second process joins a window the first one began, and when the
// state vanished under a process that saw the window begun.
func TestFixedWindowBilledAcrossProcesses(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	fake := clock.NewFake(epoch)
	newLimiter := func() *Limiter {
		l, err := New(rdb, FixedWindow(10, time.Minute), WithClock(fake), WithTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, b := newLimiter(), newLimiter()
	if _, err := a.Allow(ctx, "warm-up"); err != nil {
		t.Fatal(err)
	}
	cost := func(step string, l *Limiter, want int64) {
		t.Helper()
		checkBilled(t, rdb, step, l, "k", true, want)
	}
	cost("process A begins the window", a, 3)
	cost("process B joins it", b, 3)
	cost("process B again", b, 2)
	fake.Advance(time.Minute)
	cost("process A in the next window", a, 3)
	cost("process A again", a, 2)
	rdb.Del(ctx, a.StateKey("k"))
	cost("process A after the state vanished", a, 4)
	cost("process A after that", a, 2)
}
