package upstashops

import (
	"context"
	"errors"
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
