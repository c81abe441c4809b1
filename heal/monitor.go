package heal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/upstash-ops/sdk/internal/clock"
)

// Event is one failure the Monitor looks at: a failed workflow step, a
// QStash delivery in the DLQ, or a failure of one of the app's own jobs.
type Event struct {
	// Target is what a pause acts on: a workflow URL, a schedule id or a
	// job name. It is required.
	Target string
	// RunID identifies the run, so that retries of one run count once.
	RunID string
	// Step is the workflow step or job stage.
	Step    string
	Failure Failure
	// Time is when the failure happened; zero means the Monitor's clock.
	Time time.Time
	// Silent marks a run that succeeded although a call in it failed, such
	// as a context.call step that received a 5xx.
	Silent bool
	// Input is an excerpt of the run's input, for a review.
	Input string
	// Own marks the failed URL as the app's own endpoint whatever its
	// host. DeliveryEvent sets it, because QStash delivers to the app's
	// endpoints.
	Own bool
}

// Decision is the Monitor's conclusion about one event.
type Decision struct {
	// Event is the caller's event unchanged, secrets included; the other
	// fields and every Alert, Review, AuditRecord and log line have secrets
	// replaced with REDACTED.
	Event       Event
	Verdict     Verdict
	Fingerprint Fingerprint
	// Runs is how many distinct runs failed this way within the window, at
	// most the pattern threshold.
	Runs int
	// Systemic is true when Runs reached the pattern threshold.
	Systemic bool
	// Actions are the audit records of the actions this event caused.
	Actions []AuditRecord
}

// Report is the result of one pass.
type Report struct {
	Decisions []Decision
	// Actions are the final audit records of every action in the pass,
	// including resumes from probes.
	Actions []AuditRecord
	// Probes are the dependency probes the pass ran.
	Probes []ProbeResult
}

// Source yields failure events, such as the Workflow logs or the QStash
// DLQ. Each Fetch returns the events that are new since the last one. It
// may return events together with an error when it read only part of
// what it asked for.
type Source interface {
	Fetch(ctx context.Context) ([]Event, error)
}

// Defaults of the Monitor.
const (
	DefaultPatternRuns     = 3
	DefaultPatternWindow   = time.Hour
	DefaultMaxFingerprints = 1024
	DefaultHealthyProbes   = 2
	DefaultProbeBase       = 30 * time.Second
	DefaultProbeMax        = 10 * time.Minute
	maxAuditTrail          = 512
	maxDependencies        = 256
	maxPausedTargets       = 1024
	maxReviewExcerpt       = 1 << 10
)

// ErrMissingTarget is returned for an Event without a Target.
var ErrMissingTarget = errors.New("heal: event has no target")

// Option configures a Monitor.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (fn optionFunc) apply(c *config) { fn(c) }

type config struct {
	policy          Policy
	pauser          Pauser
	alerter         Alerter
	reviewer        Reviewer
	checker         DependencyChecker
	approver        Approver
	audit           AuditSink
	classifier      *Classifier
	clock           clock.Clock
	patternRuns     int
	patternWindow   time.Duration
	maxFingerprints int
	ownHosts        map[string]bool
	healthyProbes   int
	probeBase       time.Duration
	probeMax        time.Duration
	logger          *slog.Logger
	meterProvider   metric.MeterProvider
	tracerProvider  trace.TracerProvider
}

// WithPolicy sets the action policy. The default is a dry run.
func WithPolicy(p Policy) Option { return optionFunc(func(c *config) { c.policy = p }) }

// WithPauser sets what pauses and resumes targets. Without one, pause and
// resume actions end as OutcomeNoHandler.
func WithPauser(p Pauser) Option { return optionFunc(func(c *config) { c.pauser = p }) }

// WithAlerter sets where alerts go. Without one, alerts end as
// OutcomeNoHandler.
func WithAlerter(a Alerter) Option { return optionFunc(func(c *config) { c.alerter = a }) }

// WithReviewer sets who reviews logical failures. Without one, reviews end
// as OutcomeNoHandler.
func WithReviewer(r Reviewer) Option { return optionFunc(func(c *config) { c.reviewer = r }) }

