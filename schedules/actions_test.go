package schedules_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/qstashemu"
	"github.com/upstash-ops/sdk/schedules"
)

// zombie creates a schedule whose last ten triggers failed with 500.
func (e *env) zombie(destination string) string {
	e.t.Helper()
	id := e.create(now.Add(-40*24*time.Hour), destination, "0 * * * *", 2, "")
	e.fire(id, now.Add(-10*time.Hour), now.Add(-time.Hour), time.Hour, func(time.Time) []qstashemu.Attempt {
		return repeat(qstashemu.Fail(500, "boom"), 3)
	})
	return id
}

// gone creates a schedule whose last three triggers failed with 404.
func (e *env) gone(destination string) string {
	e.t.Helper()
	id := e.create(now.Add(-40*24*time.Hour), destination, "0 * * * *", 0, "")
	e.fire(id, now.Add(-3*time.Hour), now.Add(-time.Hour), time.Hour, func(time.Time) []qstashemu.Attempt {
		return []qstashemu.Attempt{qstashemu.Fail(404, "not found")}
	})
	return id
}

type trail struct {
	mu      sync.Mutex
	entries []schedules.AuditEntry
}

func (tr *trail) hook(_ context.Context, e schedules.AuditEntry) error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.entries = append(tr.entries, e)
	return nil
}

