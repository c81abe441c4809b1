package qstashemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// RunScript builds one scripted workflow run step by step; Add stores it.
// Each step and each failed attempt happens one second after the one
// before, starting at the run's start time. A RunScript is not safe for
// concurrent use.
type RunScript struct {
	w       *Workflows
	run     WorkflowRun
	at      time.Time
	stepID  int
	failure *WorkflowFailureFunction
}

// Script starts a run of the workflow at workflowURL that began at start.
// The run is in state RUN_STARTED until Succeed or Fail ends it.
func (w *Workflows) Script(workflowURL string, start time.Time) *RunScript {
	return &RunScript{
		w:  w,
		at: start,
		run: WorkflowRun{
			URL: workflowURL, State: RunStarted, CreatedAt: unixMilli(start), Steps: []WorkflowStepGroup{},
		},
	}
}

// ID sets the run id; without it Add assigns one.
func (b *RunScript) ID(id string) *RunScript {
	b.run.RunID = id
	return b
}

// Input adds the Initial step, whose out is the run's request body.
func (b *RunScript) Input(body string) *RunScript {
	return b.sequential(WorkflowStep{StepName: "init", StepType: "Initial", Out: jsonString(body)})
}

// Step adds a successful context.run step that returned out.
func (b *RunScript) Step(name, out string) *RunScript {
	b.stepID++
	return b.sequential(WorkflowStep{StepID: b.stepID, StepName: name, StepType: "Run", Out: jsonString(out)})
}

// Call adds a context.call step to url that received status, header and
// body. Workflow hands the response to the code whatever its status, so the
// step itself succeeds.
func (b *RunScript) Call(name, url string, status int, header http.Header, body string) *RunScript {
	b.stepID++
	return b.sequential(WorkflowStep{
		StepID: b.stepID, StepName: name, StepType: "Call", CallType: "fromCallback",
		CallURL: url, CallMethod: http.MethodPost, CallResponseStatus: status,
		CallResponseHeaders: header, CallResponseBody: jsonString(body),
	})
}

// Retrying adds the next step, still being retried after attempts failed
// attempts that each ended with status and message. The run stays started.
func (b *RunScript) Retrying(attempts, status int, message string, header http.Header) *RunScript {
	b.next("STEP_RETRY", attempts, status, message, header)
	return b
}

// Fail adds the next step, failed after attempts attempts that each ended
// with status and message, and fails the run: it gets a DLQ id and, when
// FailureFunction was called, the failure function's record.
func (b *RunScript) Fail(attempts, status int, message string, header http.Header) *RunScript {
	b.next("STEP_FAILED", attempts, status, message, header)
	b.run.State = RunFailed
	b.run.CompletedAt = unixMilli(b.at)
	if b.failure != nil {
		f := *b.failure
		f.FailStatus, f.FailResponse, f.FailHeaders = status, message, header
		b.run.FailureFunction = &f
	}
	return b
}

// FailureFunction declares a failure function at url whose own delivery
// ends in state (CallbackSuccess, or CallbackFail when it failed too) with
// responseBody. Call it before Fail.
func (b *RunScript) FailureFunction(url, state, responseBody string) *RunScript {
	b.failure = &WorkflowFailureFunction{
		MessageID: b.messageID("ff"), URL: url, State: state, ResponseBody: responseBody,
	}
	return b
}

// Succeed completes the run.
func (b *RunScript) Succeed() *RunScript {
	b.run.State = RunSuccess
	b.run.CompletedAt = unixMilli(b.at)
	return b
}

// Add stores the run and returns its id. A failed run gets the DLQ id
// "dlq_" + its run id.
func (b *RunScript) Add() string {
	if b.run.RunID == "" {
		b.run.RunID = b.messageID("wfr")
	}
	if b.run.State == RunFailed {
		b.run.DLQID = "dlq_" + b.run.RunID
	}
	return b.w.AddRun(b.run)
}

func (b *RunScript) sequential(s WorkflowStep) *RunScript {
	s.MessageID = b.messageID("msg")
	s.Concurrent = 1
	s.State = "STEP_SUCCESS"
	s.CallType = orDefault(s.CallType, "step")
	s.CreatedAt = unixMilli(b.at)
	b.run.Steps = append(b.run.Steps, WorkflowStepGroup{Type: "sequential", Steps: []WorkflowStep{s}})
	b.at = b.at.Add(time.Second)
	return b
}

func (b *RunScript) next(state string, attempts, status int, message string, header http.Header) {
	s := WorkflowStep{MessageID: b.messageID("msg"), State: state, Retries: max(attempts-1, 0)}
	for range max(attempts, 1) {
		s.Errors = append(s.Errors, WorkflowStepError{
			Error: message, Status: status, Headers: header, Time: unixMilli(b.at),
		})
		b.at = b.at.Add(time.Second)
	}
	b.run.Steps = append(b.run.Steps, WorkflowStepGroup{Type: "next", Steps: []WorkflowStep{s}})
}

func (b *RunScript) messageID(prefix string) string {
	b.w.mu.Lock()
	defer b.w.mu.Unlock()
	b.w.seq++
	return fmt.Sprintf("%s_%06d", prefix, b.w.seq)
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