// WithDependencyChecker sets how dependencies are probed. The default is
// an HTTPChecker with http.DefaultClient that GETs each dependency's
// origin.
func WithDependencyChecker(d DependencyChecker) Option {
	return optionFunc(func(c *config) { c.checker = d })
}

// WithApprover sets who approves actions in Approval mode. NewMonitor
// fails in Approval mode without one.
func WithApprover(a Approver) Option { return optionFunc(func(c *config) { c.approver = a }) }

// WithAuditSink sends every audit record to s as well as to the in-memory
// trail. The default is the in-memory trail only.
func WithAuditSink(s AuditSink) Option { return optionFunc(func(c *config) { c.audit = s }) }

// WithClassifier sets the classifier, so that the app's rules run first.
// The default runs the built-in rules only.
func WithClassifier(cl *Classifier) Option { return optionFunc(func(c *config) { c.classifier = cl }) }

// WithClock sets the clock for windows and probe backoff. The default is
// the system clock.
func WithClock(clk clock.Clock) Option {
	return optionFunc(func(c *config) { c.clock = clock.Or(clk) })
}

// WithPattern sets how many distinct runs failing the same way within span
// make a systemic pattern. The default is 3 runs in an hour.
func WithPattern(runs int, span time.Duration) Option {
	return optionFunc(func(c *config) { c.patternRuns, c.patternWindow = runs, span })
}

// WithMaxFingerprints bounds the fingerprints the window keeps; the least
// recently seen is evicted first. The default is 1024.
func WithMaxFingerprints(n int) Option { return optionFunc(func(c *config) { c.maxFingerprints = n }) }

// WithOwnHosts names hosts (host or host:port) that belong to the app, in
// addition to the host of each event's Target. A repeating failure against
// an own host points at code or configuration, against any other host at
// a dependency.
func WithOwnHosts(hosts ...string) Option {
	return optionFunc(func(c *config) {
		for _, h := range hosts {
			c.ownHosts[strings.ToLower(h)] = true
		}
	})
}

// WithHealthyProbes sets how many consecutive healthy probes resume what a
// dependency failure paused. The default is 2, so one good probe never
// resumes.
func WithHealthyProbes(n int) Option { return optionFunc(func(c *config) { c.healthyProbes = n }) }

// WithProbeBackoff sets the wait before the first probe and the cap of its
// doubling after unhealthy probes. The defaults are 30s and 10m.
func WithProbeBackoff(base, maxDelay time.Duration) Option {
	return optionFunc(func(c *config) { c.probeBase, c.probeMax = base, maxDelay })
}

// WithLogger sets the logger. The default discards everything.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

// WithMeterProvider sets the OpenTelemetry meter provider. The default is
// the global one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meterProvider = mp })
}

// WithTracerProvider sets the OpenTelemetry tracer provider. The default
// is the global one.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tracerProvider = tp })
}

// Monitor classifies failure events, finds patterns across runs and acts
// on them within the policy. It is safe for concurrent use, and it runs
// one pass at a time, so a pass waits for the one before it.
//
// Memory is bounded. The window keeps at most WithMaxFingerprints
// fingerprints and evicts the least recently seen first. The audit trail
// keeps the last 512 records. The dependency watch holds 256 dependencies
// and the set of paused targets 1024 entries. A dependency failure that
// would exceed either is alerted on but not paused, since no probe would
// resume it. So is one whose dependency has no http or https URL while
// the checker is an HTTPChecker. A configuration pause beyond 1024 targets still happens but
// is missing from Paused.
type Monitor struct {
	cfg config

	mu     sync.Mutex
	window *window
	deps   map[string]*dependencyWatch // by origin
	paused map[string]string           // target -> dependency origin, or "" for a configuration pause
	trail  []AuditRecord

	tracer    trace.Tracer
	failures  metric.Int64Counter
	actions   metric.Int64Counter
	passCount int // actions taken in the current pass
}

