package qstashemu

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Workflow run states, as the Upstash Workflow logs API reports them.
const (
	RunStarted  = "RUN_STARTED"
	RunSuccess  = "RUN_SUCCESS"
	RunFailed   = "RUN_FAILED"
	RunCanceled = "RUN_CANCELED"
)

// WorkflowRun is one run as GET /v2/workflows/logs returns it. Times are
// Unix milliseconds.
type WorkflowRun struct {
	RunID           string                   `json:"workflowRunId"`
	URL             string                   `json:"workflowUrl"`
	State           string                   `json:"workflowState"`
	CreatedAt       int64                    `json:"workflowRunCreatedAt"`
	CompletedAt     int64                    `json:"workflowRunCompletedAt,omitempty"`
	Label           string                   `json:"label,omitempty"`
	Steps           []WorkflowStepGroup      `json:"steps"`
	FailureFunction *WorkflowFailureFunction `json:"failureFunction,omitempty"`
	DLQID           string                   `json:"dlqId,omitempty"`
}

// WorkflowStepGroup is a "sequential", "parallel" or "next" group of steps.
// A "next" group is the step being attempted. While it is retried, it
// carries errors[] and no step name.
type WorkflowStepGroup struct {
	Type  string         `json:"type"`
	Steps []WorkflowStep `json:"steps"`
}

// WorkflowStep is one step record. The Call fields are set for
// context.call steps.
type WorkflowStep struct {
	StepID              int                 `json:"stepId,omitempty"`
	StepName            string              `json:"stepName,omitempty"`
	StepType            string              `json:"stepType,omitempty"`
	CallType            string              `json:"callType,omitempty"`
	MessageID           string              `json:"messageId"`
	Out                 json.RawMessage     `json:"out,omitempty"`
	Retries             int                 `json:"retries,omitempty"`
	Concurrent          int                 `json:"concurrent,omitempty"`
	State               string              `json:"state"`
	CreatedAt           int64               `json:"createdAt,omitempty"`
	CallURL             string              `json:"callUrl,omitempty"`
	CallMethod          string              `json:"callMethod,omitempty"`
	CallResponseStatus  int                 `json:"callResponseStatus,omitempty"`
	CallResponseBody    json.RawMessage     `json:"callResponseBody,omitempty"`
	CallResponseHeaders map[string][]string `json:"callResponseHeaders,omitempty"`
	Errors              []WorkflowStepError `json:"errors,omitempty"`
}

// WorkflowStepError is one failed attempt of a step: the error message and
// the response body, status and headers of the attempt.
type WorkflowStepError struct {
	Error   string              `json:"error"`
	Body    string              `json:"body,omitempty"`
	Status  int                 `json:"status"`
	Headers map[string][]string `json:"headers"`
	Time    int64               `json:"time"`
}

// States of the failure function's message, as the Workflow logs report
// them.
const (
	CallbackInProgress = "CALLBACK_INPROGRESS"
	CallbackSuccess    = "CALLBACK_SUCCESS"
	CallbackFail       = "CALLBACK_FAIL"
)

// WorkflowFailureFunction is the failure function's message after a run
// failed. State is CallbackInProgress, CallbackSuccess or CallbackFail.
type WorkflowFailureFunction struct {
	MessageID    string              `json:"messageId"`
	URL          string              `json:"url"`
	State        string              `json:"state"`
	FailStatus   int                 `json:"failStatus"`
	FailResponse string              `json:"failResponse"`
	FailHeaders  map[string][]string `json:"failHeaders"`
	DLQID        string              `json:"dlqId,omitempty"`
	ResponseBody string              `json:"responseBody,omitempty"`
}

// DefaultWorkflowPageSize is how many runs one logs page holds unless
// WithWorkflowPageSize or the request's count parameter sets another size.
const DefaultWorkflowPageSize = 10

// Workflows adds the Upstash Workflow logs endpoint to a Server and holds
// the scripted runs it serves. Its methods are safe for concurrent use.
type Workflows struct {
	server   *Server
	pageSize int

	mu   sync.Mutex
	seq  int
	runs []WorkflowRun
}

