package upstashops

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingExecutor records the targets it ran.
type countingExecutor struct {
	mu      sync.Mutex
	targets []string
	err     error
}

func (e *countingExecutor) Execute(_ context.Context, a Action) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.targets = append(e.targets, a.Target)
	return e.err
}

func (e *countingExecutor) ran() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.targets...)
}

func zombie(id string) Finding {
	f := finding("schedule.zombie", id, Warning)
	f.Actions = []Action{
		{Class: ActionPauseSchedule, Target: id, Description: "pause schedule " + id},
		{Class: ActionDeleteSchedule, Target: id, Description: "delete schedule " + id},
	}
	return f
}

func auditEvents(t *testing.T, op *Operator) []string {
	t.Helper()
	entries, err := op.Audit(ctxT(t), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(entries) - 1; i >= 0; i-- { // oldest first
		out = append(out, string(entries[i].Event)+":"+string(entries[i].Class)+":"+entries[i].Target)
	}
	return out
}

func runJob(t *testing.T, op *Operator, name JobName) {
	t.Helper()
	if _, err := op.RunOnce(ctxT(t), name); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyFor(t *testing.T) {
	p := Policy{Default: Autonomous}
	if got := p.For(ActionDeleteSchedule); got != RequireApproval {
		t.Errorf("autonomous delete without opt-in = %v, want approval", got)
	}
	p.AllowAutonomousDelete = true
	if got := p.For(ActionDeleteSchedule); got != Autonomous {
		t.Errorf("autonomous delete with opt-in = %v", got)
	}
	q := ObserveOnly.With(ActionPauseSchedule, DryRun)
	if q.For(ActionPauseSchedule) != DryRun || q.For(ActionTTLFloor) != Recommend || ObserveOnly.Classes != nil {
		t.Errorf("With changed the wrong classes or the original: %+v %+v", q, ObserveOnly)
	}
	if _, err := New(WithPolicy(Policy{Default: RequireApproval})); err == nil || !strings.Contains(err.Error(), "WithRedis") {
		t.Errorf("approval policy without Redis: err = %v", err)
	}
	if _, err := New(WithPolicy(Policy{Default: Autonomy(42)})); err == nil {
		t.Error("invalid autonomy accepted")
	}
}

func TestObserveOnlyRecommendsOnce(t *testing.T) {
	exec := &countingExecutor{}
	job := &findingsJob{name: "s"}
	op := newTestOperator(t, WithJob(job), WithExecutor(ActionPauseSchedule, exec), WithExecutor(ActionDeleteSchedule, exec))
	job.set(zombie("scd_1"))
	runJob(t, op, "s")
	runJob(t, op, "s")
	if got := exec.ran(); len(got) != 0 {
		t.Errorf("observe-only ran actions on %v", got)
	}
	want := []string{"recommended:pause_schedule:scd_1", "recommended:delete_schedule:scd_1"}
	if got := auditEvents(t, op); !equalStrings(got, want) {
		t.Errorf("audit = %v, want %v", got, want)
	}
}

func TestOffAndDryRun(t *testing.T) {
	exec := &countingExecutor{}
	job := &findingsJob{name: "s"}
	p := ObserveOnly.With(ActionPauseSchedule, DryRun).With(ActionDeleteSchedule, Off)
	op := newTestOperator(t, WithJob(job), WithPolicy(p), WithExecutor(ActionPauseSchedule, exec))
	job.set(zombie("scd_1"))
	runJob(t, op, "s")
	if got := exec.ran(); len(got) != 0 {
		t.Errorf("dry run executed %v", got)
	}
	if got, want := auditEvents(t, op), []string{"dry_run:pause_schedule:scd_1"}; !equalStrings(got, want) {
		t.Errorf("audit = %v, want %v", got, want)
	}
	entries, _ := op.Audit(ctxT(t), 1)
	if !strings.HasPrefix(entries[0].Detail, "would run: pause schedule scd_1") {
		t.Errorf("dry-run detail = %q", entries[0].Detail)
	}
}

func TestAutonomousWithCaps(t *testing.T) {
	rdb, prefix := testRedis(t)
	exec := &countingExecutor{}
	job := &findingsJob{name: "s"}
	p := Policy{Classes: map[ActionClass]Autonomy{ActionPauseSchedule: Autonomous}, MaxPerRun: 2, MaxPerDay: 3}
	op := newTestOperator(t, WithRedis(rdb), prefix, WithClock(fakeClock()), WithJob(job), WithPolicy(p), WithExecutor(ActionPauseSchedule, exec))
	job.set(zombie("a"), zombie("b"), zombie("c"), zombie("d"))
	runJob(t, op, "s")
	if got := exec.ran(); !equalStrings(got, []string{"a", "b"}) {
		t.Fatalf("first run executed %v, want the per-run cap of 2", got)
	}
	runJob(t, op, "s")
	if got := exec.ran(); !equalStrings(got, []string{"a", "b", "c"}) {
		t.Fatalf("second run executed %v, want c then the daily cap", got)
	}
	// A second instance shares the daily count through Redis.
	other := newTestOperator(t, WithRedis(rdb), prefix, WithClock(fakeClock()), WithJob(job), WithPolicy(p), WithExecutor(ActionPauseSchedule, exec))
	runJob(t, other, "s")
	if got := exec.ran(); len(got) != 3 {
		t.Errorf("another instance executed past the daily cap: %v", got)
	}
	var skipped, executed int
	for _, e := range auditEvents(t, op) {
		switch {
		case strings.HasPrefix(e, "skipped:pause_schedule"):
			skipped++
		case strings.HasPrefix(e, "executed:"):
			executed++
		}
	}
	if executed != 3 || skipped == 0 {
		t.Errorf("audit has %d executed and %d skipped entries", executed, skipped)
	}
}

func TestAutonomousFailureAudited(t *testing.T) {
	exec := &countingExecutor{err: errors.New("schedule scd_1 not found")}
	job := &findingsJob{name: "s"}
	op := newTestOperator(t, WithJob(job), WithPolicy(ObserveOnly.With(ActionPauseSchedule, Autonomous)), WithExecutor(ActionPauseSchedule, exec))
	job.set(zombie("scd_1"))
	runJob(t, op, "s")
	runJob(t, op, "s") // a failed action is not retried while the finding stays open
	want := []string{"executing:pause_schedule:scd_1", "failed:pause_schedule:scd_1", "recommended:delete_schedule:scd_1"}
	if got := auditEvents(t, op); !equalStrings(got, want) {
		t.Errorf("audit = %v, want %v", got, want)
	}
	if len(exec.ran()) != 1 {
		t.Errorf("executor called %d times", len(exec.ran()))
	}
}

func TestMissingExecutorSkipped(t *testing.T) {
	job := &findingsJob{name: "s"}
	op := newTestOperator(t, WithJob(job), WithPolicy(ObserveOnly.With(ActionPauseSchedule, Autonomous)))
	job.set(zombie("scd_1"))
	runJob(t, op, "s")
	entries, _ := op.Audit(ctxT(t), 10)
	if len(entries) == 0 || entries[len(entries)-1].Event != AuditSkipped || !strings.Contains(entries[len(entries)-1].Detail, "no executor") {
		t.Errorf("audit = %+v", entries)
	}
}

func TestApprovalFlow(t *testing.T) {
	rdb, prefix := testRedis(t)
	clk := fakeClock()
	exec := &countingExecutor{}
	chat := &recorder{}
	job := &findingsJob{name: "s"}
	op := newTestOperator(t, WithRedis(rdb), prefix, WithClock(clk), WithJob(job),
		WithPolicy(Policy{Default: Autonomous}), // delete falls back to approval
		WithExecutor(ActionPauseSchedule, exec), WithExecutor(ActionDeleteSchedule, exec),
		WithNotifier(chat, Routes(RouteChat)), WithBaseURL("https://app.example.test/ops"), WithApprovalTTL(time.Hour))
	job.set(zombie("scd_1"))
	runJob(t, op, "s")
	runJob(t, op, "s") // still pending: not requested twice
	flush(t, op)

	pending, err := op.Approvals(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].Action.Class != ActionDeleteSchedule {
		t.Fatalf("pending = %+v, want the delete", pending)
	}
	p := pending[0]
	if ttl := rdb.PTTL(ctxT(t), op.keys.approval(p.Action.ID)).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("pending action TTL in Redis = %s, want at most 1h", ttl)
	}
	if !strings.HasPrefix(p.ApproveURL, "https://app.example.test/ops/approval/") {
		t.Errorf("approve link = %q", p.ApproveURL)
	}
	var requests int
	for _, n := range chat.got {
		if n.Event == EventApprovalRequest {
			requests++
			if n.Approval.ApproveURL == "" {
				t.Error("approval request without a link")
			}
		}
	}
	if requests != 1 {
		t.Errorf("approval requests sent = %d, want 1", requests)
	}
	if got := exec.ran(); !equalStrings(got, []string{"scd_1"}) {
		t.Fatalf("before approval executed %v, want only the pause", got)
	}

	if err := op.Decide(ctxT(t), p.Action.ID, Approve, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := exec.ran(); !equalStrings(got, []string{"scd_1", "scd_1"}) {
		t.Errorf("after approval executed %v", got)
	}
	if err := op.Decide(ctxT(t), p.Action.ID, Approve, "bob"); !errors.Is(err, ErrApprovalNotFound) {
		t.Errorf("second decision: err = %v, want ErrApprovalNotFound", err)
	}
	want := []string{
		"executing:pause_schedule:scd_1", "executed:pause_schedule:scd_1",
		"approval_requested:delete_schedule:scd_1", "approved:delete_schedule:scd_1",
		"executing:delete_schedule:scd_1", "executed:delete_schedule:scd_1",
	}
	if got := auditEvents(t, op); !equalStrings(got, want) {
		t.Errorf("audit = %v\nwant %v", got, want)
	}
	entries, _ := op.Audit(ctxT(t), 3)
	if entries[2].Actor != "alice" {
		t.Errorf("approval actor = %q", entries[2].Actor)
	}
}

func TestApprovalRejectAndExpire(t *testing.T) {
	rdb, prefix := testRedis(t)
	clk := fakeClock()
	exec := &countingExecutor{}
	job := &findingsJob{name: "s"}
	op := newTestOperator(t, WithRedis(rdb), prefix, WithClock(clk), WithJob(job),
		WithPolicy(ObserveOnly.With(ActionDeleteSchedule, RequireApproval)), WithExecutor(ActionDeleteSchedule, exec), WithApprovalTTL(time.Hour))
	job.set(zombie("x"), zombie("y"))
	runJob(t, op, "s")
	pending, _ := op.Approvals(ctxT(t))
	if len(pending) != 2 {
		t.Fatalf("pending = %d, want 2", len(pending))
	}
	if err := op.Decide(ctxT(t), pending[0].Action.ID, Reject, "carol"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	// Redis still holds the key, as with clock skew between the
	// application and Redis: the Operator's clock decides.
	if err := op.Decide(ctxT(t), pending[1].Action.ID, Approve, "carol"); !errors.Is(err, ErrApprovalNotFound) {
		t.Errorf("Decide after expiry: err = %v, want ErrApprovalNotFound", err)
	}
	pending, err := op.Approvals(ctxT(t))
	if err != nil || len(pending) != 0 {
		t.Fatalf("after expiry pending = %v, %v", pending, err)
	}
	if got := exec.ran(); len(got) != 0 {
		t.Errorf("rejected or expired actions ran: %v", got)
	}
	events := strings.Join(auditEvents(t, op), " ")
	if !strings.Contains(events, "rejected:delete_schedule") || !strings.Contains(events, "expired:") {
		t.Errorf("audit = %s", events)
	}
}

func TestApprovalLinkSignature(t *testing.T) {
	rdb, prefix := testRedis(t)
	clk := fakeClock()
	op := newTestOperator(t, WithRedis(rdb), prefix, WithClock(clk), WithApprovalKey([]byte("k1")))
	exp := clk.Now().Add(time.Hour)
	link := op.approvalLink("act-1", Approve, exp)
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	sig := q.Get("sig")
	if err := op.verifyLink("act-1", Approve, exp.Unix(), sig); err != nil {
		t.Errorf("valid link rejected: %v", err)
	}
	for name, check := range map[string]error{
		"other action":   op.verifyLink("act-2", Approve, exp.Unix(), sig),
		"other decision": op.verifyLink("act-1", Reject, exp.Unix(), sig),
		"later expiry":   op.verifyLink("act-1", Approve, exp.Unix()+3600, sig),
	} {
		if !errors.Is(check, ErrInvalidSignature) {
			t.Errorf("%s: err = %v, want ErrInvalidSignature", name, check)
		}
	}
	other := newTestOperator(t, WithRedis(rdb), prefix, WithClock(clk), WithApprovalKey([]byte("k2")))
	if err := other.verifyLink("act-1", Approve, exp.Unix(), sig); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("link verified under another key: %v", err)
	}
	clk.Advance(2 * time.Hour)
	if err := op.verifyLink("act-1", Approve, exp.Unix(), sig); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("expired link: err = %v", err)
	}
}

func TestAuditStreamBounded(t *testing.T) {
	rdb, prefix := testRedis(t)
	op := newTestOperator(t, WithRedis(rdb), prefix, WithAuditMaxLen(50))
	for i := range 1000 {
		op.record(ctxT(t), AuditEntry{Event: AuditRecommended, Target: string(rune('a' + i%26))})
	}
	n, err := rdb.XLen(ctxT(t), op.keys.audit()).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Approximate trimming removes whole stream nodes of up to 100 entries
	// (stream-node-max-entries), so the length stays within one node of
	// the bound.
	if n < 50 || n > 150 {
		t.Errorf("stream length = %d, want 50..150", n)
	}
	mem := newTestOperator(t, WithAuditMaxLen(50))
	for range 1000 {
		mem.record(ctxT(t), AuditEntry{Event: AuditRecommended})
	}
	if got, _ := mem.Audit(ctxT(t), 1000); len(got) != 50 {
		t.Errorf("in-memory audit length = %d, want 50", len(got))
	}
}

func TestTemplateReasonerDeterministic(t *testing.T) {
	fs := []Finding{finding("k", "b", Warning), finding("k", "a", Critical), finding("k", "c", Info)}
	fs[0].SavingsUSD = 10
	fs[2].SavingsUSD = 2.5
	for i := range fs {
		fs[i].normalize("j", epoch)
	}
	got, err := TemplateReasoner{}.Narrate(context.Background(), fs)
	if err != nil {
		t.Fatal(err)
	}
	want := "3 open findings (1 critical, 1 warning, 1 info). Following the recommendations would save an estimated $12.50 per month. Most urgent: k on a; fix a."
	if got != want {
		t.Errorf("narrative =\n%q\nwant\n%q", got, want)
	}
	fs[0], fs[1] = fs[1], fs[0]
	if again, _ := (TemplateReasoner{}).Narrate(context.Background(), fs); again != got {
		t.Errorf("narrative depends on input order: %q", again)
	}
}

type failingReasoner struct{}

func (failingReasoner) Narrate(context.Context, []Finding) (string, error) {
	return "", errors.New("model unavailable")
}

func TestReasonerFallsBack(t *testing.T) {
	op := newTestOperator(t, WithReasoner(failingReasoner{}))
	got := op.Narrative(context.Background(), []Finding{finding("k", "a", Warning)})
	if !strings.HasPrefix(got, "1 open finding (1 warning).") {
		t.Errorf("narrative = %q", got)
	}
}

type recordingApprover struct {
	mu  sync.Mutex
	got []PendingApproval
}

func (a *recordingApprover) RequestApproval(_ context.Context, p PendingApproval) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, p)
	return nil
}

