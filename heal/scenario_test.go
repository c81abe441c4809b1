package heal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/qstashemu"
)

// These scenarios script workflow histories in the QStash emulator, read
// them through WorkflowLogs over loopback HTTP, and check what the Monitor
// decides and does.

// scenario is an emulator with workflow logs, a source reading them and a
// Monitor on a fake clock.
type scenario struct {
	t         *testing.T
	workflows *qstashemu.Workflows
	logs      *WorkflowLogs
	monitor   *Monitor
	rec       *recorder
	clock     *clock.Fake
	start     time.Time
}

func newScenario(t *testing.T, opts ...Option) *scenario {
	t.Helper()
	srv := qstashemu.StartT(t)
	workflows := qstashemu.AddWorkflows(srv, qstashemu.WithWorkflowPageSize(2))
	logs, err := NewWorkflowLogs(srv.URL(), srv.Token())
	if err != nil {
		t.Fatal(err)
	}
	m, rec, clk := newTestMonitor(t, Autonomous, opts...)
	return &scenario{t: t, workflows: workflows, logs: logs, monitor: m, rec: rec, clock: clk, start: epoch}
}

// at returns the scenario's start plus d.
func (s *scenario) at(d time.Duration) time.Time { return s.start.Add(d) }

// poll runs one Monitor pass over the new log entries.
func (s *scenario) poll() Report {
	s.t.Helper()
	rep, err := s.monitor.Poll(context.Background(), s.logs)
	if err != nil {
		s.t.Fatal(err)
	}
	return rep
}

// kinds lists the action kinds and outcomes of records.
func kinds(records []AuditRecord) []string {
	var out []string
	for _, r := range records {
		out = append(out, string(r.Action.Kind)+" "+string(r.Outcome))
	}
	return out
}

func TestScenarioTimeoutInEveryRun(t *testing.T) {
	s := newScenario(t)
	const report = "https://app.example.com/api/workflows/report"
	for i := range 3 {
		s.workflows.Script(report, s.at(time.Duration(i)*10*time.Minute)).
			Input(`{"day":"2026-01-05"}`).
			Step("fetch rows", "1200 rows").
			Fail(4, 0, `Post "https://app.example.com/api/workflows/report": context deadline exceeded`, nil).
			Add()
	}

	rep := s.poll()
	if len(rep.Decisions) != 3 {
		t.Fatalf("decisions = %d, want one per run", len(rep.Decisions))
	}
	for i, d := range rep.Decisions[:2] {
		if d.Verdict.Class != Transient || len(d.Actions) != 0 {
			t.Errorf("run %d: %v with actions %v, want transient and only recorded", i, d.Verdict.Class, kinds(d.Actions))
		}
	}
	last := rep.Decisions[2]
	if !last.Systemic || last.Verdict.Class != Configuration || last.Verdict.Basis != BasisRepetition {
		t.Errorf("third run: systemic=%v %v %v, want a systemic configuration pattern", last.Systemic, last.Verdict.Class, last.Verdict.Basis)
	}
	if !strings.Contains(last.Verdict.Fix, "raise the timeout") {
		t.Errorf("fix = %q, want the timeout hint", last.Verdict.Fix)
	}
	if got := strings.Join(kinds(last.Actions), ", "); got != "pause done, alert done" {
		t.Errorf("actions = %s, want pause and alert", got)
	}
	if last.Fingerprint.Step != `after "fetch rows"` {
		t.Errorf("step = %q, want the step after fetch rows", last.Fingerprint.Step)
	}
	if rep := s.poll(); len(rep.Decisions) != 0 {
		t.Errorf("second poll found %d decisions, want none: runs are read once", len(rep.Decisions))
	}
}

