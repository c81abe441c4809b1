package schedules_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	qstashgo "github.com/upstash/qstash-go"

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

func TestPausedCostCountsTriggersBeforePause(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-40*24*time.Hour), "https://api.example.com/jobs/hourly", "0 * * * *", 2, "")
	// Hourly deliveries that all succeeded, until the pause 20 days ago.
	e.fire(id, now.Add(-30*24*time.Hour+time.Hour), now.Add(-20*24*time.Hour), time.Hour, func(time.Time) []qstashemu.Attempt {
		return []qstashemu.Attempt{qstashemu.OK()}
	})
	if err := e.qs.Pause(context.Background(), id); err != nil {
		t.Fatal(err)
	}

	f := only(t, e.audit(), id)
	if f.Kind != schedules.KindPausedTooLong {
		t.Fatalf("finding = %s, want paused_too_long", f.Kind)
	}
	// 10 days of hourly triggers inside the last 30 days.
	if f.Cost.Triggers30d != 240 || f.Cost.MessagesLower30d != 240 {
		t.Errorf("triggers in 30 days = %d (lower %d), want 240", f.Cost.Triggers30d, f.Cost.MessagesLower30d)
	}
	if f.Cost.MessagesUpper30d != 720 {
		t.Errorf("upper messages in 30 days = %d, want 720 (240 triggers x 3 attempts)", f.Cost.MessagesUpper30d)
	}
}

