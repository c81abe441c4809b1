package upstashops

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestTTLFloorActionRaisesTTL(t *testing.T) {
	rdb, prefix := testRedis(t)
	clk := fakeClock()
	op := newTestOperator(t, WithRedis(rdb), prefix, WithClock(clk),
		WithPolicy(ObserveOnly.With(ActionTTLFloor, Autonomous)))
	ctx := ctxT(t)
	pattern := fmt.Sprintf("thrash%d", prefixSeq.Add(1))
	for round := range 5 {
		for i := range 20 {
			if err := rdb.Set(ctx, fmt.Sprintf("%s:%d", pattern, i), round, time.Second).Err(); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(20 * time.Minute)
	}

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