func TestScenarioVendorOutageAndRecovery(t *testing.T) {
	vendor := newHealthServer(t)
	checker := &HTTPChecker{HealthURLs: map[string]string{vendor.URL: vendor.URL + "/health"}}
	s := newScenario(t, WithDependencyChecker(checker), WithProbeBackoff(time.Minute, 4*time.Minute))
	const checkout = "https://app.example.com/api/workflows/checkout"
	for i := range 3 {
		s.workflows.Script(checkout, s.at(time.Duration(i)*5*time.Minute)).
			Input(`{"order":"ord_1"}`).
			Call("charge card", vendor.URL+"/v1/charges", http.StatusServiceUnavailable,
				http.Header{"Content-Type": {"application/json"}}, `{"error":"upstream maintenance"}`).
			Fail(3, 500, "charge failed: vendor answered 503", nil).
			Add()
	}

	rep := s.poll()
	last := rep.Decisions[len(rep.Decisions)-1]
	if last.Verdict.Class != Dependency || !last.Systemic {
		t.Fatalf("last decision = %v systemic=%v, want a systemic dependency failure", last.Verdict.Class, last.Systemic)
	}
	if got := strings.Join(kinds(last.Actions), ", "); got != "pause done, alert done" {
		t.Errorf("actions = %s, want pause and alert", got)
	}
	if got := s.monitor.Paused()[checkout]; got != vendor.URL {
		t.Fatalf("checkout waits for %q, want %s", got, vendor.URL)
	}

	// The vendor stays down for one probe, then answers two healthy probes.
	var resumed []string
	for _, healthy := range []bool{false, true, true} {
		vendor.healthy.Store(healthy)
		s.clock.Advance(4 * time.Minute)
		rep := s.poll()
		if len(rep.Probes) != 1 {
			t.Fatalf("probes = %+v, want one", rep.Probes)
		}
		if rep.Probes[0].Healthy != healthy {
			t.Errorf("probe healthy = %v, want %v", rep.Probes[0].Healthy, healthy)
		}
		resumed = append(resumed, rep.Probes[0].Resumed...)
		if healthy && rep.Probes[0].Consecutive == 1 && len(rep.Probes[0].Resumed) > 0 {
			t.Error("resumed after one healthy probe")
		}
	}
	if len(resumed) != 1 || resumed[0] != checkout {
		t.Errorf("resumed = %v, want the checkout workflow once", resumed)
	}
	calls := s.rec.Calls()
	if calls[len(calls)-1] != "resume "+checkout {
		t.Errorf("last call = %q, want the resume", calls[len(calls)-1])
	}
	if vendor.probes.Load() != 3 {
		t.Errorf("vendor got %d health probes, want 3", vendor.probes.Load())
	}
}

func TestScenarioSignatureFailureAfterDeploy(t *testing.T) {
	s := newScenario(t)
	const hook = "https://app.example.com/api/workflows/onboard"
	for i := range 2 {
		s.workflows.Script(hook, s.at(time.Duration(i)*time.Minute)).
			Input(`{"user":"u_1"}`).Step("send welcome", "ok").Succeed().Add()
	}
	// The deploy switches the route to a JSON body parser, so the raw body
	// the signature covers is gone.
	s.workflows.Script(hook, s.at(10*time.Minute)).
		Input(`{"user":"u_2"}`).
		Fail(3, http.StatusUnauthorized, "Failed to verify signature: invalid body hash", nil).
		Add()

	rep := s.poll()
	if len(rep.Decisions) != 1 {
		t.Fatalf("decisions = %d, want only the failed run", len(rep.Decisions))
	}
	d := rep.Decisions[0]
	if d.Verdict.Class != Configuration || d.Verdict.Signal != "signature" || d.Verdict.Basis != BasisMarker {
		t.Errorf("verdict = %v, want a configuration signature marker", d.Verdict)
	}
	if got := strings.Join(kinds(d.Actions), ", "); got != "pause done, alert done" {
		t.Errorf("actions = %s, want pause and alert", got)
	}
	if !strings.Contains(s.rec.alerts[0].Verdict.Fix, "Content-Type") {
		t.Errorf("alert fix = %q, want the Content-Type hint", s.rec.alerts[0].Verdict.Fix)
	}
}

func TestScenarioValidationErrorInOneRun(t *testing.T) {
	s := newScenario(t)
	const invoices = "https://app.example.com/api/workflows/invoice"
	s.workflows.Script(invoices, s.at(0)).Input(`{"amount":1200}`).
		Call("create invoice", "https://billing.vendor.example/invoices", 201, nil, `{"id":"in_1"}`).
		Succeed().Add()
	bad := s.workflows.Script(invoices, s.at(time.Minute)).Input(`{"amount":-5}`).
		Call("create invoice", "https://billing.vendor.example/invoices", http.StatusUnprocessableEntity,
			http.Header{"Content-Type": {"application/json"}}, `{"errors":{"amount":"must be greater than 0"}}`).
		Fail(1, 500, "invoice rejected", nil).
		Add()
	s.workflows.Script(invoices, s.at(2*time.Minute)).Input(`{"amount":300}`).
		Call("create invoice", "https://billing.vendor.example/invoices", 201, nil, `{"id":"in_2"}`).
		Succeed().Add()

	rep := s.poll()
	if len(rep.Decisions) != 1 {
		t.Fatalf("decisions = %d, want only the rejected run", len(rep.Decisions))
	}
	d := rep.Decisions[0]
	if d.Verdict.Class != Logical {
		t.Errorf("class = %v, want logical", d.Verdict.Class)
	}
	if got := strings.Join(kinds(d.Actions), ", "); got != "review done" {
		t.Errorf("actions = %s, want only a review", got)
	}
	if len(s.monitor.Paused()) != 0 {
		t.Errorf("paused = %v, want nothing paused", s.monitor.Paused())
	}
	r := s.rec.reviews[0]
	if r.RunID != bad || r.Step != "create invoice" || r.Status != 422 {
		t.Errorf("review = %+v, want run %s, step and status", r, bad)
	}
	if !strings.Contains(r.Input, `"amount":-5`) || !strings.Contains(r.Body, "must be greater than 0") ||
		r.Error != "invoice rejected" {
		t.Errorf("review = %+v, want input, body and error excerpts", r)
	}
	for _, c := range s.rec.Calls() {
		if strings.HasPrefix(c, "resume") {
			t.Errorf("call %q: a logical failure is never resumed", c)
		}
	}
}

