package upstashops

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	qstashgo "github.com/upstash/qstash-go"

	"github.com/upstash-ops/sdk/internal/qstashemu"
)

// workflowLogsPage returns a Workflow logs page with runs failures of one
// workflow, each failing its step with a 401: a configuration failure that
// retries never fix.
func workflowLogsPage(runs int, at time.Time) string {
	var items []string
	for i := range runs {
		ms := at.Add(time.Duration(i) * time.Minute).UnixMilli()
		items = append(items, fmt.Sprintf(`{"workflowRunId":"wfr_sync_%d","workflowUrl":"https://app.example.test/api/sync","workflowState":"RUN_FAILED",
"workflowRunCreatedAt":%d,"workflowRunCompletedAt":%d,"steps":[
{"type":"sequential","steps":[{"stepName":"init","stepType":"Initial","callType":"step","messageId":"m%d_0","out":"{}","concurrent":1,"state":"STEP_SUCCESS","createdAt":%d}]},
{"type":"next","steps":[{"messageId":"m%d_1","state":"STEP_FAILED","retries":3,"errors":[{"error":"unauthorized: invalid API key","status":401,"headers":{},"time":%d}]}]}]}`,
			i, ms, ms+500, i, ms, i, ms+400))
	}
	return `{"cursor":"","runs":[` + strings.Join(items, ",") + `]}`
}

type recordingPauser struct {
	mu     sync.Mutex
	paused []string
}

func (p *recordingPauser) Pause(_ context.Context, target, _ string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = append(p.paused, target)
	return nil
}

func (p *recordingPauser) Resume(context.Context, string) error { return nil }

func (p *recordingPauser) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.paused...)
}

// slackReceiver is an httptest Slack incoming webhook that keeps the
// fallback text of each message.
type slackReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	texts []string
}

func newSlackReceiver(t *testing.T) *slackReceiver {
	r := &slackReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var m struct {
			Text   string `json:"text"`
			Blocks []any  `json:"blocks"`
		}
		if err := json.NewDecoder(req.Body).Decode(&m); err != nil || len(m.Blocks) == 0 {
			http.Error(w, "invalid_blocks", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.texts = append(r.texts, m.Text)
		r.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *slackReceiver) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.texts...)
}

