package correlate

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/vectoremu"
)

// replay is a collector that returns the next value of each series on
// every call, stamped with the clock's time.
type replay struct {
	clock  clock.Clock
	series map[string][]float64
	next   int
}

func (r *replay) Collect(context.Context) ([]Sample, error) {
	now := r.clock.Now()
	var out []Sample
	for _, name := range sortedKeys(r.series) {
		if r.next < len(r.series[name]) {
			out = append(out, Sample{Series: name, Time: now, Value: r.series[name][r.next]})
		}
	}
	r.next++
	return out, nil
}

func steady(n int, level float64, seed int) []float64 {
	out := make([]float64, n)
	for i := range out {
		// A small deterministic wobble, so the spread is not zero.
		out[i] = level * (1 + 0.01*float64((i*7+seed)%5-2))
	}
	return out
}

func ExampleMonitor() {
	ctx := context.Background()
	fake := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	memory := steady(200, 100e6, 1)
	evicted := steady(200, 5, 2)
	for i := 150; i < 200; i++ {
		memory[i] *= 2.5 // a bulk import
	}
	for i := 152; i < 200; i++ {
		evicted[i] *= 40
	}
	src := &replay{clock: fake, series: map[string][]float64{SignalRedisMemory: memory, SignalRedisEvicted: evicted}}

	m, _ := NewMonitor(ctx, []Collector{src}, WithClock(fake),
		OnIncident(func(inc Incident) { fmt.Println(inc.Summary) }))
	for range 200 {
		m.Poll(ctx)
		fake.Advance(time.Minute)
	}
	m.Event(Event{Kind: "config", Time: fake.Now(), Detail: "nothing"})
	for range 30 {
		m.Poll(ctx)
		fake.Advance(time.Minute)
	}
	// Output:
	// redis.used_memory_bytes rose from 100M to 252M (2.5x), spike; 1 related anomaly: redis.used_memory_bytes -> redis.evicted_keys_per_sec
}

func TestMonitorLogsNoSecrets(t *testing.T) {
	emu := vectoremu.Start(t, "right-token", 4)
	v, err := NewVectorCollector(emu.URL, vectorToken)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	spans := tracetest.NewSpanRecorder()
	m, err := NewMonitor(context.Background(), []Collector{v},
		WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := m.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 1 {
		t.Fatalf("report errors = %v, want the 401", rep.Errors)
	}
	places := []string{logs.String(), fmt.Sprint(rep.Errors), fmt.Sprintf("%+v", rep)}
	ended := spans.Ended()
	if len(ended) != 1 || len(ended[0].Events()) != 1 {
		t.Fatalf("Poll recorded %d spans, want one with the collector's error as an event", len(ended))
	}
	for _, span := range ended {
		places = append(places, fmt.Sprintf("%s %+v %+v %+v", span.Name(), span.Attributes(), span.Events(), span.Status()))
	}
	for _, where := range places {
		if strings.Contains(where, vectorToken) {
			t.Errorf("token leaked: %s", where)
		}
	}
	if !strings.Contains(fmt.Sprint(rep.Errors), "collector vector") {
		t.Errorf("report error does not name the collector: %v", rep.Errors)
	}
	if !strings.Contains(logs.String(), "collector failed") {
		t.Errorf("failure not logged: %s", logs.String())
	}
}

func TestMonitorReportsKafkaVerdictOnce(t *testing.T) {
	e := newKafkaEnv(t, "stuck")
	e.produce(0, 10)
	e.commit("stuck", map[int]int64{0: 5})
	m, err := NewMonitor(context.Background(), []Collector{e.coll}, WithClock(e.clock))
	if err != nil {
		t.Fatal(err)
	}
	var lagAnomalies int
	for range 6 {
		e.produce(0, 10)
		e.clock.Advance(time.Minute)
		rep, err := m.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range rep.Anomalies {
			if a.Kind == KindLag {
				lagAnomalies++
				if a.Detail != "STOP" {
					t.Errorf("verdict = %s, want STOP", a.Detail)
				}
			}
		}
	}
	if lagAnomalies != 1 {
		t.Errorf("got %d lag anomalies over 6 polls of one stopped group, want 1", lagAnomalies)
	}
}
