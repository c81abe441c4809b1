package schedules_test

import (
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/qstashemu"
	"github.com/upstash-ops/sdk/schedules"
)

func TestZombieMixedGatewayErrors(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-40*24*time.Hour), "https://api.example.com/jobs/sync", "0 * * * *", 0, "")
	i := 0
	e.fire(id, now.Add(-10*time.Hour), now.Add(-time.Hour), time.Hour, func(time.Time) []qstashemu.Attempt {
		i++
		if i%2 == 0 {
			return []qstashemu.Attempt{qstashemu.Fail(504, "gateway timeout")}
		}
		return []qstashemu.Attempt{qstashemu.Fail(502, "bad gateway")}
	})

	f := only(t, e.audit(), id)
	if f.Kind != schedules.KindZombie {
		t.Fatalf("finding = %s: %s, want zombie", f.Kind, f.Summary)
	}
	if f.Failures != 10 || f.Checked != 10 {
		t.Errorf("failures = %d/%d, want 10/10", f.Failures, f.Checked)
	}
}