func (e *env) executor(p schedules.Policy, opts ...schedules.ExecutorOption) *schedules.Executor {
	e.t.Helper()
	ex, err := schedules.NewExecutor(e.qs, p, append([]schedules.ExecutorOption{schedules.WithExecutorClock(e.clk)}, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	return ex
}

func TestDryRunByDefault(t *testing.T) {
	e := newEnv(t)
	id := e.zombie("https://api.example.com/a")
	r := e.audit()
	var tr trail
	res := e.executor(schedules.Policy{}, schedules.WithAuditHook(tr.hook)).Apply(context.Background(), r)
	if len(res) != 1 || res[0].Outcome != schedules.OutcomeDryRun || res[0].Action != schedules.ActionPause {
		t.Fatalf("results = %v, want one dry-run pause", res)
	}
	if sc, _ := e.emu.Schedule(id); sc.Paused {
		t.Errorf("dry run paused the schedule")
	}
	if len(tr.entries) != 0 {
		t.Errorf("dry run wrote %d audit entries", len(tr.entries))
	}
	if len(r.Actions) != 1 {
		t.Errorf("report.Actions = %v", r.Actions)
	}
}

func TestAutonomousPauseCancelsInFlight(t *testing.T) {
	e := newEnv(t)
	id := e.zombie("https://api.example.com/a")
	inFlight, _ := e.emu.Trigger(id, now.Add(-10*time.Minute), qstashemu.Fail(500, "boom"))

	var tr trail
	ex := e.executor(schedules.Policy{Pause: schedules.ModeAutonomous}, schedules.WithAuditHook(tr.hook), schedules.WithActor("nightly-job"))
	report := e.audit()
	res := ex.Apply(context.Background(), report)
	if len(res) != 1 || res[0].Outcome != schedules.OutcomeDone || res[0].Canceled != 1 {
		t.Fatalf("results = %v, want pause done with 1 canceled", res)
	}
	if sc, _ := e.emu.Schedule(id); !sc.Paused {
		t.Errorf("schedule not paused")
	}
	if got := e.emu.InFlight(id); len(got) != 0 {
		t.Errorf("in flight after pause = %v, want %s canceled", got, inFlight)
	}

	if len(tr.entries) != 2 {
		t.Fatalf("audit entries = %d, want before and after", len(tr.entries))
	}
	before, after := tr.entries[0], tr.entries[1]
	if before.Phase != "before" || !before.Before.Exists || before.Before.Paused || before.Actor != "nightly-job" || before.Approved {
		t.Errorf("before entry = %+v", before)
	}
	if after.Phase != "after" || !after.After.Paused || after.Outcome != schedules.OutcomeDone || after.Request.Reason == "" {
		t.Errorf("after entry = %+v", after)
	}

	// Acting again on the same report is harmless, and a new audit of the
	// paused schedule recommends no further pause.
	res = ex.Apply(context.Background(), report)
	if len(res) != 1 || res[0].Outcome != schedules.OutcomeAlreadyDone {
		t.Errorf("second Apply = %v, want already-done", res)
	}
	if res = ex.Apply(context.Background(), e.audit()); len(res) != 0 {
		t.Errorf("Apply after a new audit = %v, want no action", res)
	}
}

func TestDeleteNeedsExplicitAutonomy(t *testing.T) {
	e := newEnv(t)
	id := e.gone("https://preview.example.com/api/cron")

	var asked []schedules.ActionRequest
	deny := schedules.ApproverFunc(func(_ context.Context, req schedules.ActionRequest) (bool, error) {
		asked = append(asked, req)
		return false, nil
	})
	res := e.executor(schedules.Policy{Delete: schedules.ModeAutonomous}, schedules.WithApprover(deny)).Apply(context.Background(), e.audit())
	if len(asked) != 1 || asked[0].Action != schedules.ActionDelete || asked[0].Kind != schedules.KindEndpointGone {
		t.Fatalf("approver asked %v, want one delete", asked)
	}
	if res[0].Outcome != schedules.OutcomeDenied || res[0].Mode != schedules.ModeApproval {
		t.Errorf("result = %s, want denied under approval", res[0])
	}
	if _, ok := e.emu.Schedule(id); !ok {
		t.Fatalf("schedule deleted without approval")
	}

	ex := e.executor(schedules.Policy{Delete: schedules.ModeAutonomous, AllowAutonomousDelete: true})
	if res := ex.Apply(context.Background(), e.audit()); res[0].Outcome != schedules.OutcomeDone {
		t.Fatalf("explicit autonomous delete = %s", res[0])
	}
	if _, ok := e.emu.Schedule(id); ok {
		t.Errorf("schedule still exists")
	}
	// Deleting a deleted schedule is harmless.
	res = []schedules.ActionResult{ex.Do(context.Background(), schedules.ActionRequest{Action: schedules.ActionDelete, ScheduleID: id})}
	if res[0].Outcome != schedules.OutcomeAlreadyDone {
		t.Errorf("second delete = %s, want already-done", res[0])
	}
}

func TestApprovalApproves(t *testing.T) {
	e := newEnv(t)
	id := e.gone("https://preview.example.com/api/cron")
	approve := schedules.ApproverFunc(func(context.Context, schedules.ActionRequest) (bool, error) { return true, nil })
	var tr trail
	ex := e.executor(schedules.Policy{Delete: schedules.ModeApproval}, schedules.WithApprover(approve), schedules.WithAuditHook(tr.hook))
	res := ex.Apply(context.Background(), e.audit())
	if res[0].Outcome != schedules.OutcomeDone {
		t.Fatalf("result = %s", res[0])
	}
	if len(tr.entries) != 2 || !tr.entries[0].Approved || tr.entries[1].After.Exists {
		t.Errorf("audit entries = %+v, want approved before and a gone schedule after", tr.entries)
	}
	if _, ok := e.emu.Schedule(id); ok {
		t.Errorf("approved delete did not delete")
	}
}

func TestApprovalWithoutApproverDenies(t *testing.T) {
	e := newEnv(t)
	e.zombie("https://api.example.com/a")
	res := e.executor(schedules.Policy{Pause: schedules.ModeApproval}).Apply(context.Background(), e.audit())
	if res[0].Outcome != schedules.OutcomeDenied {
		t.Errorf("result = %s, want denied", res[0])
	}
}

func TestActionLimitPerRun(t *testing.T) {
	e := newEnv(t)
	for _, d := range []string{"https://a.example.com/x", "https://b.example.com/x", "https://c.example.com/x"} {
		e.zombie(d)
	}
	res := e.executor(schedules.Policy{Pause: schedules.ModeAutonomous, MaxActionsPerRun: 2}).Apply(context.Background(), e.audit())
	var done, limited int
	for _, r := range res {
		switch r.Outcome {
		case schedules.OutcomeDone:
			done++
		case schedules.OutcomeLimited:
			limited++
		}
	}
	if done != 2 || limited != 1 {
		t.Errorf("done %d, limited %d; want 2 and 1: %v", done, limited, res)
	}
}

func TestPolicyOffSkips(t *testing.T) {
	e := newEnv(t)
	id := e.zombie("https://api.example.com/a")
	res := e.executor(schedules.Policy{Pause: schedules.ModeOff}).Apply(context.Background(), e.audit())
	if len(res) != 0 {
		t.Errorf("results = %v, want none", res)
	}
	if sc, _ := e.emu.Schedule(id); sc.Paused {
		t.Errorf("paused despite policy off")
	}
}

func TestAuditHookErrorBlocksAction(t *testing.T) {
	e := newEnv(t)
	id := e.zombie("https://api.example.com/a")
	failing := func(context.Context, schedules.AuditEntry) error { return errors.New("trail unavailable") }
	res := e.executor(schedules.Policy{Pause: schedules.ModeAutonomous}, schedules.WithAuditHook(failing)).Apply(context.Background(), e.audit())
	if res[0].Outcome != schedules.OutcomeFailed {
		t.Fatalf("result = %s, want failed", res[0])
	}
	if sc, _ := e.emu.Schedule(id); sc.Paused {
		t.Errorf("acted although the audit trail rejected the entry")
	}
}

func TestResumeDirectly(t *testing.T) {
	e := newEnv(t)
	id := e.create(now.Add(-time.Hour), "https://api.example.com/a", "0 * * * *", 0, "")
	if err := e.go_.Schedules().Pause(id); err != nil {
		t.Fatal(err)
	}
	req := schedules.ActionRequest{Action: schedules.ActionResume, ScheduleID: id, Reason: "endpoint fixed"}
	if res := e.executor(schedules.Policy{}).Do(context.Background(), req); res.Outcome != schedules.OutcomeDryRun {
		t.Errorf("default resume = %s, want dry-run", res)
	}
	ex := e.executor(schedules.Policy{Resume: schedules.ModeAutonomous})
	if res := ex.Do(context.Background(), req); res.Outcome != schedules.OutcomeDone {
		t.Fatalf("resume = %s", res)
	}
	if sc, _ := e.emu.Schedule(id); sc.Paused {
		t.Errorf("still paused")
	}
	if res := ex.Do(context.Background(), req); res.Outcome != schedules.OutcomeAlreadyDone {
		t.Errorf("second resume = %s, want already-done", res)
	}
}
