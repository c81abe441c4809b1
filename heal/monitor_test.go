package heal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
)

// recorder implements Pauser, Alerter, Reviewer, Approver and AuditSink
// and keeps every call.
type recorder struct {
	mu      sync.Mutex
	calls   []string
	alerts  []Alert
	reviews []Review
	audit   []AuditRecord
	approve bool
	failOn  ActionKind
}

func (r *recorder) log(format string, args ...any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	call := fmt.Sprintf(format, args...)
	r.calls = append(r.calls, call)
	if r.failOn != "" && strings.HasPrefix(call, string(r.failOn)) {
		return errors.New("handler unavailable")
	}
	return nil
}

func (r *recorder) Pause(_ context.Context, target, _ string) error {
	return r.log("pause %s", target)
}

func (r *recorder) Resume(_ context.Context, target string) error {
	return r.log("resume %s", target)
}

func (r *recorder) Alert(_ context.Context, a Alert) error {
	r.mu.Lock()
	r.alerts = append(r.alerts, a)
	r.mu.Unlock()
	return r.log("alert %s %s", a.Target, a.Verdict.Class)
}

func (r *recorder) Review(_ context.Context, rv Review) error {
	r.mu.Lock()
	r.reviews = append(r.reviews, rv)
	r.mu.Unlock()
	return r.log("review %s %s", rv.Target, rv.RunID)
}

func (r *recorder) Approve(_ context.Context, a Action) (bool, error) {
	return r.approve, nil
}

func (r *recorder) Record(_ context.Context, rec AuditRecord) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.audit = append(r.audit, rec)
	return nil
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// failingChecker fails the test if a probe runs, so that a test that does
// not set a loopback checker never probes a host off the machine.
type failingChecker struct{ t *testing.T }

func (c failingChecker) Check(_ context.Context, dependency string) error {
	c.t.Errorf("unexpected probe of %s: set a loopback DependencyChecker", dependency)
	return errors.New("probe not allowed in this test")
}

// newTestMonitor returns a Monitor on a fake clock wired to a recorder.
func newTestMonitor(t *testing.T, mode Mode, opts ...Option) (*Monitor, *recorder, *clock.Fake) {
	t.Helper()
	rec := &recorder{approve: true}
	clk := clock.NewFake(epoch)
	all := append([]Option{
		WithPolicy(Policy{Mode: mode}), WithClock(clk), WithPauser(rec), WithAlerter(rec),
		WithReviewer(rec), WithApprover(rec), WithAuditSink(rec), WithDependencyChecker(failingChecker{t}),
	}, opts...)
	m, err := NewMonitor(all...)
	if err != nil {
		t.Fatal(err)
	}
	return m, rec, clk
}

const workflowURL = "https://app.example.com/api/workflows/orders"