// NewMonitor returns a Monitor. It fails on invalid options.
func NewMonitor(opts ...Option) (*Monitor, error) {
	cfg := config{
		clock: clock.Real, patternRuns: DefaultPatternRuns, patternWindow: DefaultPatternWindow,
		maxFingerprints: DefaultMaxFingerprints, ownHosts: map[string]bool{},
		healthyProbes: DefaultHealthyProbes, probeBase: DefaultProbeBase, probeMax: DefaultProbeMax,
	}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.checker == nil {
		cfg.checker = &HTTPChecker{}
	}
	if cfg.meterProvider == nil {
		cfg.meterProvider = otel.GetMeterProvider()
	}
	if cfg.tracerProvider == nil {
		cfg.tracerProvider = otel.GetTracerProvider()
	}

	m := &Monitor{
		cfg:    cfg,
		window: newWindow(cfg.patternRuns, cfg.patternWindow, cfg.maxFingerprints),
		deps:   map[string]*dependencyWatch{},
		paused: map[string]string{},
		tracer: cfg.tracerProvider.Tracer(instrumentation),
	}
	meter := cfg.meterProvider.Meter(instrumentation)
	var err error
	if m.failures, err = meter.Int64Counter("heal.failures",
		metric.WithDescription("Failure events classified, by class.")); err != nil {
		return nil, fmt.Errorf("heal: create counter heal.failures: %w", err)
	}
	if m.actions, err = meter.Int64Counter("heal.actions",
		metric.WithDescription("Actions decided, by kind and outcome.")); err != nil {
		return nil, fmt.Errorf("heal: create counter heal.actions: %w", err)
	}
	return m, nil
}

const instrumentation = "github.com/upstash-ops/sdk/heal"

func (c *config) validate() error {
	switch {
	case c.policy.Mode < DryRun || c.policy.Mode > Autonomous:
		return fmt.Errorf("heal: invalid policy mode %d", int(c.policy.Mode))
	case c.policy.Mode == Approval && c.approver == nil:
		return errors.New("heal: policy mode approval needs an Approver: add WithApprover")
	case c.patternRuns < 2:
		return fmt.Errorf("heal: pattern runs %d is invalid: a pattern needs at least 2 runs", c.patternRuns)
	case c.patternWindow <= 0:
		return fmt.Errorf("heal: pattern window %s is invalid: it must be positive", c.patternWindow)
	case c.maxFingerprints < 1:
		return fmt.Errorf("heal: max fingerprints %d is invalid: it must be at least 1", c.maxFingerprints)
	case c.healthyProbes < 1:
		return fmt.Errorf("heal: healthy probes %d is invalid: it must be at least 1", c.healthyProbes)
	case c.probeBase <= 0 || c.probeMax < c.probeBase:
		return fmt.Errorf("heal: probe backoff %s..%s is invalid: base must be positive and at most max",
			c.probeBase, c.probeMax)
	}
	return nil
}

// Observe looks at one failure of the app's own jobs, in a pass of its
// own, and returns the decision.
func (m *Monitor) Observe(ctx context.Context, ev Event) (Decision, error) {
	rep, err := m.Process(ctx, []Event{ev})
	if err != nil {
		return Decision{}, err
	}
	return rep.Decisions[0], nil
}

// Process looks at events in order, in one pass: it classifies each,
// counts it in the window and takes the actions that fit, at most the
// policy's limit in the pass. It fails only on an event without a Target,
// before looking at any event.
func (m *Monitor) Process(ctx context.Context, events []Event) (Report, error) {
	for i, ev := range events {
		if ev.Target == "" {
			return Report{}, fmt.Errorf("%w (event %d, run %q)", ErrMissingTarget, i, ev.RunID)
		}
	}
	ctx, span := m.tracer.Start(ctx, "heal.Process", trace.WithAttributes(attribute.Int("heal.events", len(events))))
	defer span.End()

	m.mu.Lock()
	defer m.mu.Unlock()
	m.passCount = 0
	var rep Report
	for _, ev := range events {
		d := m.decide(ctx, ev)
		rep.Decisions = append(rep.Decisions, d)
		rep.Actions = append(rep.Actions, d.Actions...)
	}
	return rep, nil
}

