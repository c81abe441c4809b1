// Command self-healing shows heal classifying workflow failures and the
// Monitor deciding what to do about them, on a scripted history.
//
// It starts the in-process QStash emulator with four Upstash Workflow
// histories and a fake vendor API on loopback, then reads the Workflow logs
// the way a production app would and prints each decision:
//
//   - a report step that times out in every run (configuration: raise the
//     timeout);
//   - a checkout whose payment vendor returns 503 until it recovers
//     (dependency: pause, probe, resume after two healthy probes);
//   - an onboarding hook whose signature check breaks after a deploy
//     (configuration: fix the body parser);
//   - one invoice run rejected by a validation error (logical: human
//     review, no pause, no replay).
//
// Time runs on a fake clock, so the program finishes at once and prints the
// same output every time. Nothing leaves the machine.
//
//	go run ./examples/self-healing
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/upstash-ops/sdk/heal"
	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/qstashemu"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "self-healing:", err)
		os.Exit(1)
	}
}

const (
	reportURL   = "https://app.example.com/api/workflows/report"
	checkoutURL = "https://app.example.com/api/workflows/checkout"
	onboardURL  = "https://app.example.com/api/workflows/onboard"
	invoiceURL  = "https://app.example.com/api/workflows/invoice"
)

func run(ctx context.Context, out io.Writer) error {
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)

	// A vendor API on loopback whose health endpoint returns 503 until
	// vendorHealthy is set.
	var vendorHealthy atomic.Bool
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !vendorHealthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer vendor.Close()

	emu := qstashemu.Start(qstashemu.WithClock(clk))
	defer emu.Close()
	workflows := qstashemu.AddWorkflows(emu)
	script(workflows, start, vendor.URL)

	logs, err := heal.NewWorkflowLogs(emu.URL(), emu.Token(), heal.WithHTTPClient(emu.Client()))
	if err != nil {
		return err
	}
	actions := &printer{out: out, vendor: vendor.URL}
	m, err := heal.NewMonitor(
		heal.WithPolicy(heal.Policy{Mode: heal.Autonomous, MaxActions: 10}),
		heal.WithClock(clk),
		heal.WithPauser(actions), heal.WithAlerter(actions), heal.WithReviewer(actions),
		heal.WithDependencyChecker(&heal.HTTPChecker{
			Client:     vendor.Client(),
			HealthURLs: map[string]string{vendor.URL: vendor.URL + "/health"},
		}),
		heal.WithProbeBackoff(time.Minute, 4*time.Minute),
	)
	if err != nil {
		return err
	}

	fmt.Fprintln(out, "== reading the workflow logs")
	events, err := logs.Fetch(ctx)
	if err != nil {
		return err
	}
	for _, ev := range events {
		d, err := m.Observe(ctx, ev)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%-10s %-20s -> %s (%s, %d run(s))\n",
			d.Event.RunID, d.Event.Step, d.Verdict.Class, d.Verdict.Signal, d.Runs)
		actions.flush()
	}

	fmt.Fprintln(out, "\n== probing the vendor while checkout is paused")
	for _, healthy := range []bool{false, true, true} {
		vendorHealthy.Store(healthy)
		clk.Advance(4 * time.Minute)
		for _, p := range m.Probe(ctx).Probes {
			fmt.Fprintf(out, "probe: healthy=%v, %d healthy in a row\n", p.Healthy, p.Consecutive)
		}
		actions.flush()
	}

	fmt.Fprintln(out, "\n== still paused")
	var paused []string
	for target := range m.Paused() {
		paused = append(paused, path(target))
	}
	slices.Sort(paused)
	fmt.Fprintln(out, strings.Join(paused, ", "))
	return nil
}

// script writes the four histories into the emulator.
func script(w *qstashemu.Workflows, start time.Time, vendorURL string) {
	at := func(minutes int) time.Time { return start.Add(time.Duration(minutes) * time.Minute) }
	for i := range 3 {
		w.Script(reportURL, at(i*10)).ID(fmt.Sprintf("report-%d", i+1)).
			Input(`{"day":"2026-01-05"}`).Step("fetch rows", "1200 rows").
			Fail(4, 0, "context deadline exceeded", nil).Add()
		w.Script(checkoutURL, at(i*10+1)).ID(fmt.Sprintf("checkout-%d", i+1)).
			Input(`{"order":"ord_1"}`).
			Call("charge card", vendorURL+"/v1/charges", http.StatusServiceUnavailable, nil, `{"error":"maintenance"}`).
			Fail(3, 500, "charge failed: vendor answered 503", nil).Add()
	}
	w.Script(onboardURL, at(5)).ID("onboard-1").Input(`{"user":"u_1"}`).Step("send welcome", "ok").Succeed().Add()
	w.Script(onboardURL, at(25)).ID("onboard-2").Input(`{"user":"u_2"}`).
		Fail(3, http.StatusUnauthorized, "Failed to verify signature: invalid body hash", nil).Add()
	w.Script(invoiceURL, at(7)).ID("invoice-1").Input(`{"amount":-5}`).
		Call("create invoice", "https://billing.vendor.example/invoices", http.StatusUnprocessableEntity, nil,
			`{"errors":{"amount":"must be greater than 0"}}`).
		Fail(1, 500, "invoice rejected", nil).Add()
}

// printer prints the Monitor's actions instead of calling real services.
// It holds the lines of one decision until flush, so that they follow the
// decision they belong to.
type printer struct {
	out     io.Writer
	vendor  string
	pending strings.Builder
}

func (p *printer) printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	line = strings.ReplaceAll(line, p.vendor, "http://vendor.test")
	line = strings.ReplaceAll(line, strings.TrimPrefix(p.vendor, "http://"), "vendor.test")
	p.pending.WriteString(line)
}

func (p *printer) flush() {
	fmt.Fprint(p.out, p.pending.String())
	p.pending.Reset()
}

func (p *printer) Pause(_ context.Context, target, _ string) error {
	p.printf("    PAUSE  %s\n", path(target))
	return nil
}

func (p *printer) Resume(_ context.Context, target string) error {
	p.printf("    RESUME %s\n", path(target))
	return nil
}

func (p *printer) Alert(_ context.Context, a heal.Alert) error {
	p.printf("    ALERT  %s: %s\n", path(a.Target), a.Verdict.Fix)
	return nil
}

func (p *printer) Review(_ context.Context, r heal.Review) error {
	p.printf("    REVIEW %s run %s step %q: status %d, input %s, response %s, error %q\n",
		path(r.Target), r.RunID, r.Step, r.Status, r.Input, r.Body, r.Error)
	return nil
}

// path returns the last path segment of a workflow URL, for short output.
func path(target string) string {
	return target[strings.LastIndex(target, "/")+1:]
}
