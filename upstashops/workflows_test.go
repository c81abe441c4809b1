package upstashops

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/upstash-ops/sdk/heal"
)

// partialSource returns its events together with an error on the first
// Fetch, as a logs source does when one page of runs fails to decode, and
// nothing after that.
type partialSource struct {
	calls  int
	events []heal.Event
}

func (s *partialSource) Fetch(context.Context) ([]heal.Event, error) {
	s.calls++
	if s.calls == 1 {
		return s.events, errors.New("page 2: invalid run")
	}
	return nil, nil
}

func TestWorkflowJobKeepsPartialPoll(t *testing.T) {
	m, err := heal.NewMonitor()
	if err != nil {
		t.Fatal(err)
	}
	src := &partialSource{events: []heal.Event{{
		Target:  "https://app.example.test/api/workflow",
		RunID:   "run-1",
		Step:    "charge",
		Failure: heal.Failure{Status: 401, Message: "invalid signature", URL: "https://app.example.test/api/workflow"},
	}}}
	job := NewWorkflowJob(m, src)

	if _, err := job.Run(ctxT(t)); err == nil {
		t.Fatal("first Run: err = nil, want the fetch error")
	}
	res, err := job.Run(ctxT(t))
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if len(res.Findings) != 1 {
		t.Fatalf("second Run findings = %d, want the 1 decided during the failed poll", len(res.Findings))
	}
	if got, want := res.Findings[0].Kind, "workflow.configuration"; got != want {
		t.Errorf("finding kind = %q, want %q", got, want)
	}
}

func TestWorkflowFindingUnnamedStep(t *testing.T) {
	for _, step := range []string{"", `after ""`} {
		d := heal.Decision{
			Verdict:     heal.Verdict{Class: heal.Configuration, Signal: "http-401"},
			Fingerprint: heal.Fingerprint{Target: "http://127.0.0.1:8080/api/report", Step: step, Class: heal.Configuration, Status: 401},
		}
		f, ok := workflowFinding(d)
		if !ok {
			t.Fatalf("step %q: no finding for a configuration failure", step)
		}
		if want := "configuration failure in http://127.0.0.1:8080/api/report"; f.Summary != want {
			t.Errorf("step %q: summary = %q, want %q", step, f.Summary, want)
		}
		if strings.Contains(f.Subject, `\"`) {
			t.Errorf("step %q: subject = %q, want no escaped quotes", step, f.Subject)
		}
		if !strings.Contains(f.Subject, `step=""`) {
			t.Errorf("step %q: subject = %q, want an empty step", step, f.Subject)
		}
	}
}

func TestWorkflowFindingNamedStepKeepsID(t *testing.T) {
	for _, step := range []string{"charge", `after "fetch rows"`} {
		fp := heal.Fingerprint{Target: "http://127.0.0.1:8080/api/report", Step: step, Class: heal.Configuration, Status: 401}
		f, ok := workflowFinding(heal.Decision{Verdict: heal.Verdict{Class: heal.Configuration}, Fingerprint: fp})
		if !ok {
			t.Fatalf("step %q: no finding for a configuration failure", step)
		}
		if want := FindingID("workflow.configuration", fp.String()); f.ID != want {
			t.Errorf("step %q: ID = %q, want %q from the fingerprint", step, f.ID, want)
		}
		if !strings.HasSuffix(f.Summary, " at step "+step) {
			t.Errorf("step %q: summary = %q, want it to end with the step", step, f.Summary)
		}
	}
}