// Poll fetches new events from src and processes them in one pass, then
// runs the dependency probes that are due. A failed fetch does not stop
// the probes, so paused targets resume even while src is unavailable.
// Poll processes the events a failed fetch returned and returns the
// report together with the fetch error.
func (m *Monitor) Poll(ctx context.Context, src Source) (Report, error) {
	events, fetchErr := src.Fetch(ctx)
	rep, err := m.Process(ctx, events)
	if err != nil {
		return rep, err
	}
	probes, actions := m.probe(ctx)
	rep.Probes = probes
	rep.Actions = append(rep.Actions, actions...)
	if fetchErr != nil {
		return rep, fmt.Errorf("heal: fetch events: %w", fetchErr)
	}
	return rep, nil
}

// Run polls src every interval on the Monitor's clock until ctx ends, and
// returns ctx's error. A failed poll is logged and retried at the next
// interval. An interval that is not positive is an error, because it
// would poll in a busy loop.
func (m *Monitor) Run(ctx context.Context, src Source, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("heal: invalid poll interval %s: it must be positive", interval)
	}
	for {
		if _, err := m.Poll(ctx, src); err != nil {
			m.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "heal: poll failed", slog.String("error", clip(err.Error(), 300)))
		}
		if err := clock.Sleep(ctx, m.cfg.clock, interval); err != nil {
			return err
		}
	}
}

// Audit returns a copy of the in-memory audit trail, oldest first: the
// last 512 records.
func (m *Monitor) Audit() []AuditRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]AuditRecord(nil), m.trail...)
}

// Paused returns the targets the Monitor has paused and not resumed, each
// with the dependency origin it waits for ("" for a configuration pause).
// In a dry run it returns the targets it would have paused, which it also
// probes for and would resume.
func (m *Monitor) Paused() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]string, len(m.paused))
	for k, v := range m.paused {
		out[k] = v
	}
	return out
}

// decide classifies one event and acts on it. m.mu is held.
func (m *Monitor) decide(ctx context.Context, ev Event) Decision {
	if ev.Time.IsZero() {
		ev.Time = m.cfg.clock.Now()
	}
	f := ev.Failure
	base := m.cfg.classifier.Classify(f)
	destination := hostOf(f.URL)
	if destination == "" {
		destination = hostOf(ev.Target)
	}
	fp := Fingerprint{
		Target: redactURL(ev.Target), Destination: destination, Step: ev.Step,
		Class: base.Class, Status: f.Status, Message: NormaliseMessage(redactText(f.text())),
	}
	entry, runs, newRun := m.window.add(fp, ev.RunID, ev.Time)
	d := Decision{Event: ev, Verdict: base, Fingerprint: fp, Runs: runs}
	if runs >= m.cfg.patternRuns {
		d.Systemic = true
		d.Verdict = escalate(base, m.own(ev, destination), destination, runs, m.cfg.patternWindow)
	}
	if ev.Silent {
		d.Verdict.Evidence = append(d.Verdict.Evidence, "the run succeeded although this call failed")
	}
	m.failures.Add(ctx, 1, metric.WithAttributes(attribute.String("class", d.Verdict.Class.String())))
	m.cfg.logger.LogAttrs(ctx, slog.LevelDebug, "heal: classified failure",
		slog.String("target", fp.Target), slog.String("run", ev.RunID), slog.String("step", ev.Step),
		slog.String("class", d.Verdict.Class.String()), slog.String("signal", d.Verdict.Signal),
		slog.Int("runs", runs))

	d.Actions = m.act(ctx, d, entry, newRun)
	return d
}

// own reports whether destination belongs to the app.
func (m *Monitor) own(ev Event, destination string) bool {
	return ev.Own || destination == "" || destination == hostOf(ev.Target) || m.cfg.ownHosts[destination]
}

