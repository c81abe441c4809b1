package schedules_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/qstashemu"
	"github.com/upstash-ops/sdk/schedules"
)

const cloudflareChallenge = `<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>` +
	`<meta http-equiv="refresh" content="390"></head><body><div id="cf-chl-widget"></div>` +
	`<script src="/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1"></script></body></html>`

func TestPreviewDeploymentGone(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-72*time.Hour), "https://shop-git-feature-cart-acme.vercel.app/api/cron/sync", "0 * * * *", 3, `{"job":"sync"}`)
	lastGood := now.Add(-49 * time.Hour)
	e.fire(id, now.Add(-71*time.Hour), lastGood, time.Hour, func(time.Time) []qstashemu.Attempt {
		return []qstashemu.Attempt{qstashemu.OK()}
	})
	e.fire(id, now.Add(-48*time.Hour), now.Add(-time.Hour), time.Hour, func(time.Time) []qstashemu.Attempt {
		return repeat(qstashemu.Fail(404, "The deployment could not be found on Vercel. DEPLOYMENT_NOT_FOUND"), 4)
	})

	f := only(t, e.audit(), id)
	if f.Kind != schedules.KindEndpointGone || f.Recommendation != schedules.ActionDelete {
		t.Fatalf("finding = %s/%s, want endpoint_gone/delete", f.Kind, f.Recommendation)
	}
	if f.LastStatus != 404 || !strings.Contains(f.BodyExcerpt, "DEPLOYMENT_NOT_FOUND") {
		t.Errorf("evidence = %d %q", f.LastStatus, f.BodyExcerpt)
	}
	if !f.LastSuccess.Equal(lastGood) {
		t.Errorf("LastSuccess = %v, want %v", f.LastSuccess, lastGood)
	}
	for _, want := range []string{id, "every hour, on the hour, every day (UTC)", "POST https://shop-git-feature-cart-acme.vercel.app/api/cron/sync",
		"404 Not Found", "Last successful delivery: 2026-11-18 11:00 UTC", "Messages in the last 30 days: 72 to 288", "48 of its messages are in the DLQ", "delete the schedule"} {
		if !strings.Contains(f.Summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, f.Summary)
		}
	}
}

func TestZombieTenServerErrors(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-40*24*time.Hour), "https://api.example.com/jobs/report", "*/30 * * * *", 2, "")
	e.fire(id, now.Add(-5*time.Hour), now.Add(-30*time.Minute), 30*time.Minute, func(time.Time) []qstashemu.Attempt {
		return repeat(qstashemu.Fail(500, `{"error":"db connection pool exhausted"}`), 3)
	})

	f := only(t, e.audit(), id)
	if f.Kind != schedules.KindZombie || f.Failures != 10 || f.Checked != 10 || f.Recommendation != schedules.ActionPause {
		t.Fatalf("finding = %+v, want zombie 10/10 pause", f)
	}
	if !f.LastSuccess.IsZero() || !strings.Contains(f.Summary, "No successful delivery since") {
		t.Errorf("summary does not say there was no success: %s", f.Summary)
	}
	// Every 30 minutes for 30 days, 1 + 2 retries each.
	if f.Cost.Triggers30d != 1440 || f.Cost.MessagesUpper30d != 4320 || f.Cost.MessagesUpperMonth != 4320 {
		t.Errorf("cost = %+v", f.Cost)
	}
	if f.Cost.USDUpperMonth != 0.0432 || f.Cost.USDLowerMonth != 0.0144 {
		t.Errorf("USD = %v to %v, want 0.0144 to 0.0432", f.Cost.USDLowerMonth, f.Cost.USDUpperMonth)
	}
}

func TestNineFailuresAndOneSuccessIsDegraded(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-40*24*time.Hour), "https://api.example.com/jobs/flaky", "0 * * * *", 0, "")
	i := 0
	e.fire(id, now.Add(-10*time.Hour), now.Add(-time.Hour), time.Hour, func(time.Time) []qstashemu.Attempt {
		i++
		if i == 4 {
			return []qstashemu.Attempt{qstashemu.OK()}
		}
		return []qstashemu.Attempt{qstashemu.Fail(502, "bad gateway")}
	})
	f := only(t, e.audit(), id)
	if f.Kind != schedules.KindDegraded || f.Failures != 9 || f.Checked != 10 {
		t.Fatalf("finding = %s %d/%d, want degraded 9/10", f.Kind, f.Failures, f.Checked)
	}
	if f.Recommendation != schedules.ActionNone {
		t.Errorf("Recommendation = %q, want none", f.Recommendation)
	}
}

