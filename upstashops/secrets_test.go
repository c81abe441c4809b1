package upstashops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/upstash-ops/sdk/internal/upstashapi"
)

// TestSecretsNeverLeak configures every credential the Operator takes,
// drives alerts, failures, approvals and actions, and scans the log, the
// spans, every notification body, the dashboard, the JSON API and the raw
// audit stream for each secret.
func TestSecretsNeverLeak(t *testing.T) {
	secrets := map[string]string{
		"slack path":       "T0SECRET/B0SECRET/slackSecretPath42",
		"webhook path":     "hookSecretPath-9c1",
		"webhook HMAC key": "whsec-hmac-3e7d",
		"pagerduty key":    "pd-routing-key-77aa",
		"smtp password":    "smtp-password-c0ffee",
		"qstash token":     "qstash-token-eyJVc2VySUQ",
		"management key":   "mgmt-api-key-5150",
		"dashboard token":  "dashboard-token-b4d",
		"executor URL":     "exec-secret-in-url-31",
	}

	// Receivers record bodies; the broken one fails every request.
	var mu sync.Mutex
	bodies := map[string][]string{}
	receiver := func(name string, status int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			bodies[name] = append(bodies[name], string(b)+"\n"+fmt.Sprint(r.Header))
			mu.Unlock()
			w.WriteHeader(status)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	slack := receiver("slack", http.StatusOK)
	hook := receiver("webhook", http.StatusOK)
	broken := receiver("broken", http.StatusInternalServerError)
	pd := receiver("pagerduty", http.StatusAccepted)
	smtpSrv := startSMTP(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close() // a channel whose server is gone: dial errors carry the URL

	var logs strings.Builder
	var logMu sync.Mutex
	logger := newJSONLogger(&lockedWriter{w: &logs, mu: &logMu})

	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	// The developer API rejects the key it is given, so the cost job
	// logs the failure: the key must not be in that line either.
	mgmt := upstashapi.StartEmulator(t, "ops@example.test", "another-key")

	rdb, prefix := testRedis(t)
	exec := ExecutorFunc(func(ctx context.Context, a Action) error {
		return &url.Error{Op: "Post", URL: "http://127.0.0.1:1/v2/schedules?token=" + secrets["executor URL"], Err: errors.New("connection refused")}
	})
	job := &findingsJob{name: ScheduleJob}
	op := newTestOperator(t, WithRedis(rdb), prefix, WithLogger(logger), WithTracerProvider(tp), WithJob(job),
		WithQStash(secrets["qstash token"]), WithQStashURL(closedURL), WithManagementAPI("ops@example.test", secrets["management key"]),
		WithUpstashDatabase("db-1"), WithManagementAPIURL(mgmt.URL()),
		WithDashboardToken(secrets["dashboard token"]), WithDeliveryRetry(2, 0),
		WithPolicy(ObserveOnly.With(ActionPauseSchedule, Autonomous).With(ActionDeleteSchedule, RequireApproval)),
		WithExecutor(ActionPauseSchedule, exec), WithExecutor(ActionDeleteSchedule, exec),
		WithNotifier(Slack(slack.URL+"/services/"+secrets["slack path"])),
		WithNotifier(Webhook(hook.URL+"/"+secrets["webhook path"], []byte(secrets["webhook HMAC key"]))),
		WithNotifier(Webhook(broken.URL+"/"+secrets["webhook path"], []byte(secrets["webhook HMAC key"])), Named("broken")),
		WithNotifier(Slack(closedURL+"/services/"+secrets["slack path"]), Named("gone")),
		WithNotifier(PagerDuty(secrets["pagerduty key"], WithEndpoint(pd.URL+"/v2/enqueue"))),
		WithNotifier(Email(SMTP{Addr: smtpSrv.addr(), From: "ops@example.test", To: []string{"oncall@example.test"}, Username: "ops", Password: secrets["smtp password"]}), Routes(RouteChat|RoutePage|RouteDigest)),
		WithNotifier(Slog(logger)),
	)

	ctx := ctxT(t)
	z := zombie("scd_1")
	z.Severity = Critical
	job.set(z)
	runJob(t, op, ScheduleJob)
	op.SendDigest(ctx)
	flush(t, op)
	pending, _ := op.Approvals(ctx)
	for _, p := range pending {
		_ = op.Decide(ctx, p.Action.ID, Approve, "tester") // the executor fails
	}
	job.set()
	runJob(t, op, ScheduleJob) // resolution
	flush(t, op)
	// The built-in workflow job calls QStash with the token, which fails.
	if _, err := op.RunOnce(ctx, WorkflowJob); err == nil {
		t.Error("the workflow job against a closed port succeeded")
	}

	if _, err := op.RunOnce(ctx, CostJob); err != nil {
		t.Errorf("cost job: %v", err)
	}
	if mgmt.Requests() == 0 {
		t.Error("the cost job did not call the developer API")
	}

	// Collect every surface.
	surfaces := map[string]string{"log": func() string { logMu.Lock(); defer logMu.Unlock(); return logs.String() }()}
	mu.Lock()
	for name, bs := range bodies {
		surfaces["notification to "+name] = strings.Join(bs, "\n")
	}
	mu.Unlock()
	var mails []string
	for _, m := range smtpSrv.received() {
		mails = append(mails, m.Data)
	}
	surfaces["email"] = strings.Join(mails, "\n")
	mux := http.NewServeMux()
	mux.Handle("/ops/", op.Handler())
	dash := httptest.NewServer(mux)
	defer dash.Close()
	for _, path := range []string{"", "api/state", "api/findings", "api/jobs", "api/approvals", "api/audit", "api/channels", "api/costs", "login"} {
		req, _ := http.NewRequest(http.MethodGet, dash.URL+"/ops/"+path, nil)
		req.Header.Set("Authorization", "Bearer "+secrets["dashboard token"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		surfaces["dashboard /"+path] = string(b)
	}
	raw, err := rdb.XRange(ctx, op.keys.audit(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	surfaces["audit stream"] = fmt.Sprint(raw)
	surfaces["operator printed"] = fmt.Sprintf("%v %+v", op, op)
	var failures []string
	for _, st := range op.Channels() {
		failures = append(failures, st.Name+" "+st.LastError)
	}
	surfaces["channel status"] = strings.Join(failures, "\n")
	var spanText []string
	for _, sp := range spans.Ended() {
		spanText = append(spanText, fmt.Sprint(sp.Name(), sp.Attributes(), sp.Events(), sp.Status()))
	}
	surfaces["spans"] = strings.Join(spanText, "\n")

	// The surfaces must have content, or the scan proves nothing.
	for _, name := range []string{"log", "spans", "notification to slack", "notification to webhook", "notification to pagerduty", "email", "audit stream", "dashboard /"} {
		if len(surfaces[name]) < 50 {
			t.Errorf("surface %q is nearly empty: %q", name, surfaces[name])
		}
	}
	if !strings.Contains(surfaces["channel status"], "[redacted URL]") {
		t.Errorf("the dial failure of the gone channel was not exercised: %s", surfaces["channel status"])
	}
	if !strings.Contains(surfaces["audit stream"], "failed") {
		t.Error("the failing executor was not exercised")
	}

	for surface, text := range surfaces {
		for name, secret := range secrets {
			if name == "pagerduty key" && surface == "notification to pagerduty" {
				continue // the Events API needs the routing key in the body
			}
			if strings.Contains(text, secret) {
				t.Errorf("%s reveals the %s", surface, name)
			}
		}
	}
}
