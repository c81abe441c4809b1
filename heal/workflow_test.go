package heal

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestDecodeLogsPage(t *testing.T) {
	raw, err := os.ReadFile("testdata/logs_page.json")
	if err != nil {
		t.Fatal(err)
	}
	page, err := DecodeLogsPage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if page.Cursor != "1736340464684-2" || len(page.Runs) != 2 {
		t.Fatalf("page = cursor %q, %d runs; want the cursor and 2 runs", page.Cursor, len(page.Runs))
	}
	run := page.Runs[0]
	if run.State != RunFailed || run.FailureFunction == nil || run.FailureFunction.State != CallbackFail {
		t.Errorf("run 0 = %+v, want failed with a failed failure function", run)
	}
	next := run.Steps[2]
	if next.Type != "next" || len(next.Steps[0].Errors) != 2 {
		t.Errorf("next group = %+v, want two errors", next)
	}
}

func TestRunEvents(t *testing.T) {
	raw, _ := os.ReadFile("testdata/logs_page.json")
	page, err := DecodeLogsPage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}

	failed := RunEvents(page.Runs[0])
	if len(failed) != 2 {
		t.Fatalf("failed run gave %d events, want the call and the failure function: %+v", len(failed), failed)
	}
	call, ff := failed[0], failed[1]
	if call.Step != "charge card" || call.Failure.Status != 503 || call.Failure.URL != "https://api.vendor.example/v1/charges" {
		t.Errorf("call event = %+v", call)
	}
	if call.Failure.Message != "vendor returned 503" {
		t.Errorf("call event message = %q, want the error of the step after it", call.Failure.Message)
	}
	if call.Input != `{"order":"ord_77","amount":1200}` {
		t.Errorf("input = %q, want the Initial step's out", call.Input)
	}
	if ff.Step != "failure-function" || !strings.Contains(ff.Failure.Message, "sentry unreachable") {
		t.Errorf("failure function event = %+v", ff)
	}

	ok := RunEvents(page.Runs[1])
	if len(ok) != 1 {
		t.Fatalf("successful run gave %d events, want the one silent 5xx: %+v", len(ok), ok)
	}
	if !ok[0].Silent || ok[0].Failure.Status != 502 || ok[0].Failure.Body != `{"error": "bad gateway"}` {
		t.Errorf("silent event = %+v", ok[0])
	}
}

func TestRunEventsNextStep(t *testing.T) {
	run := WorkflowRun{
		RunID: "wfr_1", URL: "https://app.example.com/wf", State: RunFailed,
		Steps: []StepGroup{
			{Type: "sequential", Steps: []Step{{StepName: "fetch rows", State: StepSuccess}}},
			{Type: "next", Steps: []Step{{State: StepFailed, Errors: []StepError{
				{Error: "first", Status: 500, Time: 1000},
				{Error: "context deadline exceeded", Status: 0, Time: 2000},
			}}}},
		},
	}
	events := RunEvents(run)
	if len(events) != 1 {
		t.Fatalf("events = %+v, want one", events)
	}
	ev := events[0]
	if ev.Step != `after "fetch rows"` || ev.Failure.Message != "context deadline exceeded" || ev.Failure.URL != run.URL {
		t.Errorf("event = %+v, want the last error after the previous step, at the workflow URL", ev)
	}
	if ev.Time.UnixMilli() != 2000 {
		t.Errorf("time = %v, want the last error's time", ev.Time)
	}
}

func TestRunEventsFailStatusFallback(t *testing.T) {
	run := WorkflowRun{
		RunID: "wfr_1", URL: "https://app.example.com/wf", State: RunFailed,
		FailureFunction: &FailureFunction{State: CallbackSuccess, FailStatus: 401, FailResponse: "unauthorized"},
	}
	events := RunEvents(run)
	if len(events) != 1 || events[0].Failure.Status != 401 || events[0].Failure.Body != "unauthorized" {
		t.Errorf("events = %+v, want one from failStatus", events)
	}
}

