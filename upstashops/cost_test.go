package upstashops

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/upstashapi"
)

func TestTTLFloorActionRaisesTTL(t *testing.T) {
	rdb, prefix := testRedis(t)
	clk := fakeClock()
	op := newTestOperator(t, WithRedis(rdb), prefix, WithClock(clk),
		WithPolicy(ObserveOnly.With(ActionTTLFloor, Autonomous)))
	ctx := ctxT(t)
	pattern := fmt.Sprintf("thrash%d", prefixSeq.Add(1))
	thrash(t, rdb, pattern)
	clk.Advance(time.Hour)

	findings, err := op.RunOnce(ctx, CostJob)
	if err != nil {
		t.Fatal(err)
	}
	var thrash *Finding
	for i := range findings {
		if findings[i].Kind == "cost.ttl-thrash" {
			thrash = &findings[i]
		}
	}
	if thrash == nil || len(thrash.Actions) != 1 {
		t.Fatalf("findings = %+v, want a ttl-thrash finding with one action", findings)
	}
	if got := auditEvents(t, op); !slices.Contains(got, "executed:ttl_floor:"+pattern+":{id}") {
		t.Fatalf("audit events = %v, want the floor executed", got)
	}

	key := pattern + ":7"
	if err := rdb.Set(ctx, key, "v", time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	ttl, err := rdb.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 50*time.Second {
		t.Errorf("TTL of %s after the floor = %s, want about %s", key, ttl, ttlFloor)
	}
}

// thrash writes every key of pattern five times with a one-second TTL,
// which costlint's ttl-thrash rule reports.
func thrash(t *testing.T, rdb *redis.Client, pattern string) {
	t.Helper()
	ctx := ctxT(t)
	for round := range 5 {
		for i := range 20 {
			if err := rdb.Set(ctx, fmt.Sprintf("%s:%d", pattern, i), round, time.Second).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestCostJobShortWindowNotProjected(t *testing.T) {
	rdb, prefix := testRedis(t)
	clk := fakeClock()
	op := newTestOperator(t, WithRedis(rdb), prefix, WithClock(clk))
	ctx := ctxT(t)
	thrash(t, rdb, fmt.Sprintf("short%d", prefixSeq.Add(1)))
	clk.Advance(10 * time.Second)

	findings, err := op.RunOnce(ctx, CostJob)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) == 0 {
		t.Fatal("no findings from a thrashing workload")
	}
	for _, f := range findings {
		if f.SavingsUSD != 0 {
			t.Errorf("%s: savings %v from a 10s window, want 0", f.Kind, f.SavingsUSD)
		}
	}
	if got := op.Costs(); len(got) != 0 {
		t.Errorf("cost points after a 10s window = %v, want none", got)
	}

	// The window kept growing: an hour later it is projected, with the
	// first ten seconds' commands still in it.
	clk.Advance(time.Hour)
	findings, err = op.RunOnce(ctx, CostJob)
	if err != nil {
		t.Fatal(err)
	}
	costs := op.Costs()
	if len(costs) != 1 || costs[0].USD <= 0 {
		t.Fatalf("cost points after an hour = %v, want one positive", costs)
	}
	var saved float64
	for _, f := range findings {
		saved += f.SavingsUSD
	}
	if saved <= 0 {
		t.Errorf("savings after an hour = %v, want positive", saved)
	}
}

func TestCostJobReadsUpstashStats(t *testing.T) {
	const key = "mgmt-key-for-the-emulator"
	emu := upstashapi.StartEmulator(t, "ops@example.test", key)
	emu.AddCommands("db-1", epoch, map[string]int64{"GET": 9_000, "SET": 900, "MGET": 100})
	rdb, prefix := testRedis(t)
	op := newTestOperator(t, WithRedis(rdb), prefix, WithClock(fakeClock()),
		WithManagementAPI("ops@example.test", key), WithUpstashDatabase("db-1"), WithManagementAPIURL(emu.URL()))

	findings, err := op.RunOnce(ctxT(t), CostJob)
	if err != nil {
		t.Fatal(err)
	}
	if emu.Requests() != 1 {
		t.Errorf("requests to the developer API = %d, want 1", emu.Requests())
	}
	var kinds []string
	for _, f := range findings {
		kinds = append(kinds, f.Kind)
	}
	if !slices.Contains(kinds, "cost.server-command-mix") {
		t.Errorf("finding kinds = %v, want cost.server-command-mix from the API's counts", kinds)
	}
}

func TestManagementAPINeedsDatabase(t *testing.T) {
	_, err := New(WithManagementAPI("ops@example.test", "k"))
	if err == nil || !strings.Contains(err.Error(), "WithUpstashDatabase") {
		t.Errorf("New without a database ID: error = %v, want one naming WithUpstashDatabase", err)
	}
}
