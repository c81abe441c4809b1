package schedules_test

import (
	"context"
	"fmt"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/qstashemu"
	"github.com/upstash-ops/sdk/schedules"
)

// The auditor reads schedules and their delivery history, here from the
// in-process emulator with a scripted history, and explains each finding.
func ExampleAuditor_Audit() {
	clk := clock.NewFake(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	emu := qstashemu.Start(qstashemu.WithClock(clk))
	defer emu.Close()

	// A preview deployment was deleted two hours ago; its schedule still
	// fires every hour.
	id, _ := emu.AddSchedule(qstashemu.Schedule{
		ID: "preview-sync", Cron: "0 * * * *", Destination: "https://app-git-feature.vercel.app/api/sync",
		CreatedAt: clk.Now().Add(-7 * 24 * time.Hour),
	})
	for h := 3; h >= 1; h-- {
		_, _ = emu.Trigger(id, clk.Now().Add(-time.Duration(h)*time.Hour), qstashemu.Fail(404, "DEPLOYMENT_NOT_FOUND"))
	}

	src, err := schedules.NewQStash(emu.URL(), emu.Token())
	if err != nil {
		fmt.Println(err)
		return
	}
	auditor, err := schedules.New(src, schedules.WithClock(clk))
	if err != nil {
		fmt.Println(err)
		return
	}
	report, err := auditor.Audit(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range report.Findings {
		fmt.Println(f.Kind, f.ScheduleID, f.Recommendation)
		fmt.Println(f.Summary)
	}
	// Output:
	// endpoint_gone preview-sync delete
	// Schedule preview-sync (every hour, on the hour, every day (UTC); POST https://app-git-feature.vercel.app/api/sync) targets an endpoint that no longer exists. 3 of the last 3 completed triggers failed, the latest with 404 Not Found, body "DEPLOYMENT_NOT_FOUND". No successful delivery since 2026-11-20 09:00 UTC, the oldest event read. 3 of its messages are in the DLQ. Messages in the last 30 days: 168 (168 triggers, 3 delivery attempts seen). Next 30 days: 720 messages, $0.0072. Recommendation: delete the schedule, or point it at the endpoint's new address.
}

// An Executor acts on a report within a policy. The zero Policy is a dry
// run: it reports what it would do and changes nothing.
func ExampleExecutor_Apply() {
	clk := clock.NewFake(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	emu := qstashemu.Start(qstashemu.WithClock(clk))
	defer emu.Close()
	id, _ := emu.AddSchedule(qstashemu.Schedule{ID: "report-job", Cron: "0 * * * *", Destination: "https://api.example.com/report"})
	for h := 10; h >= 1; h-- {
		_, _ = emu.Trigger(id, clk.Now().Add(-time.Duration(h)*time.Hour), qstashemu.Fail(503, "upstream unavailable"))
	}

	src, _ := schedules.NewQStash(emu.URL(), emu.Token())
	auditor, _ := schedules.New(src, schedules.WithClock(clk))
	report, _ := auditor.Audit(context.Background())

	dryRun, _ := schedules.NewExecutor(src, schedules.Policy{})
	for _, r := range dryRun.Apply(context.Background(), report) {
		fmt.Println(r)
	}
	pauser, _ := schedules.NewExecutor(src, schedules.Policy{Pause: schedules.ModeAutonomous})
	for _, r := range pauser.Apply(context.Background(), report) {
		fmt.Println(r)
	}
	// Output:
	// pause report-job: dry-run (policy dry-run)
	// pause report-job: done (policy autonomous)
}