func TestMisconfiguredCauses(t *testing.T) {
	tests := []struct {
		name    string
		attempt qstashemu.Attempt
		cause   schedules.Cause
	}{
		{"cloudflare challenge 403", qstashemu.Attempt{Status: 403, Header: http.Header{"Content-Type": {"text/html"}, "Cf-Mitigated": {"challenge"}}, Body: cloudflareChallenge}, schedules.CauseBotChallenge},
		{"cloudflare challenge 503", qstashemu.Attempt{Status: 503, Body: cloudflareChallenge}, schedules.CauseBotChallenge},
		{"signature", qstashemu.Attempt{Status: 401, Body: `{"error":"invalid signature: body hash mismatch"}`}, schedules.CauseSignature},
		{"method", qstashemu.Fail(405, "Method Not Allowed"), schedules.CauseMethodNotAllowed},
		{"payload", qstashemu.Fail(413, "Request Entity Too Large"), schedules.CausePayloadTooLarge},
		{"tls", qstashemu.TransportError("tls: failed to verify certificate: x509: certificate has expired or is not yet valid"), schedules.CauseTLS},
		{"timeout", qstashemu.TransportError("Post \"https://api.example.com/slow\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"), schedules.CauseTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			id := e.create(now.Add(-10*24*time.Hour), "https://api.example.com/hook", "0 */6 * * *", 1, "")
			e.fire(id, now.Add(-24*time.Hour), now.Add(-6*time.Hour), 6*time.Hour, func(time.Time) []qstashemu.Attempt {
				return repeat(tt.attempt, 2)
			})
			f := only(t, e.audit(), id)
			if f.Kind != schedules.KindMisconfigured || f.Cause != tt.cause {
				t.Fatalf("finding = %s (%s), want misconfigured (%s): %s", f.Kind, f.Cause, tt.cause, f.Summary)
			}
		})
	}
}

func TestRedirectNamesNewURL(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-10*24*time.Hour), "https://old.example.com/api/cron", "0 3 * * *", 0, "")
	e.fire(id, now.Add(-3*24*time.Hour+3*time.Hour-12*time.Hour), now.Add(-12*time.Hour), 24*time.Hour, func(time.Time) []qstashemu.Attempt {
		return []qstashemu.Attempt{{Status: 308, Header: http.Header{"Location": {"https://new.example.com/api/cron"}}, Body: "Permanent Redirect"}}
	})
	f := only(t, e.audit(), id)
	if f.Cause != schedules.CauseRedirect || f.RedirectTo != "https://new.example.com/api/cron" {
		t.Fatalf("finding = %s (%s) to %q", f.Kind, f.Cause, f.RedirectTo)
	}
	if !strings.Contains(f.Summary, "redirects to https://new.example.com/api/cron") ||
		!strings.Contains(f.Summary, "update the destination to https://new.example.com/api/cron") {
		t.Errorf("summary = %s", f.Summary)
	}
}

func TestUnresolvableHostIsGone(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-10*24*time.Hour), "https://staging-7.example.dev/cron", "0 * * * *", 0, "")
	e.fire(id, now.Add(-3*time.Hour), now.Add(-time.Hour), time.Hour, func(time.Time) []qstashemu.Attempt {
		return []qstashemu.Attempt{qstashemu.TransportError("dial tcp: lookup staging-7.example.dev: no such host")}
	})
	f := only(t, e.audit(), id)
	if f.Kind != schedules.KindEndpointGone || !strings.Contains(f.Summary, "no such host") {
		t.Fatalf("finding = %s: %s", f.Kind, f.Summary)
	}
}

func TestThreeIdenticalSchedulesKeepOldest(t *testing.T) {
	e := newEnv(t)
	start := now.Add(-5 * 24 * time.Hour)
	var ids []string
	for i := range 3 {
		ids = append(ids, e.create(start.Add(time.Duration(i)*50*time.Second), "https://api.example.com/digest", "0 8 * * *", 3, `{"kind":"daily"}`))
	}
	// A fourth schedule with another body is not a duplicate.
	other := e.create(start, "https://api.example.com/digest", "0 8 * * *", 3, `{"kind":"weekly"}`)

	r := e.audit()
	if fs := findings(r, ids[0]); len(fs) != 0 {
		t.Errorf("oldest schedule flagged: %+v", fs)
	}
	if fs := findings(r, other); len(fs) != 0 {
		t.Errorf("schedule with another body flagged: %+v", fs)
	}
	for _, id := range ids[1:] {
		f := only(t, r, id)
		if f.Kind != schedules.KindDuplicate || f.DuplicateOf != ids[0] || f.Recommendation != schedules.ActionDelete {
			t.Errorf("finding of %s = %s of %q, want duplicate of %s", id, f.Kind, f.DuplicateOf, ids[0])
		}
	}
}

