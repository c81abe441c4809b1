package heal

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/qstashemu"
)

// newQStashScenario starts an emulator with one schedule and returns it
// with a QStashFailures source reading it.
func newQStashScenario(t *testing.T, retries int) (*qstashemu.Server, string, *QStashFailures) {
	t.Helper()
	srv := qstashemu.StartT(t)
	id, err := srv.AddSchedule(qstashemu.Schedule{
		Cron: "*/5 * * * *", Destination: "https://app.example.com/api/cron/sync", Retries: retries,
		Body: []byte(`{"full":true}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewQStashFailures(srv.URL(), srv.Token(), WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	return srv, id, src
}

func TestQStashFailuresReadsEventsOnce(t *testing.T) {
	srv, schedule, src := newQStashScenario(t, 1)
	if _, err := srv.Trigger(schedule, epoch, qstashemu.OK()); err != nil {
		t.Fatal(err)
	}
	msg, err := srv.Trigger(schedule, epoch.Add(5*time.Minute),
		qstashemu.TransportError("context deadline exceeded"),
		qstashemu.TransportError("context deadline exceeded"))
	if err != nil {
		t.Fatal(err)
	}

	events, err := src.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 {
		t.Fatal("no events for a message that failed every attempt")
	}
	for _, ev := range events {
		if ev.RunID != msg || ev.Target != "schedule:"+schedule || !ev.Own {
			t.Errorf("event = %+v, want message %s of schedule %s", ev, msg, schedule)
		}
		if got := Classify(ev.Failure); got.Signal != "timeout" {
			t.Errorf("event classifies as %v, want a timeout", got)
		}
	}
	again, err := src.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Errorf("second Fetch returned %d events, want none", len(again))
	}
}

func TestQStashFailuresDLQWithoutEvents(t *testing.T) {
	srv, _, src := newQStashScenario(t, 0)
	srv.AddDLQ(qstashemu.DLQEntry{
		MessageID: "msg_old", URL: "https://app.example.com/api/hook", ResponseStatus: 401,
		ResponseBody: []byte("invalid signature"), CreatedAt: epoch,
	})
	events, err := src.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("events = %+v, want the DLQ message", events)
	}
	if v := Classify(events[0].Failure); v.Signal != "signature" {
		t.Errorf("DLQ message classifies as %v, want signature", v)
	}
}

func TestScenarioScheduleTimesOutEveryRun(t *testing.T) {
	srv, schedule, src := newQStashScenario(t, 1)
	m, rec, _ := newTestMonitor(t, Autonomous)
	for i := range 3 {
		_, err := srv.Trigger(schedule, epoch.Add(time.Duration(i)*5*time.Minute),
			qstashemu.TransportError("context deadline exceeded"),
			qstashemu.TransportError("context deadline exceeded"))
		if err != nil {
			t.Fatal(err)
		}
	}
	rep, err := m.Poll(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	last := rep.Decisions[len(rep.Decisions)-1]
	if last.Verdict.Class != Configuration || !last.Systemic {
		t.Errorf("last decision = %v systemic=%v, want systemic configuration", last.Verdict.Class, last.Systemic)
	}
	want := fmt.Sprintf("pause schedule:%s|alert schedule:%s configuration", schedule, schedule)
	if got := strings.Join(rec.Calls(), "|"); got != want {
		t.Errorf("calls = %q, want %q", got, want)
	}
}
