package correlate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/upstash-ops/sdk/internal/clock"
)

// AnomalyReporter is an optional interface of a Collector that judges its
// own data, as the Kafka collector does with its lag verdicts. The Monitor
// calls Anomalies after each successful Collect.
type AnomalyReporter interface {
	Anomalies() []Anomaly
}

// collectorName returns the collector's Name when it has one (the built-in
// collectors do), otherwise its position in the Monitor's list.
func collectorName(c Collector, i int) string {
	if n, ok := c.(interface{ Name() string }); ok {
		return n.Name()
	}
	return fmt.Sprintf("#%d", i)
}

// Report is the outcome of one Monitor poll.
type Report struct {
	Time        time.Time
	Samples     int
	Anomalies   []Anomaly    // onsets found in this poll
	Incidents   []Incident   // incidents closed in this poll, repeats excluded
	Projections []Projection // projections that reach a limit of the plan
	Errors      []error      // collectors that failed; the others still ran
}

// MonitorOption configures a Monitor.
type MonitorOption interface{ applyMonitor(*Monitor) }

type monitorOptionFunc func(*Monitor)

func (f monitorOptionFunc) applyMonitor(m *Monitor) { f(m) }

// WithDetector sets the Detector. Default NewDetector().
func WithDetector(d *Detector) MonitorOption {
	return monitorOptionFunc(func(m *Monitor) { m.detector = d })
}

// WithCorrelator sets the Correlator. Default NewCorrelator().
func WithCorrelator(c *Correlator) MonitorOption {
	return monitorOptionFunc(func(m *Monitor) { m.correlator = c })
}

// WithPlan sets the plan whose limits every poll projects growth toward.
// Default none: no projections.
func WithPlan(p Plan) MonitorOption { return monitorOptionFunc(func(m *Monitor) { m.plan = &p }) }

// WithBaselineStore loads baselines from store when the Monitor is created
// and saves them every saveEvery polls (every 60 polls when zero). Default
// none: baselines live in memory only.
func WithBaselineStore(store BaselineStore, saveEvery int) MonitorOption {
	return monitorOptionFunc(func(m *Monitor) {
		m.store = store
		m.saveEvery = saveEvery
		if m.saveEvery <= 0 {
			m.saveEvery = 60
		}
	})
}

// WithClock sets the clock that stamps polls and paces Run. Default the
// system clock.
func WithClock(c clock.Clock) MonitorOption {
	return monitorOptionFunc(func(m *Monitor) { m.clock = c })
}

// WithLogger sets the logger for collector failures and incidents. Default
// silent.
func WithLogger(l *slog.Logger) MonitorOption {
	return monitorOptionFunc(func(m *Monitor) { m.log = l })
}

// WithMeterProvider sets the OpenTelemetry meter provider. The default is
// the global provider.
func WithMeterProvider(mp metric.MeterProvider) MonitorOption {
	return monitorOptionFunc(func(m *Monitor) { m.meterProvider = mp })
}

// WithTracerProvider sets the OpenTelemetry tracer provider. The default is
// the global provider.
func WithTracerProvider(tp trace.TracerProvider) MonitorOption {
	return monitorOptionFunc(func(m *Monitor) { m.tracerProvider = tp })
}

// OnIncident sets a function called with every incident the Monitor
// reports, from the goroutine that polls.
func OnIncident(fn func(Incident)) MonitorOption {
	return monitorOptionFunc(func(m *Monitor) { m.onIncident = fn })
}

// Monitor runs collectors, feeds their samples to a Detector, groups the
// onsets in a Correlator and projects growth to a plan's limits. Poll runs
// one round; Run polls on an interval. Poll is not meant to be called
// concurrently; Event is safe to call at any time.
type Monitor struct {
	collectors []Collector
	detector   *Detector
	correlator *Correlator
	projector  *Projector
	plan       *Plan
	store      BaselineStore
	saveEvery  int
	clock      clock.Clock
	log        *slog.Logger
	onIncident func(Incident)

	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
	tracer         trace.Tracer
	samples        metric.Int64Counter
	anomalies      metric.Int64Counter
	incidents      metric.Int64Counter

	polls int
}