func TestMonitorTransientOnlyRecords(t *testing.T) {
	m, rec, _ := newTestMonitor(t, Autonomous)
	d, err := m.Observe(context.Background(), Event{
		Target: workflowURL, RunID: "run-1", Step: "charge",
		Failure: Failure{Status: 503, URL: "https://api.vendor.example/charge"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if d.Verdict.Class != Transient || d.Systemic {
		t.Errorf("decision = %v systemic=%v, want transient, not systemic", d.Verdict.Class, d.Systemic)
	}
	if calls := rec.Calls(); len(calls) != 0 {
		t.Errorf("calls = %v, want none for a transient failure", calls)
	}
}

func TestMonitorConfigurationPausesAndAlertsOnce(t *testing.T) {
	m, rec, clk := newTestMonitor(t, Autonomous)
	for i := range 3 {
		_, err := m.Observe(context.Background(), Event{
			Target: workflowURL, RunID: fmt.Sprintf("run-%d", i), Step: "init",
			Failure: Failure{Status: 401, URL: workflowURL},
		})
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	want := []string{"pause " + workflowURL, "alert " + workflowURL + " configuration"}
	if got := rec.Calls(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("calls = %q, want %q", got, want)
	}
	if !strings.Contains(rec.alerts[0].Verdict.Fix, "rotate the credential") {
		t.Errorf("alert fix = %q, want credential rotation", rec.alerts[0].Verdict.Fix)
	}
	if got := m.Paused(); len(got) != 1 {
		t.Errorf("Paused = %v, want the workflow", got)
	}
}

func TestMonitorAuditBeforeAndAfter(t *testing.T) {
	m, rec, _ := newTestMonitor(t, Autonomous)
	_, _ = m.Observe(context.Background(), Event{Target: workflowURL, RunID: "r", Failure: Failure{Status: 410}})
	var outcomes []Outcome
	for _, r := range rec.audit {
		if r.Action.Kind == ActionPause {
			outcomes = append(outcomes, r.Outcome)
		}
	}
	if len(outcomes) != 2 || outcomes[0] != OutcomePending || outcomes[1] != OutcomeDone {
		t.Errorf("pause audit outcomes = %v, want [pending done]", outcomes)
	}
	if got := len(m.Audit()); got != len(rec.audit) {
		t.Errorf("in-memory trail has %d records, sink %d; want equal", got, len(rec.audit))
	}
}

func TestMonitorPolicyModes(t *testing.T) {
	ev := Event{Target: workflowURL, RunID: "run-1", Failure: Failure{Status: 401}}
	tests := []struct {
		mode      Mode
		approve   bool
		wantCalls int
		want      Outcome
	}{
		{DryRun, true, 0, OutcomeDryRun},
		{Off, true, 0, ""},
		{Approval, false, 0, OutcomeDenied},
		{Approval, true, 2, OutcomeDone},
		{Autonomous, false, 2, OutcomeDone},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s approve=%v", tt.mode, tt.approve), func(t *testing.T) {
			m, rec, _ := newTestMonitor(t, tt.mode)
			rec.approve = tt.approve
			d, err := m.Observe(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(rec.Calls()); got != tt.wantCalls {
				t.Errorf("handler calls = %d, want %d", got, tt.wantCalls)
			}
			if tt.want == "" {
				if len(d.Actions) != 0 {
					t.Errorf("actions = %v, want none when off", d.Actions)
				}
				return
			}
			if len(d.Actions) != 2 {
				t.Fatalf("actions = %v, want pause and alert", d.Actions)
			}
			for _, a := range d.Actions {
				if a.Outcome != tt.want {
					t.Errorf("%s outcome = %v, want %v", a.Action.Kind, a.Outcome, tt.want)
				}
			}
		})
	}
}

func TestMonitorLimitPerPass(t *testing.T) {
	m, rec, _ := newTestMonitor(t, Autonomous, WithPolicy(Policy{Mode: Autonomous, MaxActions: 1}))
	rep, err := m.Process(context.Background(), []Event{
		{Target: workflowURL, RunID: "r1", Failure: Failure{Status: 401}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Actions) != 2 || rep.Actions[0].Outcome != OutcomeDone || rep.Actions[1].Outcome != OutcomeOverLimit {
		t.Errorf("actions = %+v, want pause done then alert over-limit", rep.Actions)
	}
	if got := len(rec.Calls()); got != 1 {
		t.Errorf("handler calls = %d, want 1", got)
	}
}

func TestMonitorFailedActionIsAudited(t *testing.T) {
	m, rec, _ := newTestMonitor(t, Autonomous)
	rec.failOn = ActionPause
	d, _ := m.Observe(context.Background(), Event{Target: workflowURL, RunID: "r1", Failure: Failure{Status: 401}})
	if d.Actions[0].Outcome != OutcomeFailed || d.Actions[0].Error == "" {
		t.Errorf("pause record = %+v, want failed with the error", d.Actions[0])
	}
	if len(m.Paused()) != 0 {
		t.Error("a failed pause counts as paused")
	}
}

func TestMonitorLogicalGoesToReview(t *testing.T) {
	m, rec, _ := newTestMonitor(t, Autonomous)
	_, err := m.Observe(context.Background(), Event{
		Target: workflowURL, RunID: "run-7", Step: "create-invoice", Input: `{"customer":"c_1","amount":-5}`,
		Failure: Failure{Status: 422, Body: `{"errors":{"amount":"must be positive"}}`, URL: workflowURL},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Calls(); len(got) != 1 || !strings.HasPrefix(got[0], "review") {
		t.Fatalf("calls = %v, want one review and no pause", got)
	}
	r := rec.reviews[0]
	if r.RunID != "run-7" || r.Step != "create-invoice" || r.Status != 422 ||
		!strings.Contains(r.Input, `"amount":-5`) || !strings.Contains(r.Body, "must be positive") {
		t.Errorf("review = %+v, want run, step, status, input and body", r)
	}
}

func TestMonitorSilentFailureAlertsWithoutPause(t *testing.T) {
	m, rec, clk := newTestMonitor(t, Autonomous)
	for i := range 3 {
		_, _ = m.Observe(context.Background(), Event{
			Target: workflowURL, RunID: fmt.Sprintf("run-%d", i), Step: "notify", Silent: true,
			Failure: Failure{Status: 502, URL: "https://hooks.vendor.example/notify"},
		})
		clk.Advance(time.Minute)
	}
	got := rec.Calls()
	if len(got) != 1 || !strings.HasPrefix(got[0], "alert") {
		t.Fatalf("calls = %v, want one alert", got)
	}
	if !rec.alerts[0].Silent || rec.alerts[0].Verdict.Class != Dependency {
		t.Errorf("alert = %+v, want silent dependency", rec.alerts[0])
	}
}

func TestMonitorRejectsInvalidOptions(t *testing.T) {
	tests := map[string][]Option{
		"approval without approver": {WithPolicy(Policy{Mode: Approval})},
		"pattern of one run":        {WithPattern(1, time.Hour)},
		"zero window":               {WithPattern(3, 0)},
		"zero healthy probes":       {WithHealthyProbes(0)},
		"backoff max below base":    {WithProbeBackoff(time.Minute, time.Second)},
		"invalid mode":              {WithPolicy(Policy{Mode: Mode(9)})},
	}
	for name, opts := range tests {
		if _, err := NewMonitor(opts...); err == nil {
			t.Errorf("%s: NewMonitor succeeded, want an error", name)
		}
	}
	if _, err := NewMonitor(); err != nil {
		t.Errorf("NewMonitor() = %v, want defaults to be valid", err)
	}
}

func TestMonitorMissingTarget(t *testing.T) {
	m, _, _ := newTestMonitor(t, DryRun)
	if _, err := m.Observe(context.Background(), Event{RunID: "r"}); !errors.Is(err, ErrMissingTarget) {
		t.Errorf("err = %v, want ErrMissingTarget", err)
	}
}

// healthServer answers its health URL with 503 or 200 as set.
type healthServer struct {
	*httptest.Server
	healthy atomic.Bool
	probes  atomic.Int32
}

func newHealthServer(t *testing.T) *healthServer {
	t.Helper()
	h := &healthServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			h.probes.Add(1)
			if !h.healthy.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(h.Close)
	return h
}

func TestMonitorDependencyResumesAfterHealthyProbes(t *testing.T) {
	vendor := newHealthServer(t)
	checker := &HTTPChecker{HealthURLs: map[string]string{vendor.URL: vendor.URL + "/health"}}
	m, rec, clk := newTestMonitor(t, Autonomous,
		WithDependencyChecker(checker), WithProbeBackoff(time.Minute, 8*time.Minute))
	ctx := context.Background()

	for i := range 3 {
		_, err := m.Observe(ctx, Event{
			Target: workflowURL, RunID: fmt.Sprintf("run-%d", i), Step: "charge",
			Failure: Failure{Status: 503, URL: vendor.URL + "/v1/charges"},
		})
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	if got := m.Paused()[workflowURL]; got != vendor.URL {
		t.Fatalf("Paused()[workflow] = %q, want it waiting for %s", got, vendor.URL)
	}

	// step runs one probe pass and checks its result.
	step := func(advance time.Duration, healthy bool, wantConsecutive int, wantResumed bool) {
		t.Helper()
		vendor.healthy.Store(healthy)
		clk.Advance(advance)
		rep := m.Probe(ctx)
		if len(rep.Probes) != 1 {
			t.Fatalf("probes = %+v, want one", rep.Probes)
		}
		p := rep.Probes[0]
		if p.Healthy != healthy || p.Consecutive != wantConsecutive || (len(p.Resumed) > 0) != wantResumed {
			t.Fatalf("probe = %+v, want healthy=%v consecutive=%d resumed=%v", p, healthy, wantConsecutive, wantResumed)
		}
	}
	step(0, false, 0, false) // due one minute after the pause
	if rep := m.Probe(ctx); len(rep.Probes) != 0 {
		t.Fatalf("probed again before the backoff passed: %+v", rep.Probes)
	}
	step(2*time.Minute, true, 1, false) // backoff doubled to 2m
	step(time.Minute, false, 0, false)  // one good probe is not enough
	step(2*time.Minute, true, 1, false)
	step(time.Minute, true, 2, true)

	if got := rec.Calls(); got[len(got)-1] != "resume "+workflowURL {
		t.Errorf("last call = %q, want the resume", got[len(got)-1])
	}
	if len(m.Paused()) != 0 {
		t.Errorf("Paused = %v after resume, want empty", m.Paused())
	}
	if n := vendor.probes.Load(); n != 5 {
		t.Errorf("health URL got %d probes, want 5", n)
	}
}

func TestNoSecretsInOutputs(t *testing.T) {
	const token = "qstash_tok_9f8e7d6c5b4a"
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, rec, _ := newTestMonitor(t, Autonomous, WithLogger(logger))
	target := "https://app.example.com/api/wf?token=" + token
	_, err := m.Observe(context.Background(), Event{
		Target: target, RunID: "run-1", Step: "init", Input: `{"apiKey":"` + token + `"}`,
		Failure: Failure{
			Status: 400, URL: "https://user:" + token + "@api.vendor.example/x",
			Message: "Authorization: Bearer " + token, Body: `{"error":"invalid","password":"` + token + `"}`,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "%+v %+v %+v %+v %s", rec.alerts, rec.reviews, rec.audit, m.Audit(), logs.String())
	if strings.Contains(out.String(), token) {
		t.Errorf("a secret reached an output:\n%s", out.String())
	}
	if len(rec.reviews) != 1 {
		t.Errorf("reviews = %d, want 1", len(rec.reviews))
	}
}

func TestMonitorRepetitionKeepsMarker(t *testing.T) {
	m, _, clk := newTestMonitor(t, DryRun)
	var last Decision
	for i := range 3 {
		var err error
		last, err = m.Observe(context.Background(), Event{
			Target: workflowURL, RunID: fmt.Sprintf("run-%d", i), Step: "fetch",
			Failure: Failure{Status: 503, URL: "https://api.vendor.example/x", Body: "<title>Just a moment...</title>"},
		})
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	if !last.Systemic {
		t.Fatal("three runs are not systemic")
	}
	if last.Verdict.Class != Configuration || last.Verdict.Basis != BasisMarker {
		t.Errorf("verdict = %v %v, want the configuration marker to survive repetition", last.Verdict.Class, last.Verdict.Basis)
	}
}

func TestMonitorWindowExpires(t *testing.T) {
	m, _, clk := newTestMonitor(t, DryRun)
	for i := range 3 {
		d, err := m.Observe(context.Background(), Event{
			Target: workflowURL, RunID: fmt.Sprintf("run-%d", i), Failure: Failure{Status: 502},
		})
		if err != nil {
			t.Fatal(err)
		}
		if d.Systemic {
			t.Errorf("run %d is systemic with runs 31 minutes apart in a one-hour window", i)
		}
		clk.Advance(31 * time.Minute)
	}
}

// countingSource returns no events and counts its fetches.
type countingSource struct{ fetches atomic.Int32 }

func (s *countingSource) Fetch(context.Context) ([]Event, error) {
	s.fetches.Add(1)
	return nil, nil
}

func TestMonitorRunPollsOnInterval(t *testing.T) {
	m, _, clk := newTestMonitor(t, DryRun)
	src := &countingSource{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, src, time.Minute) }()

	wait, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	for range 2 {
		if err := clk.BlockUntil(wait, 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	if err := clk.BlockUntil(wait, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if n := src.fetches.Load(); n != 3 {
		t.Errorf("fetches = %d, want 3", n)
	}
}

func TestHTTPChecker(t *testing.T) {
	statuses := map[int]bool{200: true, 204: true, 404: true, 429: false, 500: false, 503: false}
	for status, healthy := range statuses {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
		}))
		err := (&HTTPChecker{}).Check(context.Background(), srv.URL)
		srv.Close()
		if (err == nil) != healthy {
			t.Errorf("status %d: Check = %v, want healthy=%v", status, err, healthy)
		}
	}
	addr := closedPortAddr(t)
	if err := (&HTTPChecker{}).Check(context.Background(), "http://"+addr); err == nil {
		t.Error("Check of a closed port succeeded, want an error")
	}
}

func TestMonitorReviewsRetryOnce(t *testing.T) {
	m, rec, clk := newTestMonitor(t, Autonomous)
	ev := Event{Target: workflowURL, RunID: "run-9", Step: "import", Failure: Failure{Status: 422, Body: "invalid sku"}}
	for range 2 {
		if _, err := m.Observe(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	if len(rec.reviews) != 1 {
		t.Errorf("reviews = %d for two attempts of one run, want 1", len(rec.reviews))
	}
}

func TestMonitorDryRunHonoursLimit(t *testing.T) {
	m, rec, _ := newTestMonitor(t, DryRun, WithPolicy(Policy{Mode: DryRun, MaxActions: 1}))
	d, err := m.Observe(context.Background(), Event{Target: workflowURL, RunID: "r1", Failure: Failure{Status: 401}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Actions) != 2 || d.Actions[0].Outcome != OutcomeDryRun || d.Actions[1].Outcome != OutcomeOverLimit {
		t.Errorf("actions = %+v, want dry-run pause then over-limit alert", d.Actions)
	}
	if len(rec.Calls()) != 0 {
		t.Errorf("calls = %v, want none in a dry run", rec.Calls())
	}
}

func TestMonitorRetriesActionsThatDidNotHappen(t *testing.T) {
	m, rec, clk := newTestMonitor(t, Autonomous, WithPolicy(Policy{Mode: Autonomous, MaxActions: 1}))
	for i := range 2 {
		if _, err := m.Observe(context.Background(), Event{
			Target: workflowURL, RunID: fmt.Sprintf("run-%d", i), Failure: Failure{Status: 401},
		}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	want := []string{"pause " + workflowURL, "alert " + workflowURL + " configuration"}
	if got := rec.Calls(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("calls = %q, want the pause in pass 1 and the alert over the limit retried in pass 2", got)
	}
}

func TestDecisionActionsRedactTarget(t *testing.T) {
	const token = "qstash_tok_9f8e7d6c5b4a"
	approver := &targetApprover{}
	m, _, _ := newTestMonitor(t, Approval, WithApprover(approver))
	d, err := m.Observe(context.Background(), Event{
		Target: "https://app.example.com/api/wf?token=" + token, RunID: "run-1",
		Failure: Failure{Status: http.StatusUnauthorized},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Actions) == 0 {
		t.Fatal("no actions, want a pause and an alert")
	}
	if s := fmt.Sprintf("%+v", d.Actions); strings.Contains(s, token) {
		t.Errorf("Decision.Actions contain the token: %s", s)
	}
	if s := strings.Join(approver.targets, " "); strings.Contains(s, token) {
		t.Errorf("the approver saw the token: %s", s)
	}
}

// targetApprover approves every action and keeps the targets it saw.
type targetApprover struct{ targets []string }

func (a *targetApprover) Approve(_ context.Context, act Action) (bool, error) {
	a.targets = append(a.targets, act.Target)
	return true, nil
}

func TestProbeErrorRedactsHealthURL(t *testing.T) {
	const secret = "s3cr3tvalue42"
	vendor := "http://" + closedPortAddr(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	checker := &HTTPChecker{HealthURLs: map[string]string{vendor: vendor + "/health?key=" + secret}}
	m, _, clk := newTestMonitor(t, Autonomous, WithDependencyChecker(checker), WithLogger(logger))
	ctx := context.Background()
	for i := range 3 {
		_, err := m.Observe(ctx, Event{
			Target: workflowURL, RunID: fmt.Sprint(i), Failure: Failure{Status: 503, URL: vendor + "/x"},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Hour)
	rep := m.Probe(ctx)
	if len(rep.Probes) != 1 || rep.Probes[0].Healthy {
		t.Fatalf("probes = %+v, want one unhealthy probe", rep.Probes)
	}
	if s := fmt.Sprintf("%+v\n%s", rep, logs.String()); strings.Contains(s, secret) {
		t.Errorf("the health URL's query value leaked:\n%s", s)
	}
}

// pausedVendor returns a Monitor whose dependency checker probes a
// loopback vendor, which starts unhealthy, with a one-minute probe backoff.
func pausedVendor(t *testing.T) (*Monitor, *recorder, *clock.Fake, *healthServer) {
	t.Helper()
	vendor := newHealthServer(t)
	checker := &HTTPChecker{HealthURLs: map[string]string{vendor.URL: vendor.URL + "/health"}}
	m, rec, clk := newTestMonitor(t, Autonomous,
		WithDependencyChecker(checker), WithProbeBackoff(time.Minute, time.Minute))
	return m, rec, clk, vendor
}

// observeAll observes each event and fails the test on an error.
func observeAll(t *testing.T, m *Monitor, events ...Event) {
	t.Helper()
	for _, ev := range events {
		if _, err := m.Observe(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// vendorOutage returns n runs of workflowURL whose call to vendor got a 503.
func vendorOutage(vendor string, firstRun, n int) []Event {
	var events []Event
	for i := range n {
		events = append(events, Event{
			Target: workflowURL, RunID: fmt.Sprintf("run-%d", firstRun+i), Step: "charge",
			Failure: Failure{Status: 503, URL: vendor + "/v1/charges"},
		})
	}
	return events
}

// probeHealthy runs n probe passes, a minute apart, against a healthy vendor.
func probeHealthy(m *Monitor, clk *clock.Fake, vendor *healthServer, n int) {
	vendor.healthy.Store(true)
	for range n {
		clk.Advance(time.Minute)
		m.Probe(context.Background())
	}
}

func hasCall(calls []string, prefix string) bool {
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

func TestMonitorConfigPauseOutlivesDependency(t *testing.T) {
	tests := map[string]func(vendor string) []Event{
		"configuration first": func(vendor string) []Event {
			cfg := Event{Target: workflowURL, RunID: "run-cfg", Failure: Failure{Status: http.StatusUnauthorized}}
			return append([]Event{cfg}, vendorOutage(vendor, 0, 3)...)
		},
		"dependency first": func(vendor string) []Event {
			cfg := Event{Target: workflowURL, RunID: "run-cfg", Failure: Failure{Status: http.StatusUnauthorized}}
			return append(vendorOutage(vendor, 0, 3), cfg)
		},
	}
	for name, events := range tests {
		t.Run(name, func(t *testing.T) {
			m, rec, clk, vendor := pausedVendor(t)
			observeAll(t, m, events(vendor.URL)...)
			probeHealthy(m, clk, vendor, 3)
			if hasCall(rec.Calls(), "resume") {
				t.Errorf("calls = %v: the dependency's recovery resumed a target with a configuration failure", rec.Calls())
			}
			if got, ok := m.Paused()[workflowURL]; !ok || got != "" {
				t.Errorf("Paused()[workflow] = %q, %v; want a configuration pause", got, ok)
			}
		})
	}
}

func TestMonitorPausesAgainAfterResume(t *testing.T) {
	m, rec, clk, vendor := pausedVendor(t)
	observeAll(t, m, vendorOutage(vendor.URL, 0, 3)...)
	probeHealthy(m, clk, vendor, 2)
	if _, ok := m.Paused()[workflowURL]; ok {
		t.Fatalf("calls = %v: not resumed after two healthy probes", rec.Calls())
	}

	// The vendor goes down again: one failed run is not yet a pattern, a
	// new pattern pauses again.
	vendor.healthy.Store(false)
	observeAll(t, m, vendorOutage(vendor.URL, 10, 1)...)
	if _, ok := m.Paused()[workflowURL]; ok {
		t.Errorf("paused again on one failed run after the resume, want a new pattern first")
	}
	observeAll(t, m, vendorOutage(vendor.URL, 11, 2)...)
	if got := m.Paused()[workflowURL]; got != vendor.URL {
		t.Errorf("calls = %v: Paused()[workflow] = %q after a new outage, want it waiting for %s",
			rec.Calls(), got, vendor.URL)
	}
}

func TestMonitorRunRejectsZeroInterval(t *testing.T) {
	m, _, _ := newTestMonitor(t, DryRun)
	src := &countingSource{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, interval := range []time.Duration{0, -time.Second} {
		if err := m.Run(ctx, src, interval); err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run(interval %s) = %v, want an invalid interval error", interval, err)
		}
	}
	if n := src.fetches.Load(); n != 0 {
		t.Errorf("source fetched %d times, want none", n)
	}
}

func TestMonitorDoesNotPauseBeyondWatch(t *testing.T) {
	m, rec, _ := newTestMonitor(t, Autonomous)
	ctx := context.Background()
	for i := range maxDependencies + 5 {
		_, err := m.Observe(ctx, Event{
			Target: fmt.Sprintf("job:sync-%d", i), RunID: "run-1", Step: "push",
			Failure: Failure{Err: syscall.ECONNREFUSED, URL: fmt.Sprintf("https://vendor-%d.example/x", i)},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for target, origin := range m.paused {
		if w := m.deps[origin]; w == nil || !w.targets[target] {
			t.Errorf("%s is paused for %s, which no probe watches, so it would never resume", target, origin)
		}
	}
	if got := len(m.paused); got != maxDependencies {
		t.Errorf("paused %d targets, want %d", got, maxDependencies)
	}
	alerts := 0
	for _, c := range rec.Calls() {
		if strings.HasPrefix(c, "alert") {
			alerts++
		}
	}
	if alerts != maxDependencies+5 {
		t.Errorf("alerts = %d, want one for each of the %d targets", alerts, maxDependencies+5)
	}
}

func TestMonitorKeepsJobNameTargets(t *testing.T) {
	for _, target := range []string{"Export Orders (EU)", "export 100%", "job:nightly export"} {
		m, rec, _ := newTestMonitor(t, Autonomous)
		_, err := m.Observe(context.Background(), Event{
			Target: target, RunID: "run-1", Failure: Failure{Status: http.StatusUnauthorized},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.alerts) != 1 || rec.alerts[0].Target != target {
			t.Errorf("alert target = %q, want the job name %q unchanged", rec.alerts[0].Target, target)
		}
		for _, r := range m.Audit() {
			if r.Action.Target != target {
				t.Errorf("audit target = %q, want the job name %q unchanged", r.Action.Target, target)
			}
		}
	}
}

// flakyApprover fails its first call, then approves.
type flakyApprover struct{ calls int }

func (a *flakyApprover) Approve(context.Context, Action) (bool, error) {
	a.calls++
	if a.calls == 1 {
		return false, errors.New("approval service unavailable")
	}
	return true, nil
}

func TestMonitorAsksAgainAfterApproverError(t *testing.T) {
	m, rec, clk := newTestMonitor(t, Approval, WithApprover(&flakyApprover{}))
	for i := range 2 {
		d, err := m.Observe(context.Background(), Event{
			Target: workflowURL, RunID: fmt.Sprintf("run-%d", i), Failure: Failure{Status: http.StatusUnauthorized},
		})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && (len(d.Actions) == 0 || d.Actions[0].Outcome != OutcomeFailed) {
			t.Errorf("actions = %+v, want the pause failed by the approver error", d.Actions)
		}
		clk.Advance(time.Minute)
	}
	if !hasCall(rec.Calls(), "pause "+workflowURL) {
		t.Errorf("calls = %v: an approver error is no decision, want the pause asked again and taken", rec.Calls())
	}
}

func TestMonitorConcurrentUse(t *testing.T) {
	m, _, clk, vendor := pausedVendor(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				_, _ = m.Observe(ctx, vendorOutage(vendor.URL, g*100+i, 1)[0])
				_ = m.Paused()
				_ = m.Audit()
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			clk.Advance(time.Minute)
			m.Probe(ctx)
		}
	})
	wg.Wait()
	if len(m.Audit()) == 0 {
		t.Error("no audit records after concurrent outages, want the pause and alert")
	}
}

func TestMonitorDoesNotPauseWhatHTTPCannotProbe(t *testing.T) {
	rec := &recorder{}
	m, err := NewMonitor(WithPolicy(Policy{Mode: Autonomous}), WithClock(clock.NewFake(epoch)),
		WithPauser(rec), WithAlerter(rec))
	if err != nil {
		t.Fatal(err)
	}
	// No URL: the dependency is known only by the job's name.
	_, err = m.Observe(context.Background(), Event{
		Target: "job:sync-crm", RunID: "run-1", Failure: Failure{Err: syscall.ECONNREFUSED},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := m.Paused(); len(p) != 0 {
		t.Errorf("Paused = %v: the HTTP checker cannot probe a job name, so the pause would never end", p)
	}
	if !hasCall(rec.Calls(), "alert job:sync-crm") {
		t.Errorf("calls = %v, want an alert", rec.Calls())
	}
}

func TestMonitorDryRunPausedIsSimulated(t *testing.T) {
	m, rec, _ := newTestMonitor(t, DryRun)
	if _, err := m.Observe(context.Background(), Event{
		Target: workflowURL, RunID: "run-1", Failure: Failure{Status: http.StatusUnauthorized},
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Paused()[workflowURL]; !ok {
		t.Errorf("Paused = %v, want the target a dry run would have paused", m.Paused())
	}
	if calls := rec.Calls(); len(calls) != 0 {
		t.Errorf("calls = %v, want no Pauser or Alerter call in a dry run", calls)
	}
}
