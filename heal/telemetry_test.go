package heal

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestMonitorMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	m, _, _ := newTestMonitor(t, DryRun, WithMeterProvider(provider))
	ctx := context.Background()
	_, _ = m.Observe(ctx, Event{Target: workflowURL, RunID: "r1", Failure: Failure{Status: 401}})
	_, _ = m.Observe(ctx, Event{Target: workflowURL, RunID: "r2", Failure: Failure{Status: 503}})

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, metric := range sm.Metrics {
			data, ok := metric.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			for _, dp := range data.DataPoints {
				sums[metric.Name] += dp.Value
			}
		}
	}
	if sums["heal.failures"] != 2 {
		t.Errorf("heal.failures = %d, want 2", sums["heal.failures"])
	}
	if sums["heal.actions"] != 2 {
		t.Errorf("heal.actions = %d, want 2 (dry-run pause and alert)", sums["heal.actions"])
	}
}

func TestMonitorSpans(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	m, _, _ := newTestMonitor(t, DryRun, WithTracerProvider(provider))
	_, _ = m.Observe(context.Background(), Event{Target: workflowURL, RunID: "r1", Failure: Failure{Status: 503}})
	m.Probe(context.Background())

	var names []string
	for _, s := range recorder.Ended() {
		names = append(names, s.Name())
	}
	if len(names) != 2 || names[0] != "heal.Process" || names[1] != "heal.Probe" {
		t.Errorf("spans = %v, want heal.Process and heal.Probe", names)
	}
}