func TestDeadLettersRecur(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-12*24*time.Hour), "https://api.example.com/sync", "0 0 * * *", 0, "")
	// Every third trigger fails: too few for a failure rule, but each
	// failure is a dead letter.
	i := 0
	e.fire(id, now.Add(-10*24*time.Hour), now.Add(-24*time.Hour), 24*time.Hour, func(time.Time) []qstashemu.Attempt {
		i++
		if i%3 != 0 {
			return []qstashemu.Attempt{qstashemu.OK()}
		}
		return []qstashemu.Attempt{qstashemu.Fail(422, `{"error":"customer 4711 has no billing address"}`)}
	})
	r := e.audit()
	var dl *schedules.Finding
	for _, f := range findings(r, id) {
		if f.Kind == schedules.KindDeadLetters {
			dl = &f
		}
	}
	if dl == nil {
		t.Fatalf("no dead_letters finding: %+v", findings(r, id))
	}
	if dl.DeadLetters != 3 || dl.LastStatus != 422 || !strings.Contains(dl.BodyExcerpt, "no billing address") {
		t.Errorf("finding = %d letters, %d %q", dl.DeadLetters, dl.LastStatus, dl.BodyExcerpt)
	}
}

func TestDeadLetterThreshold(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-10*24*time.Hour), "https://api.example.com/x", "0 0 * * *", 0, "")
	for i := range 3 {
		e.emu.AddDLQ(qstashemu.DLQEntry{ScheduleID: id, MessageID: "m" + string(rune('a'+i)), CreatedAt: now.Add(-time.Duration(i+1) * time.Hour), ResponseStatus: 500, ResponseBody: []byte("boom")})
	}
	if got := findings(e.audit(), id); len(got) != 1 || got[0].Kind != schedules.KindDeadLetters || got[0].DeadLetters != 3 {
		t.Errorf("findings = %+v, want one dead_letters with 3", got)
	}
	if got := findings(e.audit(schedules.WithThresholds(schedules.Thresholds{DeadLetters: 4})), id); len(got) != 0 {
		t.Errorf("threshold 4: findings = %+v, want none", got)
	}
}

func TestPausedTooLong(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-60*24*time.Hour), "https://api.example.com/old", "0 0 * * *", 3, "")
	e.fire(id, now.Add(-25*24*time.Hour), now.Add(-21*24*time.Hour), 24*time.Hour, func(time.Time) []qstashemu.Attempt {
		return []qstashemu.Attempt{qstashemu.OK()}
	})
	if err := e.go_.Schedules().Pause(id); err != nil {
		t.Fatal(err)
	}
	f := only(t, e.audit(), id)
	if f.Kind != schedules.KindPausedTooLong || !strings.Contains(f.Summary, "paused for 21 days") {
		t.Fatalf("finding = %s: %s", f.Kind, f.Summary)
	}
	if f.Cost.MessagesUpperMonth != 0 || f.Cost.Triggers30d != 5 {
		t.Errorf("cost of a paused schedule = %+v, want 5 observed triggers and nothing ahead", f.Cost)
	}
	if got := findings(e.audit(schedules.WithThresholds(schedules.Thresholds{PausedFor: 30 * 24 * time.Hour})), id); len(got) != 0 {
		t.Errorf("PausedFor 30 days: findings = %+v", got)
	}
}

func TestNeverSucceeded(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-2*24*time.Hour), "https://api.example.com/new", "0 12 * * *", 0, "")
	e.fire(id, now.Add(-24*time.Hour), now.Add(-24*time.Hour), time.Hour, func(time.Time) []qstashemu.Attempt {
		return []qstashemu.Attempt{qstashemu.Fail(400, "missing field tenant")}
	})
	f := only(t, e.audit(), id)
	if f.Kind != schedules.KindNeverSucceeded || f.LastStatus != 400 {
		t.Fatalf("finding = %s %d, want never_succeeded 400", f.Kind, f.LastStatus)
	}
}

func TestHealthyScheduleHasNoFindings(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-90*24*time.Hour), "https://api.example.com/ok", "*/15 * * * *", 3, "")
	e.fire(id, now.Add(-2*24*time.Hour), now.Add(-time.Minute), 15*time.Minute, func(time.Time) []qstashemu.Attempt {
		return []qstashemu.Attempt{qstashemu.OK()}
	})
	before := e.emu.RequestCounts()["GET /v2/events"]
	r := e.audit()
	if len(r.Findings) != 0 {
		t.Errorf("findings = %+v", r.Findings)
	}
	// The audit stops reading once it has enough triggers and a success.
	if got := e.emu.RequestCounts()["GET /v2/events"] - before; got != 1 {
		t.Errorf("events requests = %d, want 1", got)
	}
}

