package heal_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/upstash-ops/sdk/heal"
	"github.com/upstash-ops/sdk/internal/clock"
)

func ExampleClassify() {
	v := heal.Classify(heal.Failure{
		Status: http.StatusMovedPermanently,
		Header: http.Header{"Location": {"https://api.example.com/v2/orders"}},
	})
	fmt.Println(v.Class, v.Signal)
	fmt.Println(v.Fix)

	v = heal.Classify(heal.Failure{Message: "context deadline exceeded"})
	fmt.Println(v.Class, v.Class.Retryable())
	// Output:
	// configuration http-301
	// the endpoint redirects: change the URL to its new location "https://api.example.com/v2/orders"
	// transient true
}

func ExampleNewClassifier() {
	errQuota := errors.New("monthly quota exhausted")
	c := heal.NewClassifier(heal.RuleFunc(func(f heal.Failure) (heal.Verdict, bool) {
		if errors.Is(f.Err, errQuota) {
			return heal.Verdict{Class: heal.Configuration, Confidence: 1, Signal: "quota",
				Fix: "raise the plan's quota"}, true
		}
		return heal.Verdict{}, false
	}))
	fmt.Println(c.Classify(heal.Failure{Err: fmt.Errorf("send email: %w", errQuota)}))
	fmt.Println(c.Classify(heal.Failure{Status: 429}).Class)
	// Output:
	// configuration (1.00, rule quota): raise the plan's quota
	// transient
}

func ExampleRetry() {
	calls := 0
	v, err := heal.Retry(context.Background(), func(context.Context) error {
		calls++
		return &heal.HTTPError{Status: http.StatusUnauthorized, URL: "https://api.vendor.example/charge"}
	})
	fmt.Println("calls:", calls)
	fmt.Println("error:", err)
	fmt.Println("verdict:", v.Class, "-", v.Fix)
	// Output:
	// calls: 1
	// error: HTTP 401 from https://api.vendor.example/charge
	// verdict: configuration - the endpoint rejected the credentials: rotate the credential or token and update the caller
}

func ExampleMonitor_Observe() {
	clk := clock.NewFake(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	// A dry run by default: actions are decided and reported, not taken.
	m, err := heal.NewMonitor(heal.WithClock(clk), heal.WithOwnHosts("api.internal.example"))
	if err != nil {
		panic(err)
	}
	// The nightly export job times out against the app's own API, run after run.
	for run := 1; run <= 3; run++ {
		d, err := m.Observe(context.Background(), heal.Event{
			Target:  "job:nightly-export",
			RunID:   fmt.Sprintf("export-%d", run),
			Step:    "fetch orders",
			Failure: heal.Failure{Err: context.DeadlineExceeded, URL: "https://api.internal.example/orders"},
		})
		if err != nil {
			panic(err)
		}
		fmt.Printf("run %d: %s, %d run(s), systemic=%v\n", run, d.Verdict.Class, d.Runs, d.Systemic)
		for _, a := range d.Actions {
			fmt.Printf("  %s %s: %s\n", a.Outcome, a.Action.Kind, a.Action.Target)
		}
		clk.Advance(10 * time.Minute)
	}
	// Output:
	// run 1: transient, 1 run(s), systemic=false
	// run 2: transient, 2 run(s), systemic=false
	// run 3: configuration, 3 run(s), systemic=true
	//   dry-run pause: job:nightly-export
	//   dry-run alert: job:nightly-export
}

func ExampleNormaliseMessage() {
	fmt.Println(heal.NormaliseMessage("order 8f14e45f-ceea-467f-a0e6-1d2a3b4c5d6e failed after 3012ms at 2026-01-05T09:15:02Z"))
	// Output:
	// order <uuid> failed after <n>ms at <time>
}

func ExampleRunEvents() {
	page, err := heal.DecodeLogsPage(strings.NewReader(`{"runs":[{
		"workflowRunId":"wfr_1","workflowUrl":"https://app.example.com/api/checkout",
		"workflowState":"RUN_SUCCESS","workflowRunCreatedAt":1767603600000,
		"steps":[{"type":"sequential","steps":[{"stepName":"notify","stepType":"Call",
			"callUrl":"https://hooks.vendor.example/notify","callResponseStatus":502,
			"state":"STEP_SUCCESS","createdAt":1767603601000}]}]}]}`))
	if err != nil {
		panic(err)
	}
	for _, ev := range heal.RunEvents(page.Runs[0]) {
		fmt.Println(ev.RunID, ev.Step, ev.Failure.Status, "silent:", ev.Silent)
		fmt.Println(heal.Classify(ev.Failure).Class)
	}
	// Output:
	// wfr_1 notify 502 silent: true
	// transient
}

// vendorStatus is a DependencyChecker that reports a vendor down until up
// is set.
type vendorStatus struct{ up bool }

func (s *vendorStatus) Check(_ context.Context, dependency string) error {
	if !s.up {
		return fmt.Errorf("%s answered 503", dependency)
	}
	return nil
}

// pauses prints each pause and resume instead of calling QStash.
type pauses struct{}

func (pauses) Pause(_ context.Context, target, _ string) error {
	fmt.Println("  pause", target)
	return nil
}

func (pauses) Resume(_ context.Context, target string) error {
	fmt.Println("  resume", target)
	return nil
}

func ExampleMonitor_Probe() {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	vendor := &vendorStatus{}
	m, err := heal.NewMonitor(
		heal.WithPolicy(heal.Policy{Mode: heal.Autonomous}),
		heal.WithClock(clk), heal.WithPauser(pauses{}), heal.WithDependencyChecker(vendor),
		heal.WithProbeBackoff(time.Minute, 4*time.Minute),
	)
	if err != nil {
		panic(err)
	}

	// A scheduled sync fails against the vendor in three runs: the vendor is down.
	for run := 1; run <= 3; run++ {
		_, err := m.Observe(ctx, heal.Event{
			Target: "schedule:scd_sync", RunID: fmt.Sprintf("msg_%d", run), Step: "delivery",
			Failure: heal.Failure{Status: http.StatusServiceUnavailable, URL: "https://api.vendor.example/v1/sync"},
		})
		if err != nil {
			panic(err)
		}
	}

	// Probe on the Monitor's schedule: the vendor recovers after one failed
	// probe, and two healthy probes in a row resume the schedule.
	for _, up := range []bool{false, true, true} {
		vendor.up = up
		clk.Advance(4 * time.Minute)
		for _, p := range m.Probe(ctx).Probes {
			fmt.Printf("probe %s: healthy=%v, %d in a row\n", p.Dependency, p.Healthy, p.Consecutive)
		}
	}
	// Output:
	//   pause schedule:scd_sync
	// probe https://api.vendor.example: healthy=false, 0 in a row
	// probe https://api.vendor.example: healthy=true, 1 in a row
	//   resume schedule:scd_sync
	// probe https://api.vendor.example: healthy=true, 2 in a row
}
