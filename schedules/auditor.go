package schedules

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/qstash/cron"
)

const instrumentationName = "github.com/upstash-ops/sdk/schedules"

// Thresholds tune the rules. A zero field takes its default; to switch a
// rule off, use WithoutRules.
type Thresholds struct {
	// ZombieTriggers is how many of the latest completed triggers must all
	// have failed with 5xx for a zombie. Default 10.
	ZombieTriggers int
	// DegradedRatio is the share of failed triggers among the latest
	// ZombieTriggers completed ones, with at least one success, from which a
	// schedule is degraded. Default 0.5.
	DegradedRatio float64
	// GoneTriggers is how many of the latest completed triggers must have
	// failed with 404, 410, an unresolvable host or a refused connection.
	// Default 3.
	GoneTriggers int
	// MisconfiguredTriggers is how many of the latest completed triggers must
	// have failed with the same misconfiguration. Default 3.
	MisconfiguredTriggers int
	// DeadLetters is how many DLQ entries of one schedule within the
	// lookback window make a finding. Default 3.
	DeadLetters int
	// PausedFor is how long a schedule must have been paused, judged by its
	// last trigger or else its creation. Default 14 days.
	PausedFor time.Duration
	// NeverSucceededAfter is the minimum age of a schedule, with at least one
	// failed trigger and no success, reported as never succeeded. Default 24
	// hours.
	NeverSucceededAfter time.Duration
}

func (t Thresholds) withDefaults() Thresholds {
	if t.ZombieTriggers <= 0 {
		t.ZombieTriggers = 10
	}
	if t.DegradedRatio <= 0 || t.DegradedRatio > 1 {
		t.DegradedRatio = 0.5
	}
	if t.GoneTriggers <= 0 {
		t.GoneTriggers = 3
	}
	if t.MisconfiguredTriggers <= 0 {
		t.MisconfiguredTriggers = 3
	}
	if t.DeadLetters <= 0 {
		t.DeadLetters = 3
	}
	if t.PausedFor <= 0 {
		t.PausedFor = 14 * 24 * time.Hour
	}
	if t.NeverSucceededAfter <= 0 {
		t.NeverSucceededAfter = 24 * time.Hour
	}
	return t
}

// Defaults of the Auditor options.
const (
	DefaultLookback             = 30 * 24 * time.Hour
	DefaultMaxEventsPerSchedule = 5000
	DefaultConcurrency          = 4
)

type config struct {
	clock          clock.Clock
	logger         *slog.Logger
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
	thresholds     Thresholds
	disabled       map[Kind]bool
	codeIndex      CodeIndex
	price          float64
	lookback       time.Duration
	maxEvents      int
	concurrency    int
}

// Option configures an Auditor.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithClock sets the clock that defines "now" for an audit. The default is
// the system clock.
func WithClock(c clock.Clock) Option { return optionFunc(func(cfg *config) { cfg.clock = c }) }

// WithLogger sets the logger for per-schedule errors. The default discards.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(cfg *config) { cfg.logger = l }) }

// WithMeterProvider sets the meter provider. The default is the global one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(cfg *config) { cfg.meterProvider = mp })
}

// WithTracerProvider sets the tracer provider. The default is the global
// one.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(cfg *config) { cfg.tracerProvider = tp })
}

// WithThresholds sets the rule thresholds; zero fields keep their defaults.
func WithThresholds(t Thresholds) Option { return optionFunc(func(cfg *config) { cfg.thresholds = t }) }

// WithoutRules switches rules off. By default every rule runs, and
// KindStaleCode runs only with WithCodeIndex.
func WithoutRules(kinds ...Kind) Option {
	return optionFunc(func(cfg *config) {
		for _, k := range kinds {
			cfg.disabled[k] = true
		}
	})
}

// WithCodeIndex enables the stale-code rule with the given index.
func WithCodeIndex(ix CodeIndex) Option { return optionFunc(func(cfg *config) { cfg.codeIndex = ix }) }

// WithPricePer100K sets the price of 100,000 messages in US dollars. The
// default is DefaultPricePer100K.
func WithPricePer100K(usd float64) Option { return optionFunc(func(cfg *config) { cfg.price = usd }) }

// WithLookback sets how far back the audit reads events and dead letters.
// The default is DefaultLookback (30 days).
func WithLookback(d time.Duration) Option { return optionFunc(func(cfg *config) { cfg.lookback = d }) }

// WithMaxEventsPerSchedule bounds the events read per schedule, and so the
// memory and requests one schedule can cost. Each event keeps at most 16 KiB
// of its response body, so an audit holds at most about n x 16 KiB of bodies
// per schedule read at once (see WithConcurrency). The default is
// DefaultMaxEventsPerSchedule.
func WithMaxEventsPerSchedule(n int) Option {
	return optionFunc(func(cfg *config) { cfg.maxEvents = n })
}