func TestRateLimitMidPagination(t *testing.T) {
	e := newEnv(t)
	advanceWhileWaiting(t, e.clk)
	id := e.create(now.Add(-40*24*time.Hour), "https://api.example.com/jobs/report", "*/30 * * * *", 2, "")
	e.fire(id, now.Add(-5*24*time.Hour), now.Add(-30*time.Minute), 30*time.Minute, func(time.Time) []qstashemu.Attempt {
		return repeat(qstashemu.Fail(500, "boom"), 3)
	})
	// The first events page succeeds; the next two requests get 429.
	e.emu.InjectRateLimit("/v2/events", 1, 2, 2*time.Second)

	r := e.audit()
	f := only(t, r, id)
	if f.Kind != schedules.KindZombie {
		t.Fatalf("finding = %s, want zombie", f.Kind)
	}
	if len(r.Errors) != 0 {
		t.Errorf("errors = %+v", r.Errors)
	}
	if got := e.emu.RequestCounts()["GET /v2/events"]; got < 4 {
		t.Errorf("events requests = %d, want pages plus 2 rate-limited retries", got)
	}
}

func TestMalformedJSON(t *testing.T) {
	t.Run("schedule list", func(t *testing.T) {
		e := newEnv(t)
		e.create(now.Add(-time.Hour), "https://api.example.com/a", "0 * * * *", 0, "")
		e.emu.InjectFault(qstashemu.Fault{Method: "GET", Path: "/v2/schedules", Status: 200, Body: `[{"scheduleId":"scd_1","cron":"0 * *`})
		a, _ := schedules.New(e.qs, schedules.WithClock(e.clk))
		_, err := a.Audit(context.Background())
		if !errors.Is(err, schedules.ErrInvalidResponse) || !strings.Contains(err.Error(), "list schedules") {
			t.Fatalf("Audit error = %v, want a decode error naming the schedule list", err)
		}
	})
	t.Run("events of one schedule", func(t *testing.T) {
		e := newEnv(t)
		bad := e.create(now.Add(-time.Hour), "https://api.example.com/a", "0 * * * *", 0, "")
		e.emu.InjectFault(qstashemu.Fault{Method: "GET", Path: "/v2/events", Status: 200, Body: `{"events":[{"time":17`})
		r := e.audit(schedules.WithConcurrency(1))
		if len(r.Errors) != 1 || r.Errors[0].ScheduleID != bad || !strings.Contains(r.Errors[0].Err, "invalid JSON") {
			t.Fatalf("errors = %+v", r.Errors)
		}
	})
}

func TestEmptyTokenIsError(t *testing.T) {
	decoy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request reached the QSTASH_URL server: %s", r.URL)
	}))
	defer decoy.Close()
	t.Setenv("QSTASH_URL", decoy.URL)

	q, err := schedules.NewQStash("http://127.0.0.1:1", "")
	if !errors.Is(err, schedules.ErrMissingToken) || q != nil {
		t.Fatalf("NewQStash with an empty token = %v, %v; want ErrMissingToken", q, err)
	}
}

func TestQStashURLEnvIgnoredByAudit(t *testing.T) {
	e := newEnv(t)
	decoy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request reached the QSTASH_URL server: %s", r.URL)
	}))
	defer decoy.Close()
	t.Setenv("QSTASH_URL", decoy.URL+"/v2-elsewhere")
	id := e.create(now.Add(-time.Hour), "https://api.example.com/a", "0 * * * *", 0, "")
	_ = e.audit()
	ex, _ := schedules.NewExecutor(e.qs, schedules.Policy{Pause: schedules.ModeAutonomous})
	if res := ex.Do(context.Background(), schedules.ActionRequest{Action: schedules.ActionPause, ScheduleID: id}); res.Outcome != schedules.OutcomeDone {
		t.Errorf("pause = %s", res)
	}
}

