package heal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Workflow run states of the Upstash Workflow logs API.
const (
	RunStarted  = "RUN_STARTED"
	RunSuccess  = "RUN_SUCCESS"
	RunFailed   = "RUN_FAILED"
	RunCanceled = "RUN_CANCELED"
)

// Workflow step states.
const (
	StepProgress = "STEP_PROGRESS"
	StepSuccess  = "STEP_SUCCESS"
	StepRetry    = "STEP_RETRY"
	StepFailed   = "STEP_FAILED"
	StepCanceled = "STEP_CANCELED"
)

// LogsPage is one page of GET /v2/workflows/logs. An empty Cursor means
// there are no more pages.
type LogsPage struct {
	Cursor string        `json:"cursor"`
	Runs   []WorkflowRun `json:"runs"`
}

// WorkflowRun is one run in the Workflow logs. Times are Unix
// milliseconds.
type WorkflowRun struct {
	RunID           string           `json:"workflowRunId"`
	URL             string           `json:"workflowUrl"`
	State           string           `json:"workflowState"`
	CreatedAt       int64            `json:"workflowRunCreatedAt"`
	CompletedAt     int64            `json:"workflowRunCompletedAt,omitempty"`
	Label           string           `json:"label,omitempty"`
	Steps           []StepGroup      `json:"steps"`
	FailureFunction *FailureFunction `json:"failureFunction,omitempty"`
	DLQID           string           `json:"dlqId,omitempty"`
}

// StepGroup is a group of steps: "sequential" (one step), "parallel", or
// "next", the step being attempted, which carries errors[] while it is
// retried.
type StepGroup struct {
	Type  string `json:"type"`
	Steps []Step `json:"steps"`
}

// Step is one step record. The Call fields are set for context.call steps.
type Step struct {
	StepID              int                 `json:"stepId,omitempty"`
	StepName            string              `json:"stepName,omitempty"`
	StepType            string              `json:"stepType,omitempty"`
	CallType            string              `json:"callType,omitempty"`
	MessageID           string              `json:"messageId,omitempty"`
	Out                 json.RawMessage     `json:"out,omitempty"`
	Retries             int                 `json:"retries,omitempty"`
	Concurrent          int                 `json:"concurrent,omitempty"`
	State               string              `json:"state,omitempty"`
	CreatedAt           int64               `json:"createdAt,omitempty"`
	CallURL             string              `json:"callUrl,omitempty"`
	CallMethod          string              `json:"callMethod,omitempty"`
	CallResponseStatus  int                 `json:"callResponseStatus,omitempty"`
	CallResponseBody    json.RawMessage     `json:"callResponseBody,omitempty"`
	CallResponseHeaders map[string][]string `json:"callResponseHeaders,omitempty"`
	Errors              []StepError         `json:"errors,omitempty"`
}

// StepError is one failed attempt of a retried step. Error is the error
// message and Body the response body of the attempt.
type StepError struct {
	Error   string              `json:"error"`
	Body    string              `json:"body,omitempty"`
	Status  int                 `json:"status"`
	Headers map[string][]string `json:"headers,omitempty"`
	Time    int64               `json:"time"`
}

// States of the failure function's message in the Workflow logs.
const (
	CallbackInProgress = "CALLBACK_INPROGRESS"
	CallbackSuccess    = "CALLBACK_SUCCESS"
	CallbackFail       = "CALLBACK_FAIL"
)

// FailureFunction is the state of the failure function or failure URL
// that ran after the run failed. State is one of the Callback states;
// CallbackFail, or the QStash message states "ERROR" and "FAILED", means
// the failure function itself failed.
type FailureFunction struct {
	MessageID    string              `json:"messageId,omitempty"`
	URL          string              `json:"url,omitempty"`
	State        string              `json:"state,omitempty"`
	FailStatus   int                 `json:"failStatus,omitempty"`
	FailResponse string              `json:"failResponse,omitempty"`
	FailHeaders  map[string][]string `json:"failHeaders,omitempty"`
	ResponseBody string              `json:"responseBody,omitempty"`
}

// maxLogsPage bounds the bytes DecodeLogsPage reads.
const maxLogsPage = 8 << 20

// ErrInvalidRun is wrapped by the error DecodeLogsPage returns for a run
// it skipped.
var ErrInvalidRun = errors.New("invalid workflow run")

// DecodeLogsPage decodes one page of the Workflow logs API, reading at most
// 8 MiB. It fails on invalid JSON and on a larger body. A run that does
// not decode, or has no workflowRunId or workflowUrl, is skipped: the page
// holds the other runs and the error wraps ErrInvalidRun, so that one odd
// run does not hide the failures of the rest.
func DecodeLogsPage(r io.Reader) (LogsPage, error) {
	lr := &io.LimitedReader{R: r, N: maxLogsPage + 1}
	var raw struct {
		Cursor string            `json:"cursor"`
		Runs   []json.RawMessage `json:"runs"`
	}
	if err := json.NewDecoder(lr).Decode(&raw); err != nil {
		if lr.N <= 0 {
			return LogsPage{}, fmt.Errorf("heal: workflow logs page is larger than %d bytes", maxLogsPage)
		}
		return LogsPage{}, fmt.Errorf("heal: decode workflow logs page: %w", err)
	}

	page := LogsPage{Cursor: raw.Cursor, Runs: make([]WorkflowRun, 0, len(raw.Runs))}
	var invalid []error
	for i, data := range raw.Runs {
		var run WorkflowRun
		err := json.Unmarshal(data, &run)
		switch {
		case err != nil:
			invalid = append(invalid, fmt.Errorf("heal: %w %d (%q): %w", ErrInvalidRun, i, run.RunID, err))
		case run.RunID == "":
			invalid = append(invalid, fmt.Errorf("heal: %w %d: no workflowRunId", ErrInvalidRun, i))
		case run.URL == "":
			invalid = append(invalid, fmt.Errorf("heal: %w %d (%q): no workflowUrl", ErrInvalidRun, i, run.RunID))
		default:
			page.Runs = append(page.Runs, run)
		}
	}
	return page, errors.Join(invalid...)
}

