package ratelimitbench

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/upstash-ops/sdk/internal/redisinfo"
	"github.com/upstash-ops/sdk/internal/redistest"
)

// TestRunMeasuresEveryContender runs each contender briefly in both
// scenarios and checks what the table relies on: no errors, the abusive key
// held to its limit, and the billed-command counts that the ratelimit
// package's own tests establish.
func TestRunMeasuresEveryContender(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	for _, sc := range Scenarios {
		for _, c := range Contenders() {
			row, err := Run(ctx, rdb, c, sc, 2, 50*time.Millisecond)
			if err != nil {
				t.Fatalf("%s / %s: %v", sc.Name, c.Name, err)
			}
			if row.Errors != 0 {
				t.Errorf("%s / %s: %d errors, first: %v", sc.Name, c.Name, row.Errors, row.FirstError)
			}
			if row.Decisions == 0 {
				t.Errorf("%s / %s: no decisions", sc.Name, c.Name)
			}
			if sc.Keys == 1 && row.Allowed > int64(sc.PerMinute)+1 {
				t.Errorf("%s / %s: %d allowed under a limit of %d", sc.Name, c.Name, row.Allowed, sc.PerMinute)
			}
			if c.Name == "upstashops GCRA" && sc.Name == "allowed, 100 keys" && row.BilledPerDecision != 3 {
				t.Errorf("upstashops GCRA: %.2f billed commands per allowed decision, want 3", row.BilledPerDecision)
			}
		}
	}
}

func TestMedianOddAndEven(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		want   float64
	}{
		{"none", nil, 0},
		{"one", []float64{7}, 7},
		{"odd unsorted", []float64{30, 10, 20}, 20},
		{"even unsorted", []float64{40, 10, 30, 20}, 25},
		{"even with ties", []float64{5, 5, 1, 9}, 5},
	}
	for _, tt := range tests {
		if got := median(slices.Clone(tt.values)); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.values, got, tt.want)
		}
	}
}

func TestRoundOrderRotatesStart(t *testing.T) {
	want := [][]int{{0, 1, 2}, {1, 2, 0}, {2, 0, 1}, {0, 1, 2}, {1, 2, 0}}
	for round, order := range want {
		if got := RoundOrder(3, round); !slices.Equal(got, order) {
			t.Errorf("RoundOrder(3, %d) = %v, want %v", round, got, order)
		}
	}
	if got := RoundOrder(1, 4); !slices.Equal(got, []int{0}) {
		t.Errorf("RoundOrder(1, 4) = %v, want [0]", got)
	}
	if got := RoundOrder(0, 2); len(got) != 0 {
		t.Errorf("RoundOrder(0, 2) = %v, want none", got)
	}
}

// row returns a Row whose every measured column is derived from x, so that
// a median of rows can be checked column by column.
func row(x float64, errs int64, firstErr error) Row {
	return Row{
		Contender: "c", Scenario: "s", UsesRedis: true,
		Decisions: int64(x * 10), Allowed: int64(x * 5), Errors: errs, FirstError: firstErr,
		PerSecond:             x * 1000,
		P50:                   time.Duration(x) * time.Microsecond,
		P99:                   time.Duration(x) * time.Millisecond,
		BilledPerDecision:     x / 10,
		BilledPerAllowed:      x / 5,
		ServerTimePerDecision: time.Duration(x) * time.Nanosecond,
		ClientCPUPerDecision:  time.Duration(x) * 2 * time.Nanosecond,
		ServerCPUPerDecision:  time.Duration(x) * 3 * time.Nanosecond,
	}
}

func TestSummarizeOddRounds(t *testing.T) {
	second := errors.New("second run")
	s := Summarize([]Row{row(9, 0, nil), row(1, 2, second), row(4, 1, errors.New("third run"))})
	want := row(4, 3, second)
	checkSummary(t, s, want, 1000, 9000, 3)
}

func TestSummarizeEvenRounds(t *testing.T) {
	// The middle values are 4 and 6, so every median is the row for 5.
	s := Summarize([]Row{row(6, 0, nil), row(10, 0, nil), row(2, 0, nil), row(4, 0, nil)})
	checkSummary(t, s, row(5, 0, nil), 2000, 10_000, 4)
}

func TestSummarizeNoRounds(t *testing.T) {
	s := Summarize(nil)
	if s.Runs != 0 || s.PerSecond != 0 || s.MinPerSecond != 0 || s.MaxPerSecond != 0 {
		t.Errorf("Summarize(nil) = %+v, want zero", s)
	}
}

