package costlint

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestMetricsObserveRecorder(t *testing.T) {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	l := New(WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	process := l.Hook().ProcessHook(okNext)
	for range 3 {
		_ = process(ctx, redis.NewStringCmd(ctx, "get", "k:1"))
	}
	_ = process(ctx, redis.NewStatusCmd(ctx, "ping"))

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	var gets int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "costlint.commands" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				if v, _ := dp.Attributes.Value("command"); v.AsString() == "get" {
					gets = dp.Value
				}
				if v, _ := dp.Attributes.Value("command"); v.AsString() == "ping" {
					t.Error("free PING reported as a billed command")
				}
			}
		}
	}
	if gets != 3 {
		t.Errorf("costlint.commands{command=get} = %d, want 3", gets)
	}
}

func TestReportSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	l := New(WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))))
	_ = l.Report()
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != "costlint.Report" {
		t.Fatalf("spans = %v, want one costlint.Report", spans)
	}
}