func TestDecodeLogsPageRejects(t *testing.T) {
	tests := map[string]string{
		"not json":    "<html>",
		"missing id":  `{"runs":[{"workflowUrl":"https://a.example"}]}`,
		"missing url": `{"runs":[{"workflowRunId":"wfr_1"}]}`,
		"wrong type":  `{"runs":{}}`,
		"bad steps":   `{"runs":[{"workflowRunId":"w","workflowUrl":"u","steps":[{"steps":[{"errors":[{"status":"x"}]}]}]}]}`,
		"too large":   `{"cursor":"` + strings.Repeat("a", maxLogsPage) + `"}`,
	}
	for name, body := range tests {
		if _, err := DecodeLogsPage(strings.NewReader(body)); err == nil {
			t.Errorf("%s: DecodeLogsPage succeeded, want an error", name)
		}
	}
}

func FuzzDecodeLogsPage(f *testing.F) {
	raw, err := os.ReadFile("testdata/logs_page.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte(`{"cursor":"","runs":[]}`))
	f.Add([]byte(`{"runs":[{"workflowRunId":"w","workflowUrl":"u","workflowState":"RUN_SUCCESS","steps":[{"type":"next","steps":[{"errors":[]}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		page, err := DecodeLogsPage(bytes.NewReader(data))
		if err != nil && !errors.Is(err, ErrInvalidRun) {
			return
		}
		for _, run := range page.Runs {
			if run.RunID == "" || run.URL == "" {
				t.Errorf("page holds run %q at %q, want runs without an id or URL skipped", run.RunID, run.URL)
			}
			for _, ev := range RunEvents(run) {
				if ev.Target != run.URL || ev.RunID != run.RunID {
					t.Errorf("event %+v does not name run %q at %q", ev, run.RunID, run.URL)
				}
				if ev.Silent && run.State != RunSuccess {
					t.Errorf("silent event in a run in state %q", run.State)
				}
				_ = Classify(ev.Failure)
			}
		}
	})
}

func TestSeenSetForgetsOldest(t *testing.T) {
	s := newSeenSet(2)
	for _, k := range []string{"a", "b", "c"} {
		if !s.add(k) {
			t.Errorf("add(%q) = false, want a new key", k)
		}
	}
	if s.add("c") {
		t.Error("add(c) twice reported it new")
	}
	if !s.add("a") {
		t.Error("a was kept beyond the capacity of 2, want it forgotten")
	}
}

func TestRunEventsFailedRunWithoutDetails(t *testing.T) {
	const url = "https://app.example.com/wf"
	tests := []struct {
		name      string
		ff        *FailureFunction
		wantClass Class
	}{
		{"no failure function", nil, Unknown},
		{"failure function without status",
			&FailureFunction{State: CallbackSuccess, FailResponse: "context deadline exceeded"}, Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := WorkflowRun{RunID: "wfr_1", URL: url, State: RunFailed, CompletedAt: 5000, FailureFunction: tt.ff}
			events := RunEvents(run)
			if len(events) != 1 {
				t.Fatalf("events = %+v, want one for the failed run", events)
			}
			if got := Classify(events[0].Failure).Class; got != tt.wantClass {
				t.Errorf("class = %v, want %v", got, tt.wantClass)
			}
			if events[0].Target != url || events[0].RunID != "wfr_1" {
				t.Errorf("event = %+v, want the run's target and id", events[0])
			}
		})
	}
	if events := RunEvents(WorkflowRun{RunID: "wfr_2", URL: url, State: RunSuccess}); len(events) != 0 {
		t.Errorf("a successful run gave events %+v", events)
	}
}

func TestRunEventsFailureFunctionStates(t *testing.T) {
	tests := map[string]bool{
		CallbackFail:       true,
		CallbackSuccess:    false,
		CallbackInProgress: false,
		"FAILED":           true,
	}
	for state, wantEvent := range tests {
		run := WorkflowRun{
			RunID: "wfr_1", URL: "https://app.example.com/wf", State: RunFailed,
			FailureFunction: &FailureFunction{State: state, FailStatus: 500, ResponseBody: "sentry unreachable"},
		}
		got := false
		for _, ev := range RunEvents(run) {
			if ev.Step == "failure-function" {
				got = true
			}
		}
		if got != wantEvent {
			t.Errorf("failure function in state %s: event = %v, want %v", state, got, wantEvent)
		}
	}
}

// The logs API reports an attempt's response body in errors[].body, apart
// from the error message.
func TestRunEventsStepErrorBody(t *testing.T) {
	page, err := DecodeLogsPage(strings.NewReader(`{"runs":[{
		"workflowRunId":"wfr_1","workflowUrl":"https://app.example.com/api/wf","workflowState":"RUN_FAILED",
		"steps":[{"type":"next","steps":[{"messageId":"m","state":"STEP_FAILED","retries":3,"errors":[
			{"error":"failed to deliver","body":"<!DOCTYPE html><title>Just a moment...</title>",
			 "status":503,"headers":{},"time":1000}]}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	events := RunEvents(page.Runs[0])
	if len(events) != 1 {
		t.Fatalf("events = %+v, want one", events)
	}
	if !strings.Contains(events[0].Failure.Body, "Just a moment") {
		t.Errorf("Body = %q, want the attempt's response body", events[0].Failure.Body)
	}
	if v := Classify(events[0].Failure); v.Class != Configuration || v.Signal != "bot-challenge" {
		t.Errorf("verdict = %v, want configuration bot-challenge", v)
	}
}

// mixedPage has a run whose errors[].status is a string, then a valid
// failed run.
const mixedPage = `{"runs":[
	{"workflowRunId":"wfr_odd","workflowUrl":"https://app.example.com/wf","workflowState":"RUN_FAILED",
	 "steps":[{"type":"next","steps":[{"errors":[{"error":"x","status":"500","time":1}]}]}]},
	{"workflowRunId":"wfr_ok","workflowUrl":"https://app.example.com/wf","workflowState":"RUN_FAILED",
	 "steps":[{"type":"next","steps":[{"errors":[{"error":"upstream unavailable","status":503,"time":2}]}]}]}
]}`

func TestDecodeLogsPageSkipsInvalidRun(t *testing.T) {
	page, err := DecodeLogsPage(strings.NewReader(mixedPage))
	if !errors.Is(err, ErrInvalidRun) || !strings.Contains(err.Error(), "wfr_odd") {
		t.Errorf("err = %v, want ErrInvalidRun naming wfr_odd", err)
	}
	if len(page.Runs) != 1 || page.Runs[0].RunID != "wfr_ok" {
		t.Errorf("runs = %+v, want only wfr_ok", page.Runs)
	}
}

// A context.call that got a 4xx hands the response to the workflow code,
// which may expect it (a lookup that returns 404). It is a failure only
// when the step after it fails or the run failed right after it.
func TestRunEventsHandledClientErrorCall(t *testing.T) {
	lookup := Step{
		StepName: "find user", StepType: "Call", CallURL: "https://api.vendor.example/users/7",
		CallResponseStatus: 404, CreatedAt: 1000,
	}
	next := Step{StepName: "create user", StepType: "Run", CreatedAt: 2000}
	seq := func(s Step) StepGroup { return StepGroup{Type: "sequential", Steps: []Step{s}} }
	failing := StepGroup{Type: "next", Steps: []Step{{Errors: []StepError{{Error: "user not found", Status: 500, Time: 3000}}}}}
	const url = "https://app.example.com/wf"

	tests := []struct {
		name       string
		run        WorkflowRun
		wantEvents int
		wantStatus int
	}{
		{"in progress, handled", WorkflowRun{State: RunStarted, Steps: []StepGroup{seq(lookup), seq(next)}}, 0, 0},
		{"failed later for another reason",
			WorkflowRun{State: RunFailed, Steps: []StepGroup{seq(lookup), seq(next), failing}}, 1, 500},
		{"step after it failed", WorkflowRun{State: RunFailed, Steps: []StepGroup{seq(lookup), failing}}, 1, 404},
		{"last step of a failed run", WorkflowRun{State: RunFailed, Steps: []StepGroup{seq(lookup)}}, 1, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run.RunID, tt.run.URL = "wfr_1", url
			events := RunEvents(tt.run)
			if len(events) != tt.wantEvents {
				t.Fatalf("events = %+v, want %d", events, tt.wantEvents)
			}
			if tt.wantEvents > 0 && events[0].Failure.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d", events[0].Failure.Status, tt.wantStatus)
			}
		})
	}
}