func TestWorkflowLogsPaging(t *testing.T) {
	s := newScenario(t)
	const wf = "https://app.example.com/api/workflows/sync"
	for i := range 5 {
		s.workflows.Script(wf, s.at(time.Duration(i)*time.Minute)).
			Fail(1, 503, "upstream unavailable", nil).Add()
	}
	limited, err := NewWorkflowLogs(s.logs.base, s.logs.token, WithMaxPages(1))
	if err != nil {
		t.Fatal(err)
	}
	events, err := limited.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Errorf("one page gave %d events, want the page size 2", len(events))
	}
	events, err = s.logs.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 5 {
		t.Fatalf("all pages gave %d events, want 5", len(events))
	}
	for i := 1; i < len(events); i++ {
		if events[i].Time.Before(events[i-1].Time) {
			t.Errorf("events are not oldest first: %v before %v", events[i-1].Time, events[i].Time)
		}
	}
}

func TestWorkflowLogsRejectedToken(t *testing.T) {
	s := newScenario(t)
	const token = "wrong-token-do-not-log"
	logs, err := NewWorkflowLogs(s.logs.base, token)
	if err != nil {
		t.Fatal(err)
	}
	_, err = logs.Fetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want the 401", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error leaks the token: %v", err)
	}
}

func TestWorkflowLogsStopsOnRepeatedCursor(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		fmt.Fprint(w, `{"cursor":"page-2","runs":[]}`)
	}))
	t.Cleanup(srv.Close)
	logs, err := NewWorkflowLogs(srv.URL, "token", WithMaxPages(50))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := logs.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("Fetch sent %d requests, want 2: the second page repeats its own cursor", n)
	}
}

func TestWorkflowLogsKeepsRunsBesideInvalidOne(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, mixedPage)
	}))
	t.Cleanup(srv.Close)
	logs, err := NewWorkflowLogs(srv.URL, "token")
	if err != nil {
		t.Fatal(err)
	}
	events, err := logs.Fetch(context.Background())
	if !errors.Is(err, ErrInvalidRun) {
		t.Errorf("err = %v, want ErrInvalidRun", err)
	}
	if len(events) != 1 || events[0].RunID != "wfr_ok" {
		t.Errorf("events = %+v, want the failure of wfr_ok", events)
	}
}

// failingSource fails every fetch.
type failingSource struct{}

func (failingSource) Fetch(context.Context) ([]Event, error) {
	return nil, errors.New("logs API unavailable")
}

func TestMonitorPollProbesWhenFetchFails(t *testing.T) {
	m, rec, clk, vendor := pausedVendor(t)
	observeAll(t, m, vendorOutage(vendor.URL, 0, 3)...)
	vendor.healthy.Store(true)
	var probes int
	for range 2 {
		clk.Advance(time.Minute)
		rep, err := m.Poll(context.Background(), failingSource{})
		if err == nil {
			t.Error("Poll = nil error, want the fetch error")
		}
		probes += len(rep.Probes)
	}
	if probes != 2 {
		t.Errorf("probes = %d, want 2 while the source fails", probes)
	}
	if !hasCall(rec.Calls(), "resume "+workflowURL) {
		t.Errorf("calls = %v, want the resume after two healthy probes", rec.Calls())
	}
}

// Bot protection in front of the app's endpoint answers QStash with a
// challenge page behind a 503. The Workflow logs carry the page as the
// step error's text, and the repetition must not turn it into a logical
// failure.
func TestScenarioChallengePageEveryRun(t *testing.T) {
	s := newScenario(t)
	const wf = "https://app.example.com/api/workflows/import"
	const page = `<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>`
	for i := range 3 {
		s.workflows.Script(wf, s.at(time.Duration(i)*10*time.Minute)).
			Input(`{"batch":1}`).Fail(3, http.StatusServiceUnavailable, page, nil).Add()
	}

	rep := s.poll()
	if len(rep.Decisions) != 3 {
		t.Fatalf("decisions = %d, want one per run", len(rep.Decisions))
	}
	for _, d := range rep.Decisions {
		if d.Verdict.Class != Configuration || d.Verdict.Signal != "bot-challenge" {
			t.Errorf("run %s: verdict = %v, want configuration bot-challenge", d.Event.RunID, d.Verdict)
		}
	}
	if len(s.rec.reviews) != 0 {
		t.Errorf("reviews = %+v, want none: a challenge page is configuration", s.rec.reviews)
	}
	if got := s.monitor.Paused()[wf]; got != "" || len(s.monitor.Paused()) != 1 {
		t.Errorf("Paused = %v, want the workflow paused for configuration", s.monitor.Paused())
	}
}
