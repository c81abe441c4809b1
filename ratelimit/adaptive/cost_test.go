package adaptive

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/redistest"
	"github.com/upstash-ops/sdk/ratelimit"
)

// TestLayerCostShare runs 10 keys at 100 requests a minute each for 10
// minutes through a sliding window limiter on a real redis-server. Every
// minute it flushes and evaluates every key. It compares the billed
// commands of the adaptive layer with the limiter's own, and prints them
// with -v.
func TestLayerCostShare(t *testing.T) {
	const keys, perMinute, minutes = 10, 100, 10
	srv := redistest.Start(t)
	e := newEnvWith(t, srv.Client(t), "share", clock.NewFake(epoch), ratelimit.SlidingWindow(1000, time.Minute), accounts{}, Policy{})
	ctx := context.Background()

	var limiterCost, layerCost int64
	for range minutes {
		before := billed(t, e.rdb)
		for k := range keys {
			for range perMinute {
				if _, err := e.limiter.Allow(ctx, "key"+strconv.Itoa(k)); err != nil {
					t.Fatal(err)
				}
			}
		}
		limiterCost += billed(t, e.rdb) - before
		e.clock.Advance(time.Minute)

		before = billed(t, e.rdb)
		flushed, err := e.rec.Flush(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if changes, err := e.tuner.EvaluateKeys(ctx, flushed); err != nil || len(changes) != 0 {
			t.Fatalf("EvaluateKeys = %+v, %v; want no change for steady traffic", changes, err)
		}
		layerCost += billed(t, e.rdb) - before
	}

	requests := int64(keys * perMinute * minutes)
	t.Logf("requests %d: limiter billed %d (%.2f per request), adaptive layer billed %d (%.3f per request, %.1f%% of the limiter)",
		requests, limiterCost, float64(limiterCost)/float64(requests), layerCost,
		float64(layerCost)/float64(requests), 100*float64(layerCost)/float64(limiterCost))
	if want := int64(keys * minutes * 5); layerCost != want {
		t.Errorf("adaptive layer billed %d commands, want %d (3 to flush and 2 to evaluate per key per minute)", layerCost, want)
	}
}
