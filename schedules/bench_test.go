package schedules_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/qstashemu"
	"github.com/upstash-ops/sdk/schedules"
)

// benchFleet scripts 5,000 schedules with 30 days of history: 4,500 daily,
// 400 every six hours and 100 hourly. One in twenty fails on every trigger
// with 500 (one retry); the rest succeed.
func benchFleet(b *testing.B, emu *qstashemu.Server) {
	b.Helper()
	start := now.Add(-30 * 24 * time.Hour)
	for i := range 5000 {
		cron, every := fmt.Sprintf("%d %d * * *", i%60, i%24), 24*time.Hour
		switch {
		case i%50 == 0:
			cron, every = fmt.Sprintf("%d * * * *", i%60), time.Hour
		case i%50 <= 4:
			cron, every = fmt.Sprintf("%d */6 * * *", i%60), 6*time.Hour
		}
		failing := i%20 == 7
		retries := 3
		if failing {
			retries = 1
		}
		id, err := emu.AddSchedule(qstashemu.Schedule{
			Cron: cron, Destination: fmt.Sprintf("https://svc-%d.example.com/jobs/%d", i%97, i),
			Retries: retries, CreatedAt: start.Add(-24 * time.Hour),
		})
		if err != nil {
			b.Fatal(err)
		}
		attempts := []qstashemu.Attempt{qstashemu.OK()}
		if failing {
			attempts = repeat(qstashemu.Fail(500, "internal error"), 2)
		}
		for at := start.Add(time.Duration(i%60) * time.Minute); at.Before(now); at = at.Add(every) {
			if _, err := emu.Trigger(id, at, attempts...); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkAudit5000Schedules audits 5,000 schedules with 30 days of events
// through the emulator over loopback HTTP.
func BenchmarkAudit5000Schedules(b *testing.B) {
	clk := clock.NewFake(now)
	emu := qstashemu.Start(qstashemu.WithClock(clk))
	defer emu.Close()
	benchFleet(b, emu)
	src, err := schedules.NewQStash(emu.URL(), emu.Token(), schedules.WithQStashClock(clk))
	if err != nil {
		b.Fatal(err)
	}
	a, err := schedules.New(src, schedules.WithClock(clk))
	if err != nil {
		b.Fatal(err)
	}
	events := len(emu.Events(""))
	var mem runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&mem)
	setupHeap := mem.HeapInuse
	b.ReportAllocs()
	b.ResetTimer()

	startRequests, startCPU := emu.Requests(), processCPU()
	findings := 0
	for b.Loop() {
		r, err := a.Audit(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		findings = len(r.Findings)
	}
	b.ReportMetric(float64(emu.Requests()-startRequests)/float64(b.N), "requests/op")
	// CPU time of the whole process, client and emulator, which a busy
	// machine disturbs less than wall time.
	b.ReportMetric((processCPU()-startCPU).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(findings), "findings")
	b.ReportMetric(float64(events), "events")
	// The emulator's stored history, for scale: the audit itself retains
	// only its report.
	b.ReportMetric(float64(setupHeap)/(1<<20), "setup-heap-MiB")
}
