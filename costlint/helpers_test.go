package costlint

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/redistest"
)

var epoch = time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)

// newRealClient starts a redis-server and returns a client instrumented by
// a Linter on a fake clock.
func newRealClient(t *testing.T, opts ...Option) (*redis.Client, *Linter, *clock.Fake) {
	t.Helper()
	srv := redistest.Start(t)
	fake := clock.NewFake(epoch)
	rdb := srv.Client(t)
	l := Instrument(rdb, append([]Option{WithClock(fake)}, opts...)...)
	return rdb, l, fake
}

func findingByRule(t *testing.T, r *Report, rule string) Finding {
	t.Helper()
	for _, f := range r.Findings {
		if f.Rule == rule {
			return f
		}
	}
	t.Fatalf("no %s finding in report; findings: %v", rule, ruleNames(r))
	return Finding{}
}

func hasRule(r *Report, rule string) bool {
	for _, f := range r.Findings {
		if f.Rule == rule {
			return true
		}
	}
	return false
}

func ruleNames(r *Report) []string {
	var names []string
	for _, f := range r.Findings {
		names = append(names, f.Rule)
	}
	return names
}

func approx(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.6f, want %.6f", name, got, want)
	}
}

func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil && err != redis.Nil {
		t.Fatal(err)
	}
}

// userProfiles is the handler of the N+1 test: one GET per user id.
func userProfiles(ctx context.Context, rdb *redis.Client, ids []int) error {
	for _, id := range ids {
		if err := rdb.Get(ctx, fmt.Sprintf("user:%d:profile", id)).Err(); err != nil && err != redis.Nil {
			return err
		}
	}
	return nil
}
