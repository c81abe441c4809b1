package heal

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
)

func BenchmarkClassify(b *testing.B) {
	failures := map[string]Failure{
		"status-503": {Status: 503, Header: http.Header{"Retry-After": {"30"}}, Body: "upstream unavailable"},
		"text":       {Message: `Post "https://app.example.com/api/wf": context deadline exceeded`},
		"challenge":  {Status: 503, Body: "<title>Just a moment...</title>"},
	}
	for name, f := range failures {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Classify(f)
			}
		})
	}
}

func BenchmarkNormaliseMessage(b *testing.B) {
	msg := "run wfr_rj0Upr1rvdzGfz96fXNHh: step 3 failed after 1234 ms at 2026-01-05T09:00:00Z (order 8f14e45f-ceea-467f-a0e6-1d2a3b4c5d6e)"
	b.ReportAllocs()
	for b.Loop() {
		_ = NormaliseMessage(msg)
	}
}

func BenchmarkMonitorObserve(b *testing.B) {
	clk := clock.NewFake(epoch)
	m, err := NewMonitor(WithClock(clk), WithPolicy(Policy{Mode: Off}))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		clk.Advance(time.Second)
		_, _ = m.Observe(ctx, Event{
			Target: "https://app.example.com/api/wf", RunID: fmt.Sprint("run-", i%100), Step: "charge",
			Failure: Failure{Status: 503, URL: "https://api.vendor.example/v1/charges"},
		})
	}
}
