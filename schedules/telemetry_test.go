package schedules_test

import (
	"context"
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/upstash-ops/sdk/schedules"
)

func TestTelemetry(t *testing.T) {
	e := newEnv(t)
	e.zombie("https://api.example.com/a")

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	r := e.audit(schedules.WithMeterProvider(mp), schedules.WithTracerProvider(tp))
	ex := e.executor(schedules.Policy{Pause: schedules.ModeAutonomous},
		schedules.WithExecutorMeterProvider(mp), schedules.WithExecutorTracerProvider(tp))
	ex.Apply(context.Background(), r)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range s.DataPoints {
					sums[m.Name] += dp.Value
				}
			}
		}
	}
	if sums["upstashops.schedules.findings"] != 1 || sums["upstashops.schedules.actions"] != 1 {
		t.Errorf("counters = %v, want one finding and one action", sums)
	}

	names := map[string]bool{}
	for _, s := range spans.Ended() {
		names[s.Name()] = true
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.Emit(), e.emu.Token()) {
				t.Errorf("span %s carries the token in %s", s.Name(), kv.Key)
			}
		}
	}
	if !names["schedules.Audit"] || !names["schedules.Action"] {
		t.Errorf("spans = %v, want schedules.Audit and schedules.Action", names)
	}
}