// RunEvents turns one workflow run into failure events:
//   - each step of a "next" group with errors[], from its last error;
//   - each context.call step that got a 5xx in a run that did not
//     succeed, and each 5xx call in a successful run, marked Silent;
//   - each context.call step that got a 4xx when the step after it
//     failed, or when it was the last step of a failed run. The code may
//     expect a 4xx, such as a 404 from a lookup, so other 4xx calls are
//     not failures;
//   - when the next step failed right after a call of either kind, its
//     error becomes the call event's Message instead of an event of its
//     own;
//   - for a failed run with none of the above, the failure function's
//     failStatus and failResponse, or, without those, an event that reports
//     that the run failed;
//   - a failure function that itself failed, as step "failure-function".
func RunEvents(run WorkflowRun) []Event {
	input := runInput(run)
	var events []Event
	add := func(step string, f Failure, at int64, silent bool) {
		events = append(events, Event{
			Target: run.URL, RunID: run.RunID, Step: step, Failure: f,
			Time: millis(at), Silent: silent, Input: input,
		})
	}

	previous := ""
	lastCall := -1 // index in events of the call event just before, or -1
	// A 4xx call is handed to the code, which may expect it, so its event
	// stays only if the step after it failed or the run failed right after
	// it.
	unconfirmed := map[int]bool{}
	for _, group := range run.Steps {
		for _, s := range group.Steps {
			switch {
			case group.Type == "next" && len(s.Errors) > 0:
				last := s.Errors[len(s.Errors)-1]
				if lastCall >= 0 {
					// The step right after a failed context.call failed on
					// the call's response, so the call is the failure.
					events[lastCall].Failure.Message = last.Error
					delete(unconfirmed, lastCall)
					continue
				}
				name := s.StepName
				if name == "" {
					name = "after " + strconv.Quote(previous)
				}
				add(name, Failure{
					Status: last.Status, Header: http.Header(last.Headers), Body: excerpt(last.Body, maxBodyExcerpt),
					Message: last.Error, URL: run.URL,
				}, last.Time, false)
			case s.CallResponseStatus >= 400:
				silent := run.State == RunSuccess
				if silent && s.CallResponseStatus < 500 {
					continue
				}
				add(s.StepName, Failure{
					Status: s.CallResponseStatus, Header: http.Header(s.CallResponseHeaders),
					Body: rawExcerpt(s.CallResponseBody), URL: s.CallURL,
				}, s.CreatedAt, silent)
				lastCall = len(events) - 1
				if s.CallResponseStatus < 500 {
					unconfirmed[lastCall] = true
				}
				previous = s.StepName
				continue
			}
			lastCall = -1
			if s.StepName != "" && group.Type != "next" {
				previous = s.StepName
			}
		}
	}
	if run.State == RunFailed {
		delete(unconfirmed, lastCall)
	}
	if len(unconfirmed) > 0 {
		kept := events[:0]
		for i, ev := range events {
			if !unconfirmed[i] {
				kept = append(kept, ev)
			}
		}
		events = kept
	}

	ff := run.FailureFunction
	switch {
	case run.State != RunFailed || len(events) > 0:
	case ff != nil && ff.FailStatus != 0:
		add("", Failure{
			Status: ff.FailStatus, Header: http.Header(ff.FailHeaders), Body: ff.FailResponse, URL: run.URL,
		}, run.CompletedAt, false)
	case ff != nil && ff.FailResponse != "":
		// No status: the request got no response, and failResponse is the
		// error text, such as a timeout.
		add("", Failure{Message: ff.FailResponse, URL: run.URL}, run.CompletedAt, false)
	default:
		// A failed run must not vanish because its logs lack the details.
		add("", Failure{Message: "the workflow run failed and its logs show no step error", URL: run.URL},
			run.CompletedAt, false)
	}
	if ff != nil && (ff.State == CallbackFail || ff.State == "ERROR" || ff.State == "FAILED") {
		add("failure-function", Failure{
			Message: "the failure function did not complete (state " + ff.State + "): " + ff.ResponseBody,
			URL:     ff.URL,
		}, run.CompletedAt, false)
	}
	return events
}

// runInput returns an excerpt of the run's input: the out of its Initial
// step.
func runInput(run WorkflowRun) string {
	for _, g := range run.Steps {
		for _, s := range g.Steps {
			if s.StepType == "Initial" {
				return rawExcerpt(s.Out)
			}
		}
	}
	return ""
}

// rawExcerpt returns a JSON value as text: a string value unquoted, any
// other value as written, cut to 1 KiB.
func rawExcerpt(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return excerpt(s, maxReviewExcerpt)
	}
	return excerpt(strings.TrimSpace(string(raw)), maxReviewExcerpt)
}

func millis(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// errLogsStatus is wrapped by errors for non-200 responses of the logs API.
var errLogsStatus = errors.New("unexpected status")
