package schedules

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// bigBodySource serves one schedule whose deliveries all failed with a
// large response body.
type bigBodySource struct{ body []byte }

func (s bigBodySource) ListSchedules(context.Context) ([]Schedule, error) {
	return []Schedule{{ID: "big", Cron: "0 * * * *", Destination: "https://api.example.com/big"}}, nil
}

func (s bigBodySource) EachEvent(_ context.Context, _ string, _ time.Time, fn func(Event) bool) error {
	at := time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC)
	for i := range 12 {
		e := Event{Time: at.Add(-time.Duration(i) * time.Hour), MessageID: fmt.Sprint("m", i), State: "FAILED",
			ResponseStatus: 500, ResponseBody: s.body}
		if !fn(e) {
			return nil
		}
	}
	return nil
}

func (bigBodySource) EachDeadLetter(context.Context, time.Time, func(DeadLetter) bool) error {
	return nil
}

func TestAuditKeepsBoundedResponseBodies(t *testing.T) {
	src := bigBodySource{body: bytes.Repeat([]byte("x"), 1<<20)}
	a, err := New(src)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := src.ListSchedules(context.Background())
	r := a.auditOne(context.Background(), list[0], dlqSummary{}, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, tr := range r.history.triggers {
		if len(tr.body) > maxKeptBodyBytes || cap(tr.body) > maxKeptBodyBytes {
			t.Fatalf("trigger %s keeps a %d-byte body (capacity %d), want at most %d", tr.messageID, len(tr.body), cap(tr.body), maxKeptBodyBytes)
		}
	}
	if len(r.findings) == 0 || r.findings[0].Kind != KindZombie {
		t.Errorf("findings = %+v, want a zombie", r.findings)
	}
}

func TestAuditOneKeepsNoTriggersAfterJudging(t *testing.T) {
	src := bigBodySource{body: []byte("internal error")}
	a, err := New(src)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := src.ListSchedules(context.Background())
	r := a.auditOne(context.Background(), list[0], dlqSummary{}, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	if r.err != nil {
		t.Fatal(r.err)
	}
	// Results of every schedule live until the audit ends, for the
	// duplicate rule, so each must be small.
	if n := len(r.history.triggers); n != 0 {
		t.Errorf("result keeps %d triggers with their bodies after the rules ran", n)
	}
	if r.history.oldestEvent.IsZero() {
		t.Errorf("result lost the oldest event time that duplicate findings report")
	}
}