// WithConcurrency sets how many schedules are read at once. The default is
// DefaultConcurrency.
func WithConcurrency(n int) Option { return optionFunc(func(cfg *config) { cfg.concurrency = n }) }

// Auditor finds schedules that no longer serve a purpose, explains why and
// prices them. It reads through a Source and never changes anything; the
// Executor acts on its reports. An Auditor is safe for concurrent use.
type Auditor struct {
	src      Source
	cfg      config
	tracer   trace.Tracer
	findings metric.Int64Counter
	duration metric.Float64Histogram
}

// New returns an Auditor that reads from src.
func New(src Source, opts ...Option) (*Auditor, error) {
	if src == nil {
		return nil, errors.New("schedules: New: nil Source")
	}
	cfg := config{disabled: map[Kind]bool{}}
	for _, o := range opts {
		o.apply(&cfg)
	}
	cfg.clock = clock.Or(cfg.clock)
	cfg.thresholds = cfg.thresholds.withDefaults()
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.meterProvider == nil {
		cfg.meterProvider = otel.GetMeterProvider()
	}
	if cfg.tracerProvider == nil {
		cfg.tracerProvider = otel.GetTracerProvider()
	}
	if cfg.price < 0 {
		return nil, fmt.Errorf("schedules: New: negative price per 100K messages %v", cfg.price)
	}
	if cfg.price == 0 {
		cfg.price = DefaultPricePer100K
	}
	if cfg.lookback <= 0 {
		cfg.lookback = DefaultLookback
	}
	if cfg.maxEvents <= 0 {
		cfg.maxEvents = DefaultMaxEventsPerSchedule
	}
	if cfg.concurrency <= 0 {
		cfg.concurrency = DefaultConcurrency
	}

	a := &Auditor{src: src, cfg: cfg, tracer: cfg.tracerProvider.Tracer(instrumentationName)}
	meter := cfg.meterProvider.Meter(instrumentationName)
	var err error
	if a.findings, err = meter.Int64Counter("upstashops.schedules.findings",
		metric.WithDescription("Findings reported by schedule audits, by kind.")); err != nil {
		return nil, fmt.Errorf("schedules: New: %w", err)
	}
	if a.duration, err = meter.Float64Histogram("upstashops.schedules.audit.duration",
		metric.WithUnit("s"), metric.WithDescription("Wall time of schedule audits.")); err != nil {
		return nil, fmt.Errorf("schedules: New: %w", err)
	}
	return a, nil
}

// ScheduleError is a schedule whose history could not be read. The audit
// goes on without it.
type ScheduleError struct {
	ScheduleID string `json:"scheduleId"`
	Err        string `json:"error"`
}

// Audit reads every schedule, its events and the DLQ, and returns a report
// of findings sorted by severity and then by upper monthly cost. It fails
// when the schedule list or the DLQ cannot be read, or when ctx ends. A
// schedule whose events fail to load is listed in Report.Errors instead.
func (a *Auditor) Audit(ctx context.Context) (*Report, error) {
	start := time.Now()
	now := a.cfg.clock.Now()
	ctx, span := a.tracer.Start(ctx, "schedules.Audit")
	defer span.End()

	list, err := a.src.ListSchedules(ctx)
	if err != nil {
		span.RecordError(err)
		return nil, fmt.Errorf("schedules: list schedules: %w", err)
	}
	since := now.Add(-a.cfg.lookback)
	// One summary per listed schedule, so memory follows the number of
	// schedules and not the size of the DLQ.
	deadLetters := make(map[string]*dlqSummary, len(list))
	for _, s := range list {
		deadLetters[s.ID] = &dlqSummary{}
	}
	if !a.cfg.disabled[KindDeadLetters] {
		err := a.src.EachDeadLetter(ctx, since, func(d DeadLetter) bool {
			if sum := deadLetters[d.ScheduleID]; sum != nil {
				sum.add(d)
			}
			return true
		})
		if err != nil {
			span.RecordError(err)
			return nil, fmt.Errorf("schedules: list dead letters: %w", err)
		}
	}

	report := &Report{GeneratedAt: now, Schedules: len(list), PricePer100K: a.cfg.price}
	results := a.auditEach(ctx, list, deadLetters, now)
	for i, r := range results {
		if r.err != nil {
			report.Errors = append(report.Errors, ScheduleError{ScheduleID: list[i].ID, Err: r.err.Error()})
			continue
		}
		report.Findings = append(report.Findings, r.findings...)
	}
	report.Findings = append(report.Findings, a.duplicates(list, results)...)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("schedules: audit: %w", err)
	}

	sortFindings(report.Findings)
	for _, f := range report.Findings {
		a.findings.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", string(f.Kind))))
	}
	span.SetAttributes(attribute.Int("schedules", len(list)), attribute.Int("findings", len(report.Findings)))
	a.duration.Record(ctx, time.Since(start).Seconds())
	return report, nil
}