// checkSummary compares each column of s with want, and the decisions/s
// range and run count with the given ones.
func checkSummary(t *testing.T, s Summary, want Row, minPerSecond, maxPerSecond float64, runs int) {
	t.Helper()
	if s.Contender != want.Contender || s.Scenario != want.Scenario || s.UsesRedis != want.UsesRedis {
		t.Errorf("names = %q, %q, %v, want %q, %q, %v", s.Contender, s.Scenario, s.UsesRedis, want.Contender, want.Scenario, want.UsesRedis)
	}
	if s.PerSecond != want.PerSecond {
		t.Errorf("PerSecond = %v, want %v", s.PerSecond, want.PerSecond)
	}
	if s.MinPerSecond != minPerSecond || s.MaxPerSecond != maxPerSecond {
		t.Errorf("min–max = %v–%v, want %v–%v", s.MinPerSecond, s.MaxPerSecond, minPerSecond, maxPerSecond)
	}

	if s.Decisions != want.Decisions || s.Allowed != want.Allowed {
		t.Errorf("Decisions, Allowed = %d, %d, want %d, %d", s.Decisions, s.Allowed, want.Decisions, want.Allowed)
	}
	if s.P50 != want.P50 || s.P99 != want.P99 {
		t.Errorf("P50, P99 = %s, %s, want %s, %s", s.P50, s.P99, want.P50, want.P99)
	}
	if s.BilledPerDecision != want.BilledPerDecision || s.BilledPerAllowed != want.BilledPerAllowed {
		t.Errorf("billed per decision, per allowed = %v, %v, want %v, %v", s.BilledPerDecision, s.BilledPerAllowed, want.BilledPerDecision, want.BilledPerAllowed)
	}
	if s.ServerTimePerDecision != want.ServerTimePerDecision {
		t.Errorf("ServerTimePerDecision = %s, want %s", s.ServerTimePerDecision, want.ServerTimePerDecision)
	}
	if s.ClientCPUPerDecision != want.ClientCPUPerDecision || s.ServerCPUPerDecision != want.ServerCPUPerDecision {
		t.Errorf("client, server CPU per decision = %s, %s, want %s, %s", s.ClientCPUPerDecision, s.ServerCPUPerDecision, want.ClientCPUPerDecision, want.ServerCPUPerDecision)
	}

	if s.Errors != want.Errors {
		t.Errorf("Errors = %d, want the sum %d", s.Errors, want.Errors)
	}
	if s.FirstError != want.FirstError {
		t.Errorf("FirstError = %v, want %v", s.FirstError, want.FirstError)
	}
	if s.Runs != runs {
		t.Errorf("Runs = %d, want %d", s.Runs, runs)
	}
}

// incrContender returns a contender that bills exactly one INCR per
// decision and counts how often it is built.
func incrContender(name string, builds *int) Contender {
	return Contender{Name: name, UsesRedis: true, New: func(rdb *redis.Client, _ int) (Decider, error) {
		*builds++
		return func(ctx context.Context, key string) (bool, error) {
			return true, rdb.Incr(ctx, key).Err()
		}, nil
	}}
}

func TestRunRoundsInterleavesContenders(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	builds := make([]int, 3)
	contenders := []Contender{incrContender("a", &builds[0]), incrContender("b", &builds[1]), incrContender("c", &builds[2])}
	var order []string
	cfg := Rounds{
		Count: 3, Workers: 2, Duration: 10 * time.Millisecond, WarmUp: 5 * time.Millisecond,
		Progress: func(sc Scenario, round int, c Contender, _ Row, err error) {
			if err != nil {
				t.Errorf("round %d, %s: %v", round, c.Name, err)
			}
			order = append(order, c.Name)
		},
	}

	summaries := RunRounds(context.Background(), rdb, contenders, Scenario{Name: "s", PerMinute: 1, Keys: 10}, cfg)

	if want := []string{"a", "b", "c", "b", "c", "a", "c", "a", "b"}; !slices.Equal(order, want) {
		t.Errorf("run order = %v, want %v", order, want)
	}
	// One warm-up and three measured runs each.
	if !slices.Equal(builds, []int{4, 4, 4}) {
		t.Errorf("builds per contender = %v, want [4 4 4]", builds)
	}
	for i, s := range summaries {
		if s.Contender != contenders[i].Name || s.Scenario != "s" {
			t.Errorf("summary %d is %q / %q, want %q / s", i, s.Contender, s.Scenario, contenders[i].Name)
		}
		if s.Runs != 3 || s.RunError != nil {
			t.Errorf("%s: %d runs, error %v, want 3 runs and no error", s.Contender, s.Runs, s.RunError)
		}
		if s.BilledPerDecision != 1 {
			t.Errorf("%s: %v billed commands per decision, want 1 (one INCR)", s.Contender, s.BilledPerDecision)
		}
		if s.MinPerSecond > s.PerSecond || s.PerSecond > s.MaxPerSecond {
			t.Errorf("%s: median %v outside min–max %v–%v", s.Contender, s.PerSecond, s.MinPerSecond, s.MaxPerSecond)
		}
	}
}

func TestRunRoundsReportsFailedContender(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	var builds int
	broken := Contender{Name: "broken", New: func(*redis.Client, int) (Decider, error) {
		return nil, errors.New("cannot build")
	}}
	cfg := Rounds{Count: 2, Workers: 1, Duration: 5 * time.Millisecond, WarmUp: time.Millisecond}

	summaries := RunRounds(context.Background(), rdb, []Contender{broken, incrContender("ok", &builds)}, Scenario{Name: "s", PerMinute: 1, Keys: 1}, cfg)

	if s := summaries[0]; s.Runs != 0 || s.RunError == nil || !strings.Contains(s.RunError.Error(), "cannot build") {
		t.Errorf("broken: %d runs, error %v, want 0 runs and the build error", s.Runs, s.RunError)
	}
	if s := summaries[0]; s.Contender != "broken" {
		t.Errorf("broken summary names %q", s.Contender)
	}
	if s := summaries[1]; s.Runs != 2 || s.RunError != nil {
		t.Errorf("ok: %d runs, error %v, want 2 runs and no error", s.Runs, s.RunError)
	}
}

func TestRunResetsServerStats(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	var builds int
	if err := rdb.Set(ctx, "left over", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}

	if _, err := Run(ctx, rdb, incrContender("ok", &builds), Scenario{Name: "s", PerMinute: 1, Keys: 1}, 1, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	if n, err := rdb.Exists(ctx, "left over").Result(); err != nil || n != 0 {
		t.Errorf("key from before the run: EXISTS = %d, %v, want 0 after FLUSHALL", n, err)
	}
	text, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	info, err := redisinfo.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, cs := range info.CommandStats() {
		if cs.Name == "set" || cs.Name == "flushall" {
			t.Errorf("commandstats still count %q (%d calls) from before CONFIG RESETSTAT", cs.Name, cs.Calls)
		}
	}
}
