package ratelimitbench

import (
	"context"
	"testing"
	"time"

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