// dlqSummary is what the audit keeps of one schedule's dead letters.
type dlqSummary struct {
	count  int
	latest DeadLetter // with its body cut to an excerpt
}

func (d *dlqSummary) add(dl DeadLetter) {
	d.count++
	if d.count == 1 || dl.CreatedAt.After(d.latest.CreatedAt) {
		// Copy the start of the body so the full body can be collected.
		dl.ResponseBody = bytes.Clone(dl.ResponseBody[:min(len(dl.ResponseBody), 4*bodyExcerptBytes)])
		d.latest = dl
	}
}

// maxKeptBodyBytes bounds the response body kept per event. The rules
// read no further: challenge pages are recognised in their first 16 KiB.
const maxKeptBodyBytes = 16 << 10

type scheduleResult struct {
	parsed   *cron.Schedule
	history  *history
	cost     Cost
	findings []Finding
	err      error
}

// auditEach audits schedules with a bounded number of workers and returns
// one result per schedule, in list order.
func (a *Auditor) auditEach(ctx context.Context, list []Schedule, dlq map[string]*dlqSummary, now time.Time) []scheduleResult {
	results := make([]scheduleResult, len(list))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(a.cfg.concurrency, max(len(list), 1)) {
		wg.Go(func() {
			for i := range next {
				results[i] = a.auditOne(ctx, list[i], *dlq[list[i].ID], now)
			}
		})
	}
	for i := range list {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

func (a *Auditor) auditOne(ctx context.Context, s Schedule, dlq dlqSummary, now time.Time) scheduleResult {
	var r scheduleResult
	r.parsed, _ = cron.Parse(s.Cron)

	since := now.Add(-a.cfg.lookback)
	var events []Event
	need := max(a.cfg.thresholds.ZombieTriggers, a.cfg.thresholds.GoneTriggers, a.cfg.thresholds.MisconfiguredTriggers)
	completed := map[string]bool{}
	truncated := false
	err := a.src.EachEvent(ctx, s.ID, since, func(e Event) bool {
		if len(events) >= a.cfg.maxEvents {
			truncated = true
			return false
		}
		if len(e.ResponseBody) > maxKeptBodyBytes {
			// Copy the start, so that the source's full body can be freed.
			e.ResponseBody = bytes.Clone(e.ResponseBody[:maxKeptBodyBytes])
		}
		events = append(events, e)
		if e.State == "DELIVERED" || e.State == "FAILED" {
			completed[e.MessageID] = true
		}
		// Stop once there are enough triggers to judge and a success to
		// date the last good delivery.
		if len(completed) > need && e.State == "DELIVERED" {
			truncated = true
			return false
		}
		return true
	})
	if err != nil {
		a.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "schedule audit failed to read events",
			slog.String("schedule_id", s.ID), slog.String("error", err.Error()))
		r.err = fmt.Errorf("read events of schedule %q: %w", s.ID, err)
		return r
	}
	r.history = buildHistory(events)
	r.history.complete = !truncated
	r.cost = estimateCost(s, r.parsed, r.history, now, a.cfg.price)
	r.findings = a.evaluate(ctx, s, r.parsed, r.history, dlq, r.cost, now)
	// Results stay in memory until every schedule is audited, so keep only
	// what the duplicate rule reads, not the triggers and their bodies.
	r.history = &history{lastSuccess: r.history.lastSuccess, oldestEvent: r.history.oldestEvent, complete: r.history.complete}
	return r
}

// sortFindings orders by severity, then upper monthly cost, then schedule id
// and kind, so reports are stable.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(x, y Finding) int {
		switch {
		case x.Severity != y.Severity:
			return int(y.Severity) - int(x.Severity)
		case x.Cost.USDUpperMonth != y.Cost.USDUpperMonth:
			if x.Cost.USDUpperMonth > y.Cost.USDUpperMonth {
				return -1
			}
			return 1
		case x.ScheduleID != y.ScheduleID:
			if x.ScheduleID < y.ScheduleID {
				return -1
			}
			return 1
		}
		if x.Kind < y.Kind {
			return -1
		}
		if x.Kind > y.Kind {
			return 1
		}
		return 0
	})
}