func countPrefix(msgs []string, prefix string) int {
	n := 0
	for _, m := range msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// TestEndToEnd runs the Operator with Run on an injected clock against a
// real redis-server, the QStash emulator and an httptest Slack webhook. A
// workload wastes commands with KEYS, a schedule's endpoint is gone, and a
// workflow fails with a 401 three runs in a row. The Operator must alert on
// each once and hold the schedule delete and the workflow pause for
// approval, even though the policy says deletes are autonomous, because
// AllowAutonomousDelete is not set. It runs them only after approval and
// records every step in the audit stream.
func TestEndToEnd(t *testing.T) {
	ctx := ctxT(t)
	clk := fakeClock()
	rdb, prefix := testRedis(t)
	emu := qstashemu.StartT(t, qstashemu.WithClock(clk))
	page := workflowLogsPage(3, clk.Now().Add(-10*time.Minute))
	emu.HandleFunc("GET /v2/workflows/logs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, page)
	})
	slack := newSlackReceiver(t)
	pauser := &recordingPauser{}

	// A schedule created three days ago through the real qstash-go client,
	// whose endpoint has answered 404 to every trigger for two days.
	t.Setenv("QSTASH_URL", "") // qstash-go would prefer it to Options.Url
	qc := qstashgo.NewClientWith(qstashgo.Options{Url: emu.URL(), Token: emu.Token(), Client: emu.Client()})
	clk.Set(epoch.Add(-72 * time.Hour))
	zombieID, err := qc.Schedules().Create(qstashgo.ScheduleOptions{Destination: "https://app.example.test/api/old-report", Cron: "0 * * * *", Retries: qstashgo.RetryCount(3), Body: "{}", ContentType: "application/json"})
	clk.Set(epoch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := emu.Trigger(zombieID, epoch.Add(-71*time.Hour), qstashemu.OK()); err != nil {
		t.Fatal(err)
	}
	for at := epoch.Add(-48 * time.Hour); at.Before(epoch); at = at.Add(time.Hour) {
		gone := qstashemu.Fail(404, "The deployment could not be found. DEPLOYMENT_NOT_FOUND")
		if _, err := emu.Trigger(zombieID, at, gone, gone, gone, gone); err != nil {
			t.Fatal(err)
		}
	}

	noJitter := []JobOption{Jitter(0)}
	op := newTestOperator(t,
		WithRedis(rdb), prefix, WithClock(clk),
		WithQStash(emu.Token()), WithQStashURL(emu.URL()),
		WithNotifier(Slack(slack.URL+"/services/T1/B1/e2e")),
		WithPolicy(ObserveOnly.With(ActionPauseWorkflow, RequireApproval).With(ActionDeleteSchedule, Autonomous)),
		WithWorkflowPauser(pauser), WithDashboardToken("e2e-token"),
		WithJobOptions(CostJob, noJitter...), WithJobOptions(WorkflowJob, noJitter...), WithJobOptions(CorrelationJob, noJitter...),
		WithJobOptions(ScheduleJob, noJitter...),
	)

	// The wasteful workload, through the client the Operator instrumented.
	for i := range 50 {
		rdb.Set(ctx, fmt.Sprintf("session:%d", i), "v", 0)
		rdb.Keys(ctx, "session:*")
	}

	runCtx, stop := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- op.Run(runCtx) }()
	defer func() { stop(); <-runDone }()
	runs := func(name JobName) int {
		for _, st := range op.JobStatuses() {
			if st.Name == name {
				return st.Runs
			}
		}
		return -1
	}
	waitFor(t, func() bool {
		return runs(CostJob) >= 1 && runs(WorkflowJob) >= 1 && runs(CorrelationJob) >= 1 && runs(ScheduleJob) >= 1
	})
	flush(t, op)

	msgs := slack.messages()
	if countPrefix(msgs, "[warning] ") == 0 || !strings.Contains(strings.Join(msgs, "\n"), "KEYS") {
		t.Errorf("no cost alert about KEYS in %q", msgs)
	}
	if got := countPrefix(msgs, "[critical] configuration failure"); got != 1 {
		t.Errorf("critical workflow alerts = %d, want 1: %q", got, msgs)
	}
	if got := countPrefix(msgs, "[critical] Schedule "+zombieID); got != 1 {
		t.Errorf("critical schedule alerts = %d, want 1: %q", got, msgs)
	}
	for _, class := range []string{"pause_workflow", "delete_schedule"} {
		if got := countPrefix(msgs, "[approval needed] "+class); got != 1 {
			t.Errorf("approval requests for %s = %d, want 1: %q", class, got, msgs)
		}
	}
	if got := pauser.list(); len(got) != 0 {
		t.Fatalf("paused %v before approval", got)
	}
	if _, ok := emu.Schedule(zombieID); !ok {
		t.Fatal("the schedule was deleted without approval, although the policy asked for autonomous deletes")
	}

	// Five minutes on: the workflow job runs again, nothing new is sent.
	before := len(slack.messages())
	clk.Advance(5 * time.Minute)
	waitFor(t, func() bool { return runs(WorkflowJob) >= 2 })
	flush(t, op)
	if after := slack.messages(); len(after) != before {
		t.Errorf("a second run re-sent alerts: %q", after[before:])
	}

	// The owner approves through the dashboard's API.
	pending, err := op.Approvals(ctx)
	if err != nil || len(pending) != 2 {
		t.Fatalf("pending = %+v, %v", pending, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ops/", op.Handler())
	dash := httptest.NewServer(mux)
	defer dash.Close()
	for _, p := range pending {
		req, _ := http.NewRequest(http.MethodPost, dash.URL+"/ops/api/approvals/"+p.Action.ID+"/approve", nil)
		req.Header.Set("Authorization", "Bearer e2e-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("approve %s: status %d", p.Action.Class, resp.StatusCode)
		}
	}
	if got := pauser.list(); len(got) != 1 || got[0] != "https://app.example.test/api/sync" {
		t.Errorf("paused %v, want the failing workflow", got)
	}
	if _, ok := emu.Schedule(zombieID); ok {
		t.Error("the approved delete did not remove the schedule from QStash")
	}

	// Everything is in the audit stream, in order.
	entries, err := op.Audit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, class := range []ActionClass{ActionPauseWorkflow, ActionDeleteSchedule} {
		var events []string
		for i := len(entries) - 1; i >= 0; i-- {
			if entries[i].Class == class {
				events = append(events, string(entries[i].Event))
			}
		}
		want := []string{"approval_requested", "approved", "executing", "executed"}
		if !equalStrings(events, want) {
			t.Errorf("audit of %s = %v, want %v", class, events, want)
		}
	}
	if n, _ := rdb.XLen(ctx, op.keys.audit()).Result(); n == 0 {
		t.Error("the audit stream in Redis is empty")
	}
}
