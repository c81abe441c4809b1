package qstashemu

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"
)

var workflowStart = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// logsPage is the body of GET /v2/workflows/logs.
type logsPage struct {
	Cursor string        `json:"cursor"`
	Runs   []WorkflowRun `json:"runs"`
}

// getLogs calls the logs endpoint of s with query and decodes the page.
func getLogs(t *testing.T, s *Server, query url.Values) (int, logsPage) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL()+"/v2/workflows/logs?"+query.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token())
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page logsPage
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, page
}

func TestWorkflowLogsCursorPaging(t *testing.T) {
	s := StartT(t)
	w := AddWorkflows(s, WithWorkflowPageSize(2))
	for i := range 5 {
		w.Script("https://app.example.com/wf", workflowStart.Add(time.Duration(i)*time.Minute)).Succeed().Add()
	}

	var ids []string
	cursor := ""
	for pages := 1; ; pages++ {
		q := url.Values{}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		status, page := getLogs(t, s, q)
		if status != http.StatusOK {
			t.Fatalf("status = %d, want 200", status)
		}
		for _, r := range page.Runs {
			ids = append(ids, r.RunID)
		}
		if page.Cursor == "" {
			if pages != 3 {
				t.Errorf("pages = %d, want 3 for 5 runs of 2", pages)
			}
			break
		}
		cursor = page.Cursor
	}
	if len(ids) != 5 {
		t.Fatalf("runs = %v, want 5", ids)
	}
	runs := w.Runs()
	for i, id := range ids {
		if runs[i].RunID != id {
			t.Errorf("run %d = %s, want %s (newest first)", i, id, runs[i].RunID)
		}
	}
	if runs[0].CreatedAt < runs[4].CreatedAt {
		t.Error("Runs is not newest first")
	}
}

func TestWorkflowLogsFilters(t *testing.T) {
	s := StartT(t)
	w := AddWorkflows(s)
	a := w.Script("https://app.example.com/a", workflowStart).Succeed().Add()
	b := w.Script("https://app.example.com/b", workflowStart.Add(time.Minute)).
		Fail(2, 500, "boom", nil).Add()

	tests := []struct {
		name  string
		query url.Values
		want  string
	}{
		{"by url", url.Values{"workflowUrl": {"https://app.example.com/a"}}, a},
		{"by run id", url.Values{"workflowRunId": {b}}, b},
		{"by state", url.Values{"state": {RunFailed}}, b},
		{"created after", url.Values{"workflowCreatedAt": {"1767603630000"}}, b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, page := getLogs(t, s, tt.query)
			if status != http.StatusOK || len(page.Runs) != 1 || page.Runs[0].RunID != tt.want {
				t.Errorf("status %d, runs %+v; want only %s", status, page.Runs, tt.want)
			}
		})
	}
	for _, bad := range []url.Values{{"count": {"0"}}, {"cursor": {"x"}}, {"workflowCreatedAt": {"yesterday"}}} {
		if status, _ := getLogs(t, s, bad); status != http.StatusBadRequest {
			t.Errorf("query %v: status %d, want 400", bad, status)
		}
	}
}

func TestWorkflowScriptFailedRun(t *testing.T) {
	s := StartT(t)
	w := AddWorkflows(s)
	id := w.Script("https://app.example.com/wf", workflowStart).ID("wfr_custom").
		Input(`{"order":1}`).
		Call("charge", "https://vendor.example/charge", 503, http.Header{"Retry-After": {"5"}}, "down").
		FailureFunction("https://app.example.com/wf", CallbackFail, "sentry unreachable").
		Fail(3, 500, "charge failed", nil).
		Add()
	if id != "wfr_custom" {
		t.Errorf("id = %q, want wfr_custom", id)
	}
	_, page := getLogs(t, s, url.Values{"workflowRunId": {id}})
	if len(page.Runs) != 1 {
		t.Fatalf("runs = %+v, want one", page.Runs)
	}
	run := page.Runs[0]
	if run.State != RunFailed || run.DLQID != "dlq_wfr_custom" || run.CompletedAt == 0 {
		t.Errorf("run = %+v, want failed with a DLQ id and completion time", run)
	}
	if len(run.Steps) != 3 || run.Steps[0].Steps[0].StepType != "Initial" {
		t.Fatalf("steps = %+v, want init, call and next", run.Steps)
	}
	call := run.Steps[1].Steps[0]
	if call.CallResponseStatus != 503 || call.CallURL != "https://vendor.example/charge" {
		t.Errorf("call step = %+v", call)
	}
	next := run.Steps[2]
	if next.Type != "next" || len(next.Steps[0].Errors) != 3 || next.Steps[0].State != "STEP_FAILED" {
		t.Errorf("next group = %+v, want three errors and STEP_FAILED", next)
	}
	errs := next.Steps[0].Errors
	if errs[1].Time-errs[0].Time != 1000 {
		t.Errorf("attempts are %d ms apart, want 1000", errs[1].Time-errs[0].Time)
	}
	ff := run.FailureFunction
	if ff == nil || ff.State != CallbackFail || ff.FailStatus != 500 || ff.FailResponse != "charge failed" {
		t.Errorf("failure function = %+v", ff)
	}
}

func TestWorkflowLogsNeedToken(t *testing.T) {
	s := StartT(t)
	AddWorkflows(s)
	resp, err := s.Client().Get(s.URL() + "/v2/workflows/logs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401", resp.StatusCode)
	}
}
