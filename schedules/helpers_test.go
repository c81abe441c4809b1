package schedules_test

import (
	"context"
	"testing"
	"time"

	qstashgo "github.com/upstash/qstash-go"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/qstashemu"
	"github.com/upstash-ops/sdk/schedules"
)

// now is the fake time at which the tests audit.
var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// env is an emulator, the real qstash-go client pointed at it, and the
// SDK's QStash source, all on one fake clock.
type env struct {
	t     *testing.T
	clk   *clock.Fake
	emu   *qstashemu.Server
	go_   *qstashgo.Client
	qs    *schedules.QStash
	retry int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clk := clock.NewFake(now)
	emu := qstashemu.StartT(t, qstashemu.WithClock(clk))
	t.Setenv("QSTASH_URL", "")
	gc := qstashgo.NewClientWith(qstashgo.Options{Url: emu.URL(), Token: emu.Token(), Client: emu.Client()})
	qs, err := schedules.NewQStash(emu.URL(), emu.Token(), schedules.WithQStashClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, clk: clk, emu: emu, go_: gc, qs: qs}
}

// create makes a schedule through qstash-go as if at time at, and returns
// its id.
func (e *env) create(at time.Time, destination, cron string, retries int, body string) string {
	e.t.Helper()
	e.clk.Set(at)
	defer e.clk.Set(now)
	id, err := e.go_.Schedules().Create(qstashgo.ScheduleOptions{
		Destination: destination, Cron: cron, Retries: qstashgo.RetryCount(retries), Body: body,
		ContentType: "application/json",
	})
	if err != nil {
		e.t.Fatalf("create schedule for %s: %v", destination, err)
	}
	return id
}

// fire scripts triggers of a schedule at every interval from first to last
// (inclusive), each with the attempts that attemptsAt returns.
func (e *env) fire(id string, first, last time.Time, every time.Duration, attemptsAt func(time.Time) []qstashemu.Attempt) {
	e.t.Helper()
	for at := first; !at.After(last); at = at.Add(every) {
		if _, err := e.emu.Trigger(id, at, attemptsAt(at)...); err != nil {
			e.t.Fatal(err)
		}
	}
}

// repeat returns n copies of an attempt: a first try and n-1 retries.
func repeat(a qstashemu.Attempt, n int) []qstashemu.Attempt {
	out := make([]qstashemu.Attempt, n)
	for i := range out {
		out[i] = a
	}
	return out
}

func (e *env) audit(opts ...schedules.Option) *schedules.Report {
	e.t.Helper()
	a, err := schedules.New(e.qs, append([]schedules.Option{schedules.WithClock(e.clk)}, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := a.Audit(context.Background())
	if err != nil {
		e.t.Fatalf("Audit: %v", err)
	}
	return r
}

// findings returns the findings of one schedule.
func findings(r *schedules.Report, id string) []schedules.Finding {
	var out []schedules.Finding
	for _, f := range r.Findings {
		if f.ScheduleID == id {
			out = append(out, f)
		}
	}
	return out
}

// only returns the single finding of a schedule, failing otherwise.
func only(t *testing.T, r *schedules.Report, id string) schedules.Finding {
	t.Helper()
	fs := findings(r, id)
	if len(fs) != 1 {
		t.Fatalf("schedule %s has %d findings, want 1: %+v", id, len(fs), fs)
	}
	return fs[0]
}

// advanceWhileWaiting moves clk forward whenever something waits on it,
// until the test ends, so rate-limit waits pass without sleeping.
func advanceWhileWaiting(t *testing.T, clk *clock.Fake) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for clk.BlockUntil(ctx, 1) == nil {
			clk.Advance(time.Second)
		}
	}()
}