// act takes the actions that fit the decision's class. Transient and
// unknown failures are only recorded. Configuration failures pause the
// target and alert once per fingerprint. Dependency failures pause the
// target and watch the dependency. Logical failures go to review once per
// run (a retry of a run already reviewed is skipped), or once per pattern
// when they repeat. A silent failure only alerts.
func (m *Monitor) act(ctx context.Context, d Decision, entry *windowEntry, newRun bool) []AuditRecord {
	ev, v := d.Event, d.Verdict
	var records []AuditRecord
	first := entry.acted != v.Class
	if m.cfg.policy.Mode == Off {
		entry.acted = v.Class
		return nil
	}
	switch {
	case v.Class == Transient || v.Class == Unknown:
		return nil
	case ev.Silent:
		if first {
			records = append(records, m.alert(ctx, d))
		}
	case v.Class == Configuration:
		if first {
			if origin, done := m.paused[ev.Target]; !done {
				records = append(records, m.pause(ctx, ev, v, ""))
			} else if origin != "" {
				// Paused for a dependency: its recovery must not resume a
				// target that now needs the owner's fix.
				m.unwatch(origin, ev.Target)
				m.paused[ev.Target] = ""
			}
			records = append(records, m.alert(ctx, d))
		}
	case v.Class == Dependency:
		origin := originOf(ev.Failure.URL, ev.Target)
		if first {
			_, done := m.paused[ev.Target]
			switch {
			case done:
			case !m.canWatch(origin):
				// A pause nobody probes for would never end, so the owner
				// gets the alert and decides.
				m.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "heal: cannot probe the dependency, not pausing",
					slog.String("target", redactURL(ev.Target)), slog.String("dependency", origin),
					slog.Int("max_dependencies", maxDependencies), slog.Int("max_paused", maxPausedTargets))
			default:
				records = append(records, m.pause(ctx, ev, v, origin))
			}
			records = append(records, m.alert(ctx, d))
		}
		// Only a pause for this dependency ends with its recovery. A
		// configuration pause waits for the owner.
		if waitsFor, paused := m.paused[ev.Target]; paused && waitsFor == origin {
			m.watch(origin, ev.Target)
		}
	case v.Class == Logical:
		if (d.Systemic && !first) || (!d.Systemic && !newRun) {
			break
		}
		records = append(records, m.review(ctx, d))
		if d.Systemic {
			records = append(records, m.alert(ctx, d))
		}
	}
	// An action that failed or was over the limit is tried again on the
	// next event of this fingerprint. A denied one is not, because the
	// owner decided, and neither is one without a handler.
	complete := true
	for _, r := range records {
		if r.Outcome == OutcomeFailed || r.Outcome == OutcomeOverLimit {
			complete = false
		}
	}
	if complete {
		entry.acted = v.Class
	}
	return records
}

func (m *Monitor) pause(ctx context.Context, ev Event, v Verdict, origin string) AuditRecord {
	a := Action{Kind: ActionPause, Target: ev.Target, Dependency: origin, Reason: v.Fix, RunID: ev.RunID, Class: v.Class}
	rec := m.run(ctx, a, m.cfg.pauser != nil, func() error { return m.cfg.pauser.Pause(ctx, ev.Target, v.Fix) })
	if rec.Outcome == OutcomeDone || rec.Outcome == OutcomeDryRun {
		if len(m.paused) < maxPausedTargets {
			m.paused[ev.Target] = origin
		}
	}
	return rec
}

func (m *Monitor) alert(ctx context.Context, d Decision) AuditRecord {
	ev := d.Event
	a := Action{Kind: ActionAlert, Target: ev.Target, Reason: d.Verdict.Fix, RunID: ev.RunID, Class: d.Verdict.Class}
	al := Alert{
		Target: redactURL(ev.Target), RunID: ev.RunID, Step: ev.Step, Verdict: d.Verdict,
		Fingerprint: d.Fingerprint, Runs: d.Runs, Silent: ev.Silent,
	}
	return m.run(ctx, a, m.cfg.alerter != nil, func() error { return m.cfg.alerter.Alert(ctx, al) })
}

