package upstashops

import (
	"context"
	"fmt"
	"testing"
)

func BenchmarkFindingID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		FindingID("schedule.zombie", "scd_3f2a9c0d1e4b5a67")
	}
}

// BenchmarkRunOnce measures one run of a job reporting 100 open findings
// through routing, cooldown and the policy, with one channel and the
// in-memory audit trail. The findings repeat, as on a steady system.
func BenchmarkRunOnce(b *testing.B) {
	fs := make([]Finding, 100)
	for i := range fs {
		fs[i] = finding("cost.n-plus-one", fmt.Sprintf("pattern:%d", i), Severity(i%3))
		fs[i].Actions = []Action{{Class: ActionTTLFloor, Target: fmt.Sprintf("pattern:%d", i)}}
	}
	job := &findingsJob{name: "bench"}
	job.set(fs...)
	op, err := New(WithJob(job), WithNotifier(NotifierFunc(func(context.Context, Notification) error { return nil })))
	if err != nil {
		b.Fatal(err)
	}
	defer op.Close(context.Background())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := op.RunOnce(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