func TestCustomApprover(t *testing.T) {
	rdb, prefix := testRedis(t)
	approver := &recordingApprover{}
	chat := &recorder{}
	job := &findingsJob{name: "s"}
	op := newTestOperator(t, WithRedis(rdb), prefix, WithoutDefaultJobs(), WithJob(job), WithApprover(approver),
		WithNotifier(chat, Routes(RouteChat)), WithPolicy(ObserveOnly.With(ActionDeleteSchedule, RequireApproval)))
	job.set(zombie("scd_9"))
	runJob(t, op, "s")
	flush(t, op)
	if len(approver.got) != 1 || approver.got[0].Action.Target != "scd_9" || approver.got[0].ApproveURL == "" {
		t.Fatalf("approver got %+v", approver.got)
	}
	for _, n := range chat.got {
		if n.Event == EventApprovalRequest {
			t.Error("the built-in link approver also sent the request to chat")
		}
	}
}

func TestActionOnceAcrossInstances(t *testing.T) {
	_, prefix := testRedis(t)
	exec := &countingExecutor{}
	job := &findingsJob{name: "s"}
	newOp := func() *Operator {
		return newTestOperator(t, WithRedis(redisServer.Client(t)), prefix, WithoutDefaultJobs(), WithJob(job),
			WithPolicy(ObserveOnly.With(ActionPauseSchedule, Autonomous)), WithExecutor(ActionPauseSchedule, exec))
	}
	a, b := newOp(), newOp()
	job.set(zombie("scd_1"))
	runJob(t, a, "s")
	runJob(t, b, "s")
	if got := exec.ran(); len(got) != 1 {
		t.Errorf("executed %v, want one pause across both instances", got)
	}
	var recommended int
	for _, e := range auditEvents(t, a) {
		if strings.HasPrefix(e, "recommended:") {
			recommended++
		}
	}
	if recommended != 1 {
		t.Errorf("the delete was recommended %d times, want once", recommended)
	}
	// Once the finding clears, the same problem coming back is acted on again.
	job.set()
	runJob(t, b, "s")
	job.set(zombie("scd_1"))
	runJob(t, a, "s")
	if got := exec.ran(); len(got) != 2 {
		t.Errorf("after the finding came back executed %v, want a second pause", got)
	}
}

func TestDecideConcurrentlyRunsOnce(t *testing.T) {
	rdb, prefix := testRedis(t)
	exec := &countingExecutor{}
	job := &findingsJob{name: "s"}
	op := newTestOperator(t, WithRedis(rdb), prefix, WithJob(job),
		WithPolicy(ObserveOnly.With(ActionDeleteSchedule, RequireApproval)), WithExecutor(ActionDeleteSchedule, exec))
	job.set(zombie("x"))
	runJob(t, op, "s")
	pending, _ := op.Approvals(ctxT(t))
	if len(pending) != 1 {
		t.Fatalf("pending = %d, want 1", len(pending))
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() { errs <- op.Decide(ctxT(t), pending[0].Action.ID, Approve, "racer") }()
	}
	var ok, notFound int
	for range 8 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, ErrApprovalNotFound):
			notFound++
		default:
			t.Errorf("Decide: %v", err)
		}
	}
	if ok != 1 || notFound != 7 {
		t.Errorf("decisions: %d succeeded, %d not found; want 1 and 7", ok, notFound)
	}
	if got := exec.ran(); len(got) != 1 {
		t.Errorf("executions = %v, want one", got)
	}
}