// cyclingEvents serves /v2/events pages whose cursors go a, b, a, b... with
// no events, and ends the cycle after 50 requests so a failing test stops.
func cyclingEvents(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case n >= 50:
			_, _ = w.Write([]byte(`{"events":[]}`))
		case r.URL.Query().Get("cursor") == "a":
			_, _ = w.Write([]byte(`{"cursor":"b","events":[]}`))
		default:
			_, _ = w.Write([]byte(`{"cursor":"a","events":[]}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &requests
}

func TestEachEventStopsOnCursorCycle(t *testing.T) {
	srv, requests := cyclingEvents(t)
	qs, err := schedules.NewQStash(srv.URL, "token")
	if err != nil {
		t.Fatal(err)
	}
	err = qs.EachEvent(context.Background(), "scd_1", time.Time{}, func(schedules.Event) bool { return true })
	if !errors.Is(err, schedules.ErrCursorRepeated) {
		t.Errorf("EachEvent over a cursor cycle: error = %v, want ErrCursorRepeated", err)
	}
	if n := requests.Load(); n > 3 {
		t.Errorf("EachEvent sent %d requests over a two-cursor cycle, want at most 3", n)
	}
}

func TestDuplicatesNeedSameHeaders(t *testing.T) {
	e := newEnv(t)
	create := func(at time.Time, tenant string) string {
		t.Helper()
		e.clk.Set(at)
		defer e.clk.Set(now)
		id, err := e.go_.Schedules().Create(qstashgo.ScheduleOptions{
			Destination: "https://api.example.com/tenant/sync", Cron: "0 * * * *", Body: `{}`,
			Headers: map[string]string{"X-Tenant": tenant},
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	first := create(now.Add(-3*time.Hour), "acme")
	second := create(now.Add(-2*time.Hour), "globex")
	copyOfFirst := create(now.Add(-time.Hour), "acme")

	r := e.audit()
	if fs := findings(r, second); len(fs) != 0 {
		t.Errorf("schedule with another forwarded header flagged: %s: %s", fs[0].Kind, fs[0].Summary)
	}
	if f := only(t, r, copyOfFirst); f.Kind != schedules.KindDuplicate || f.DuplicateOf != first {
		t.Errorf("copy of the first schedule = %s of %q, want duplicate of %s", f.Kind, f.DuplicateOf, first)
	}
}

func TestDestinationSecretsRedacted(t *testing.T) {
	const (
		password = "s3cr3t-pass"
		token    = "tok-8f2a9c"
	)
	destination := "https://hook:" + password + "@api.example.com/jobs/sync?token=" + token + "&job=daily"
	e := newEnv(t)
	zombie := e.create(now.Add(-40*24*time.Hour), destination, "0 * * * *", 0, "")
	e.fire(zombie, now.Add(-10*time.Hour), now.Add(-time.Hour), time.Hour, func(time.Time) []qstashemu.Attempt {
		return []qstashemu.Attempt{qstashemu.Fail(500, "boom")}
	})
	gone := e.create(now.Add(-40*24*time.Hour), destination+"&copy=2", "30 * * * *", 0, "")
	e.fire(gone, now.Add(-3*time.Hour+30*time.Minute), now.Add(-30*time.Minute), time.Hour, func(time.Time) []qstashemu.Attempt {
		return []qstashemu.Attempt{qstashemu.TransportError(`Post "` + destination + `&copy=2": dial tcp: lookup api.example.com: no such host`)}
	})

	var logs strings.Builder
	a, err := schedules.New(e.qs, schedules.WithClock(e.clk), schedules.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) < 2 {
		t.Fatalf("findings = %+v, want zombie and endpoint gone", r.Findings)
	}
	var out bytes.Buffer
	_ = r.WriteText(&out)
	_ = r.WriteMarkdown(&out)
	_ = r.WriteJSON(&out)
	for name, text := range map[string]string{"report": out.String(), "log": logs.String()} {
		for _, secret := range []string{password, token} {
			if strings.Contains(text, secret) {
				t.Errorf("%s reveals %q from the destination URL", name, secret)
			}
		}
	}
	if !strings.Contains(out.String(), "api.example.com/jobs/sync") || !strings.Contains(out.String(), "job=daily") {
		t.Errorf("report lost the destination's host, path or harmless query:\n%s", out.String())
	}
}

func TestPausedZombieNotRecommendedPause(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-40*24*time.Hour), "https://api.example.com/jobs/paused", "0 * * * *", 0, "")
	e.fire(id, now.Add(-12*time.Hour), now.Add(-3*time.Hour), time.Hour, func(time.Time) []qstashemu.Attempt {
		return []qstashemu.Attempt{qstashemu.Fail(500, "boom")}
	})
	if err := e.qs.Pause(context.Background(), id); err != nil {
		t.Fatal(err)
	}

	r := e.audit()
	f := only(t, r, id)
	if f.Kind != schedules.KindZombie {
		t.Fatalf("finding = %s, want zombie", f.Kind)
	}
	if f.Recommendation == schedules.ActionPause {
		t.Errorf("paused schedule recommended for pause")
	}
	if strings.Contains(f.Summary, "Recommendation: pause") {
		t.Errorf("summary tells to pause a paused schedule: %s", f.Summary)
	}
	ex := e.executor(schedules.Policy{Pause: schedules.ModeAutonomous, MaxActionsPerRun: 1})
	if res := ex.Apply(context.Background(), r); len(res) != 0 {
		t.Errorf("Apply on a paused zombie = %v, want no action", res)
	}
}

func TestDuplicatesKeepActiveOverPaused(t *testing.T) {
	e := newEnv(t)
	old := e.create(now.Add(-3*time.Hour), "https://api.example.com/digest", "0 8 * * *", 0, `{"kind":"daily"}`)
	if err := e.qs.Pause(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	replacement := e.create(now.Add(-2*time.Hour), "https://api.example.com/digest", "0 8 * * *", 0, `{"kind":"daily"}`)

	r := e.audit()
	if fs := findings(r, replacement); len(fs) != 0 {
		t.Errorf("the only active copy is flagged: %s: %s", fs[0].Kind, fs[0].Summary)
	}
	if f := only(t, r, old); f.Kind != schedules.KindDuplicate || f.DuplicateOf != replacement {
		t.Errorf("paused copy = %s of %q, want duplicate of the active %s", f.Kind, f.DuplicateOf, replacement)
	}
}

func TestApplyFallsBackWhenFirstActionOff(t *testing.T) {
	e := newEnv(t)
	id := e.gone("https://api.example.com/api/cron/legacy")
	// An empty source tree serves no route, so the schedule also gets a
	// stale-code finding, which recommends a pause.
	r := e.audit(schedules.WithCodeIndex(schedules.NewFSIndex(t.TempDir())))
	if fs := findings(r, id); len(fs) != 2 {
		t.Fatalf("findings = %+v, want endpoint_gone and stale_code", fs)
	}

	ex := e.executor(schedules.Policy{Delete: schedules.ModeOff, Pause: schedules.ModeAutonomous})
	res := ex.Apply(context.Background(), r)
	if len(res) != 1 || res[0].Action != schedules.ActionPause || res[0].Outcome != schedules.OutcomeDone {
		t.Errorf("Apply with delete off = %v, want the pause of the stale-code finding done", res)
	}
}

func TestDegradedAtHalfSaysHalf(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-40*24*time.Hour), "https://api.example.com/jobs/half", "0 * * * *", 0, "")
	i := 0
	e.fire(id, now.Add(-10*time.Hour), now.Add(-time.Hour), time.Hour, func(time.Time) []qstashemu.Attempt {
		i++
		if i%2 == 0 {
			return []qstashemu.Attempt{qstashemu.OK()}
		}
		return []qstashemu.Attempt{qstashemu.Fail(500, "boom")}
	})
	f := only(t, e.audit(schedules.WithoutRules(schedules.KindDeadLetters)), id)
	if f.Kind != schedules.KindDegraded || f.Failures != 5 || f.Checked != 10 {
		t.Fatalf("finding = %s %d/%d, want degraded 5/10", f.Kind, f.Failures, f.Checked)
	}
	if strings.Contains(f.Summary, "most recent triggers failed") {
		t.Errorf("summary claims most triggers failed for 5 of 10: %s", f.Summary)
	}
}
