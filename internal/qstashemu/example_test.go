package qstashemu_test

import (
	"fmt"
	"time"

	qstash "github.com/upstash/qstash-go"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/qstashemu"
)

// A test scripts a schedule and its deliveries, then reads them back with
// the real qstash-go client.
func ExampleServer_Trigger() {
	clk := clock.NewFake(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	emu := qstashemu.Start(qstashemu.WithClock(clk))
	defer emu.Close()

	id, _ := emu.AddSchedule(qstashemu.Schedule{ID: "sync", Cron: "0 * * * *", Destination: "https://api.example.com/sync", Retries: 1})
	_, _ = emu.Trigger(id, clk.Now().Add(-2*time.Hour), qstashemu.OK())
	_, _ = emu.Trigger(id, clk.Now().Add(-time.Hour), qstashemu.Fail(502, "bad gateway"), qstashemu.Fail(502, "bad gateway"))

	// qstash-go v1.0.0 prefers a QSTASH_URL environment variable to Url;
	// this example needs it unset.
	client := qstash.NewClientWith(qstash.Options{Url: emu.URL(), Token: emu.Token()})
	events, _, err := client.Events().List(qstash.ListEventsOptions{Filter: qstash.EventFilter{ScheduleId: id}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range events {
		fmt.Println(time.UnixMilli(e.Time).UTC().Format("15:04:05"), e.State)
	}
	fmt.Println("dead letters:", len(emu.DLQ()))
	// Output:
	// 11:00:12 FAILED
	// 11:00:12 ACTIVE
	// 11:00:00 RETRY
	// 11:00:00 ERROR
	// 11:00:00 ACTIVE
	// 11:00:00 CREATED
	// 10:00:00 DELIVERED
	// 10:00:00 ACTIVE
	// 10:00:00 CREATED
	// dead letters: 1
}
