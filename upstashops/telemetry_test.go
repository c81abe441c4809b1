package upstashops

import (
	"context"
	"errors"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestJobRunMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	job := &findingsJob{name: "j"}
	job.set(finding("k", "a", Warning), finding("k", "b", Info))
	fails := NewJob("fails", func(context.Context) (Result, error) { return Result{}, errors.New("backend down") })
	op := newTestOperator(t, WithMeterProvider(mp), WithJob(job), WithJob(fails))
	runJob(t, op, "j")
	if _, err := op.RunOnce(ctxT(t), "fails"); err == nil {
		t.Fatal("failing job succeeded")
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			data, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			for _, dp := range data.DataPoints {
				job, _ := dp.Attributes.Value("job")
				outcome, _ := dp.Attributes.Value("outcome")
				sums[m.Name+"/"+job.AsString()+"/"+outcome.AsString()] += dp.Value
			}
		}
	}
	for key, want := range map[string]int64{
		"upstashops.job.runs/j/ok":        1,
		"upstashops.job.runs/fails/error": 1,
		"upstashops.findings/j/":          2,
	} {
		if sums[key] != want {
			t.Errorf("%s = %d, want %d (all: %v)", key, sums[key], want, sums)
		}
	}
}

func TestRunSendsDigestOnInterval(t *testing.T) {
	clk := fakeClock()
	digest := &recorder{}
	job := &findingsJob{name: "j"}
	job.set(finding("k", "a", Info))
	op := newTestOperator(t, WithClock(clk), WithJob(job, Every(24*time.Hour), Jitter(0)), WithDigestInterval(time.Hour), WithNotifier(digest, Routes(RouteDigest)))
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	go op.Run(ctx)
	waitFor(t, func() bool { return op.JobStatuses()[0].Runs == 1 })
	// The job's next run, its run timeout and the digest wait on the clock.
	if err := clk.BlockUntil(ctxT(t), 3); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	waitFor(t, func() bool { return len(digest.events()) == 1 })
	if got := digest.events()[0]; got != "digest" {
		t.Errorf("got %q, want a digest", got)
	}
}

// TestDigestOncePerIntervalAcrossInstances runs two Operators sharing a
// Redis and a clock; one digest goes out per interval.
func TestDigestOncePerIntervalAcrossInstances(t *testing.T) {
	_, prefix := testRedis(t)
	clk := fakeClock()
	digest := &recorder{}
	job := &findingsJob{name: "j"}
	job.set(finding("k", "a", Warning))
	newOp := func() *Operator {
		return newTestOperator(t, WithRedis(redisServer.Client(t)), prefix, WithoutDefaultJobs(), WithClock(clk),
			WithJob(job, Every(48*time.Hour), Jitter(0)), WithDigestInterval(time.Hour), WithNotifier(digest, Routes(RouteDigest)))
	}
	a, b := newOp(), newOp()
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	go a.Run(ctx)
	go b.Run(ctx)

	tried := func(op *Operator) int { st := op.JobStatuses()[0]; return st.Runs + st.Skipped }
	waitFor(t, func() bool { return tried(a) >= 1 && tried(b) >= 1 })
	executed := a.JobStatuses()[0].Runs + b.JobStatuses()[0].Runs
	// Two job loops, two digest loops and one timeout per executed run.
	if err := clk.BlockUntil(ctxT(t), 4+executed); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	waitFor(t, func() bool { return len(digest.events()) >= 1 })
	if err := clk.BlockUntil(ctxT(t), 4); err != nil { // both digest loops waiting again
		t.Fatal(err)
	}
	flush(t, a)
	flush(t, b)
	if got := digest.events(); len(got) != 1 {
		t.Errorf("got %v, want one digest", got)
	}
}