func (m *Monitor) review(ctx context.Context, d Decision) AuditRecord {
	ev := d.Event
	a := Action{Kind: ActionReview, Target: ev.Target, Reason: d.Verdict.Fix, RunID: ev.RunID, Class: d.Verdict.Class}
	r := Review{
		Target: redactURL(ev.Target), RunID: ev.RunID, Step: ev.Step, Status: ev.Failure.Status,
		Error: clip(ev.Failure.text(), maxReviewExcerpt), Input: clip(ev.Input, maxReviewExcerpt),
		Body: clip(ev.Failure.Body, maxReviewExcerpt), Verdict: d.Verdict, Runs: d.Runs,
	}
	return m.run(ctx, a, m.cfg.reviewer != nil, func() error { return m.cfg.reviewer.Review(ctx, r) })
}

// run applies the policy to one action, writes the audit records and
// returns the final one. m.mu is held.
func (m *Monitor) run(ctx context.Context, a Action, handled bool, do func() error) AuditRecord {
	// The record goes to the approver, the report and the trail, so its
	// target loses any credentials now. do still acts on the real target.
	a.Target = redactURL(a.Target)
	rec := AuditRecord{Time: m.cfg.clock.Now(), Action: a, Mode: m.cfg.policy.Mode}
	limit := m.cfg.policy.maxActions()
	switch {
	case limit >= 0 && m.passCount >= limit:
		rec.Outcome = OutcomeOverLimit
	case m.cfg.policy.Mode == DryRun:
		// A dry run counts against the limit, so its report shows what an
		// autonomous pass would do.
		rec.Outcome = OutcomeDryRun
		m.passCount++
	case !handled:
		rec.Outcome = OutcomeNoHandler
	default:
		rec.Outcome, rec.Error = m.execute(ctx, rec, do)
	}
	m.record(ctx, rec)
	return rec
}

// execute asks the approver when the mode says so, writes the pending
// record and runs the action. It returns the outcome and the error text of
// a failed or denied action.
func (m *Monitor) execute(ctx context.Context, rec AuditRecord, do func() error) (Outcome, string) {
	if m.cfg.policy.Mode == Approval {
		ok, err := m.cfg.approver.Approve(ctx, rec.Action)
		if err != nil {
			// No decision was made, so the action is tried again like one
			// whose handler failed.
			return OutcomeFailed, "approver failed: " + clip(err.Error(), 300)
		}
		if !ok {
			return OutcomeDenied, ""
		}
	}
	pending := rec
	pending.Outcome = OutcomePending
	m.record(ctx, pending)
	m.passCount++
	if err := do(); err != nil {
		msg := clip(err.Error(), 300)
		m.cfg.logger.LogAttrs(ctx, slog.LevelError, "heal: action failed",
			slog.String("action", string(rec.Action.Kind)), slog.String("target", redactURL(rec.Action.Target)),
			slog.String("error", msg))
		return OutcomeFailed, msg
	}
	return OutcomeDone, ""
}

// record appends rec to the trail, dropping the oldest beyond 512, and
// sends it to the audit sink.
func (m *Monitor) record(ctx context.Context, rec AuditRecord) {
	rec.Action.Target = redactURL(rec.Action.Target)
	if len(m.trail) >= maxAuditTrail {
		m.trail = append(m.trail[:0], m.trail[1:]...)
	}
	m.trail = append(m.trail, rec)
	if rec.Outcome != OutcomePending {
		m.actions.Add(ctx, 1, metric.WithAttributes(
			attribute.String("kind", string(rec.Action.Kind)), attribute.String("outcome", string(rec.Outcome))))
	}
	m.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "heal: action",
		slog.String("action", string(rec.Action.Kind)), slog.String("target", rec.Action.Target),
		slog.String("outcome", string(rec.Outcome)), slog.String("run", rec.Action.RunID))
	if m.cfg.audit == nil {
		return
	}
	if err := m.cfg.audit.Record(ctx, rec); err != nil {
		m.cfg.logger.LogAttrs(ctx, slog.LevelError, "heal: audit sink failed",
			slog.String("action", string(rec.Action.Kind)), slog.String("error", clip(err.Error(), 300)))
	}
}