// WorkflowsOption configures Workflows.
type WorkflowsOption interface{ applyWorkflows(*Workflows) }

type workflowsOptionFunc func(*Workflows)

func (f workflowsOptionFunc) applyWorkflows(w *Workflows) { f(w) }

// WithWorkflowPageSize sets the default number of runs per logs page. The
// default is DefaultWorkflowPageSize.
func WithWorkflowPageSize(n int) WorkflowsOption {
	return workflowsOptionFunc(func(w *Workflows) {
		if n > 0 {
			w.pageSize = n
		}
	})
}

// AddWorkflows registers GET /v2/workflows/logs on s and returns the store
// of runs it serves. Call it once per Server.
func AddWorkflows(s *Server, opts ...WorkflowsOption) *Workflows {
	w := &Workflows{server: s, pageSize: DefaultWorkflowPageSize}
	for _, o := range opts {
		o.applyWorkflows(w)
	}
	s.HandleFunc("GET /v2/workflows/logs", w.serveLogs)
	return w
}

// AddRun stores a run as given. A run without an id gets one.
func (w *Workflows) AddRun(run WorkflowRun) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if run.RunID == "" {
		w.seq++
		run.RunID = fmt.Sprintf("wfr_%06d", w.seq)
	}
	w.runs = append(w.runs, run)
	return run.RunID
}

// Runs returns a copy of the stored runs, newest first.
func (w *Workflows) Runs() []WorkflowRun {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sortedLocked()
}

func (w *Workflows) sortedLocked() []WorkflowRun {
	out := slices.Clone(w.runs)
	slices.SortStableFunc(out, func(a, b WorkflowRun) int {
		// Newest first, as the logs API lists runs.
		if c := cmp.Compare(b.CreatedAt, a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.RunID, a.RunID)
	})
	return out
}

// serveLogs serves GET /v2/workflows/logs with the filters workflowRunId,
// workflowUrl, state and workflowCreatedAt (Unix ms, runs created at or
// after it), count (page size), and cursor paging. The cursor is the
// offset of the next page in the filtered, newest-first list; the last page
// has no cursor.
func (w *Workflows) serveLogs(rw http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := w.pageSize
	if c := q.Get("count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 {
			writeError(rw, http.StatusBadRequest, fmt.Sprintf("invalid count %q: it must be a positive integer", c))
			return
		}
		size = n
	}
	offset := 0
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			writeError(rw, http.StatusBadRequest, fmt.Sprintf("invalid cursor %q", c))
			return
		}
		offset = n
	}
	var createdAfter int64
	if c := q.Get("workflowCreatedAt"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil {
			writeError(rw, http.StatusBadRequest, fmt.Sprintf("invalid workflowCreatedAt %q: it must be Unix milliseconds", c))
			return
		}
		createdAfter = n
	}

	w.mu.Lock()
	all := w.sortedLocked()
	w.mu.Unlock()
	var matched []WorkflowRun
	for _, run := range all {
		switch {
		case q.Get("workflowRunId") != "" && run.RunID != q.Get("workflowRunId"):
		case q.Get("workflowUrl") != "" && run.URL != q.Get("workflowUrl"):
		case q.Get("state") != "" && run.State != q.Get("state"):
		case run.CreatedAt < createdAfter:
		default:
			matched = append(matched, run)
		}
	}

	page := struct {
		Cursor string        `json:"cursor,omitempty"`
		Runs   []WorkflowRun `json:"runs"`
	}{Runs: []WorkflowRun{}}
	if offset < len(matched) {
		end := min(offset+size, len(matched))
		page.Runs = matched[offset:end]
		if end < len(matched) {
			page.Cursor = strconv.Itoa(end)
		}
	}
	writeJSON(rw, http.StatusOK, page)
}

// unixMilli returns t in Unix milliseconds, or 0 for the zero time.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