func TestSecretsStayOutOfReportsAndLogs(t *testing.T) {
	const token = "eyJVc2VySUQiOiJzZWNyZXQtdG9rZW4tMTIzNDUifQ=="
	emu := qstashemu.StartT(t, qstashemu.WithToken(token))
	qs, err := schedules.NewQStash(emu.URL(), token)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := emu.AddSchedule(qstashemu.Schedule{Cron: "0 * * * *", Destination: "https://api.example.com/a"})
	emu.InjectFault(qstashemu.Fault{Path: "/v2/events", Status: 500, Times: 100})

	var logs bytes.Buffer
	a, _ := schedules.New(qs, schedules.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	r, err := a.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Errors) != 1 || r.Errors[0].ScheduleID != id {
		t.Fatalf("errors = %+v", r.Errors)
	}
	var out bytes.Buffer
	_ = r.WriteText(&out)
	_ = r.WriteMarkdown(&out)
	_ = r.WriteJSON(&out)
	for name, text := range map[string]string{"report": out.String(), "log": logs.String()} {
		if strings.Contains(text, token) || strings.Contains(text, "Bearer") {
			t.Errorf("%s reveals the token:\n%s", name, text)
		}
	}

	bad, _ := schedules.NewQStash(emu.URL(), "wrong-"+token)
	_, err = bad.ListSchedules(context.Background())
	var apiErr *schedules.APIError
	if !errors.Is(err, schedules.ErrUnauthorized) || !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Errorf("error = %v, want a 401 *APIError", err)
	}
	if err != nil && strings.Contains(err.Error(), token) {
		t.Errorf("unauthorized error reveals the token: %v", err)
	}
}

func TestStaleCodeWithFSIndex(t *testing.T) {
	root := t.TempDir()
	mustWrite := func(rel, text string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite("cmd/api/main.go", `mux.HandleFunc("POST /api/cron/sync", sync)`)
	mustWrite("web/app/api/reports/route.ts", `export async function POST() {}`)
	mustWrite("node_modules/x/index.js", `"/api/cron/legacy"`)

	e := newEnv(t)
	served := e.create(now.Add(-time.Hour), "https://api.example.com/api/cron/sync", "0 * * * *", 0, "")
	routed := e.create(now.Add(-time.Hour), "https://web.example.com/api/reports", "0 * * * *", 0, "")
	stale := e.create(now.Add(-time.Hour), "https://api.example.com/api/cron/legacy", "0 * * * *", 0, "")

	r := e.audit(schedules.WithCodeIndex(schedules.NewFSIndex(root)))
	if fs := findings(r, served); len(fs) != 0 {
		t.Errorf("served route flagged: %+v", fs)
	}
	if fs := findings(r, routed); len(fs) != 0 {
		t.Errorf("file-routed path flagged: %+v", fs)
	}
	if f := only(t, r, stale); f.Kind != schedules.KindStaleCode || !strings.Contains(f.Summary, "/api/cron/legacy") {
		t.Errorf("stale finding = %s: %s", f.Kind, f.Summary)
	}
}

func TestWithoutRules(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-40*24*time.Hour), "https://api.example.com/z", "0 * * * *", 0, "")
	e.fire(id, now.Add(-10*time.Hour), now.Add(-time.Hour), time.Hour, func(time.Time) []qstashemu.Attempt {
		return []qstashemu.Attempt{qstashemu.Fail(500, "x")}
	})
	r := e.audit(schedules.WithoutRules(schedules.KindZombie, schedules.KindDeadLetters))
	if fs := findings(r, id); len(fs) != 0 {
		t.Errorf("findings with zombie and DLQ rules off = %+v", fs)
	}
}

func TestPersistentConnectionRefusedIsGone(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-10*24*time.Hour), "https://10.1.2.3/cron", "*/10 * * * *", 0, "")
	e.fire(id, now.Add(-30*time.Minute), now.Add(-10*time.Minute), 10*time.Minute, func(time.Time) []qstashemu.Attempt {
		return []qstashemu.Attempt{qstashemu.TransportError("dial tcp 10.1.2.3:443: connect: connection refused")}
	})
	if f := only(t, e.audit(), id); f.Kind != schedules.KindEndpointGone {
		t.Errorf("finding = %s, want endpoint_gone", f.Kind)
	}

	// One success among the refusals means the endpoint is still there.
	_, _ = e.emu.Trigger(id, now.Add(-5*time.Minute), qstashemu.OK())
	if f := only(t, e.audit(), id); f.Kind != schedules.KindDegraded || f.Failures != 3 || f.Checked != 4 {
		t.Errorf("finding after a success = %s %d/%d, want degraded 3/4", f.Kind, f.Failures, f.Checked)
	}
}

func TestDeadLettersOfUnknownScheduleIgnored(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.emu.AddDLQ(qstashemu.DLQEntry{ScheduleID: "deleted-long-ago", MessageID: fmt.Sprint("m", i), CreatedAt: now.Add(-time.Hour)})
	}
	if r := e.audit(); len(r.Findings) != 0 {
		t.Errorf("findings = %+v", r.Findings)
	}
}