// NewMonitor returns a Monitor over the collectors. When a baseline store
// is set, it loads the stored baselines first. A load that fails is logged
// and is not an error: when the store cannot be read every series starts
// empty, and when some baselines are corrupt only those series do.
func NewMonitor(ctx context.Context, collectors []Collector, opts ...MonitorOption) (*Monitor, error) {
	m := &Monitor{collectors: collectors, clock: clock.Real, projector: NewProjector(time.Hour)}
	for _, o := range opts {
		o.applyMonitor(m)
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if m.detector == nil {
		if m.detector, err = NewDetector(); err != nil {
			return nil, err
		}
	}
	if m.correlator == nil {
		if m.correlator, err = NewCorrelator(); err != nil {
			return nil, err
		}
	}
	if err := m.instrument(); err != nil {
		return nil, err
	}
	if m.store != nil {
		n, err := m.detector.Load(ctx, m.store)
		if err != nil {
			m.log.Warn("correlate: loading baselines failed", "err", err, "loaded", n)
		}
	}
	return m, nil
}

func (m *Monitor) instrument() error {
	mp := m.meterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	tp := m.tracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	const scope = "github.com/upstash-ops/sdk/correlate"
	m.tracer = tp.Tracer(scope)
	meter := mp.Meter(scope)
	var err error
	if m.samples, err = meter.Int64Counter("correlate.samples", metric.WithDescription("Samples observed")); err != nil {
		return err
	}
	if m.anomalies, err = meter.Int64Counter("correlate.anomalies", metric.WithDescription("Anomaly onsets found")); err != nil {
		return err
	}
	m.incidents, err = meter.Int64Counter("correlate.incidents", metric.WithDescription("Incidents reported, repeats excluded"))
	return err
}

// Event records an event, such as a deploy, as a candidate root cause.
func (m *Monitor) Event(e Event) { m.correlator.Event(e) }

// Poll runs every collector once and returns what was found. A collector
// that fails is logged and listed in Report.Errors; the error returned is
// non-nil only when ctx ends.
func (m *Monitor) Poll(ctx context.Context) (Report, error) {
	ctx, span := m.tracer.Start(ctx, "correlate.Monitor.Poll")
	defer span.End()
	now := m.clock.Now()
	rep := Report{Time: now}

	for i, c := range m.collectors {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		samples, err := c.Collect(ctx)
		if err != nil {
			name := collectorName(c, i)
			m.log.Warn("correlate: collector failed", "collector", name, "err", err)
			rep.Errors = append(rep.Errors, fmt.Errorf("collector %s: %w", name, err))
			span.RecordError(err, trace.WithAttributes(attribute.String("correlate.collector", name)))
		}
		m.observe(ctx, samples, &rep)
		if ar, ok := c.(AnomalyReporter); ok && err == nil {
			for _, a := range ar.Anomalies() {
				m.addAnomaly(ctx, a, &rep)
			}
		}
	}

	for _, inc := range m.correlator.Flush(now) {
		m.report(ctx, inc, &rep)
	}
	if m.plan != nil {
		for _, p := range m.projector.Check(*m.plan, now) {
			if p.Reaches {
				rep.Projections = append(rep.Projections, p)
			}
		}
	}

	m.polls++
	if m.store != nil && m.polls%m.saveEvery == 0 {
		if err := m.detector.Save(ctx, m.store); err != nil {
			m.log.Warn("correlate: saving baselines failed", "err", err)
			rep.Errors = append(rep.Errors, err)
		}
	}
	span.SetAttributes(attribute.Int("correlate.samples", rep.Samples), attribute.Int("correlate.incidents", len(rep.Incidents)))
	if len(rep.Errors) > 0 {
		span.SetStatus(codes.Error, fmt.Sprintf("%d collectors or saves failed", len(rep.Errors)))
	}
	return rep, nil
}

func (m *Monitor) observe(ctx context.Context, samples []Sample, rep *Report) {
	for _, s := range samples {
		sc, err := m.detector.Observe(s)
		if err != nil {
			m.log.Debug("correlate: sample skipped", "series", s.Series, "err", err)
			continue
		}
		rep.Samples++
		m.projector.Observe(s)
		if sc.Onset != nil {
			m.addAnomaly(ctx, *sc.Onset, rep)
		}
	}
	m.samples.Add(ctx, int64(len(samples)))
}

func (m *Monitor) addAnomaly(ctx context.Context, a Anomaly, rep *Report) {
	rep.Anomalies = append(rep.Anomalies, a)
	m.anomalies.Add(ctx, 1, metric.WithAttributes(attribute.String("signal", SignalOf(a.Series)), attribute.String("kind", a.Kind.String())))
	for _, inc := range m.correlator.Add(a) {
		m.report(ctx, inc, rep)
	}
}

func (m *Monitor) report(ctx context.Context, inc Incident, rep *Report) {
	rep.Incidents = append(rep.Incidents, inc)
	m.incidents.Add(ctx, 1)
	m.log.Info("correlate: incident", "id", inc.ID, "summary", inc.Summary)
	if m.onIncident != nil {
		m.onIncident(inc)
	}
}

// Run polls every interval until ctx ends, then saves the baselines when a
// store is set. It returns ctx's error.
func (m *Monitor) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return errors.New("correlate: poll interval must be positive")
	}
	for {
		if _, err := m.Poll(ctx); err != nil {
			break
		}
		if err := clock.Sleep(ctx, m.clock, every); err != nil {
			break
		}
	}
	if m.store != nil {
		// The run's context has ended; the final save gets its own short one.
		saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := m.detector.Save(saveCtx, m.store); err != nil {
			m.log.Warn("correlate: saving baselines failed", "err", err)
		}
	}
	return ctx.Err()
}
