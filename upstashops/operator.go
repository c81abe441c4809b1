package upstashops

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/upstash-ops/sdk/costlint"
	"github.com/upstash-ops/sdk/internal/clock"
)

// Sentinel errors callers branch on.
var (
	// ErrUnknownJob is returned by RunOnce for a name no job has.
	ErrUnknownJob = errors.New("upstashops: unknown job")
	// ErrJobBusy is returned by RunOnce when the job is already running,
	// in this process or in another instance holding its lease.
	ErrJobBusy = errors.New("upstashops: job is already running")
	// ErrJobTimeout is returned when a run exceeds its timeout.
	ErrJobTimeout = errors.New("upstashops: job run timed out")
	// ErrJobPanicked is returned when a job panics; the panic is recovered
	// and the other jobs go on.
	ErrJobPanicked = errors.New("upstashops: job panicked")
	// ErrLeaseLost is returned when another instance took over a job's
	// lease while it ran, so the run was cancelled.
	ErrLeaseLost = errors.New("upstashops: job lease lost")
)

const instrumentationName = "github.com/upstash-ops/sdk/upstashops"

// Operator runs the SDK's checks on their cadences, turns what they find
// into Findings, routes those to people by severity, and carries out the
// actions its Policy allows. Create it with New; its methods are safe for
// concurrent use.
//
// Open findings are kept in memory, at most WithMaxFindings of them; the
// cost chart keeps the last 500 points.
type Operator struct {
	cfg  config
	clk  clock.Clock
	log  *slog.Logger
	keys keys

	jobs     map[JobName]*jobState
	jobOrder []JobName

	linter *costlint.Linter

	notify   *dispatcher
	audit    *auditLog
	approval *approvalStore
	actions  *actionRunner

	mu       sync.Mutex
	findings map[string]*Finding
	costs    []CostPoint

	tracer      trace.Tracer
	runCounter  metric.Int64Counter
	findCounter metric.Int64Counter

	// loginLimit bounds sign-in attempts on the dashboard, across all
	// clients of this process: 10 a minute with bursts of 10.
	loginLimit *rate.Limiter

	// testHookRenewed, when set by a test, is called after each lease
	// renewal.
	testHookRenewed func(JobName)

	closeOnce sync.Once
	stop      context.CancelFunc
	bg        context.Context
}

// CostPoint is one sample of the estimated monthly cost, for the chart.
type CostPoint struct {
	Time time.Time `json:"time"`
	USD  float64   `json:"usd"`
}

const maxCostPoints = 500

type jobState struct {
	job Job
	cfg jobConfig

	running sync.Mutex // held while a run of this job is in progress in this process

	mu     sync.Mutex
	status JobStatus
}

// New returns an Operator configured by opts. Without options it runs no
// job, sends nothing and acts on nothing: it is observe-only by default.
// Built-in jobs are added by the options that give them what they need, and
// any job by WithJob.
func New(opts ...Option) (*Operator, error) {
	cfg := config{
		keyPrefix:      "upstashops:",
		leaseTTL:       30 * time.Second,
		cooldown:       6 * time.Hour,
		digestInterval: 24 * time.Hour,
		queueSize:      256,
		maxAttempts:    5,
		retryBackoff:   time.Second,
		approvalTTL:    24 * time.Hour,
		auditMaxLen:    10000,
		maxFindings:    5000,
		policy:         ObserveOnly,
	}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.approvalKey == nil {
		cfg.approvalKey = make([]byte, 32)
		if _, err := rand.Read(cfg.approvalKey); err != nil {
			return nil, fmt.Errorf("upstashops: generate approval key: %w", err)
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.meter == nil {
		cfg.meter = otel.GetMeterProvider()
	}
	if cfg.tracer == nil {
		cfg.tracer = otel.GetTracerProvider()
	}
	if cfg.reasoner == nil {
		cfg.reasoner = TemplateReasoner{}
	}

	op := &Operator{
		cfg:      cfg,
		clk:      clock.Or(cfg.clk),
		log:      cfg.logger,
		keys:     keys{prefix: cfg.keyPrefix},
		jobs:     map[JobName]*jobState{},
		findings: map[string]*Finding{},
		tracer:   cfg.tracer.Tracer(instrumentationName),

		loginLimit: rate.NewLimiter(rate.Every(6*time.Second), 10),
	}
	op.bg, op.stop = context.WithCancel(context.Background())
	meter := cfg.meter.Meter(instrumentationName)
	op.runCounter, _ = meter.Int64Counter("upstashops.job.runs", metric.WithDescription("Job runs by job and outcome."))
	op.findCounter, _ = meter.Int64Counter("upstashops.findings", metric.WithDescription("Findings reported by job runs."))

	op.audit = newAuditLog(cfg.rdb, op.keys.audit(), cfg.auditMaxLen, op.clk)
	if cfg.rdb != nil {
		op.approval = &approvalStore{rdb: cfg.rdb, keys: op.keys, ttl: cfg.approvalTTL, clk: op.clk}
	}
	op.notify = newDispatcher(op, cfg)
	op.actions = newActionRunner(op)
	if cfg.approver == nil {
		cfg.approver = linkApprover{op: op}
		op.cfg.approver = cfg.approver
	}

	for _, e := range cfg.jobs {
		op.addJob(e.job, e.opts...)
	}
	if err := op.addDefaultJobs(); err != nil {
		return nil, err
	}
	if js, ok := op.jobs[CostJob]; ok {
		if cj, ok := js.job.(*costJob); ok {
			op.cfg.executors = withExecutor(op.cfg.executors, ActionTTLFloor, ttlFloorExecutor{cj.l})
		}
	}
	for name := range cfg.jobOptions {
		if _, ok := op.jobs[name]; !ok {
			return nil, fmt.Errorf("upstashops: WithJobOptions(%q): %w", name, ErrUnknownJob)
		}
	}
	return op, nil
}

func (c *config) validate() error {
	if c.leaseTTL < 3*time.Millisecond {
		return fmt.Errorf("upstashops: lease TTL %s is too short: it must be at least 3ms, and a second or more suits real jobs", c.leaseTTL)
	}
	if c.queueSize < 1 {
		return fmt.Errorf("upstashops: queue size %d is invalid: it must be at least 1", c.queueSize)
	}
	if c.maxAttempts < 1 {
		return fmt.Errorf("upstashops: delivery attempts %d is invalid: it must be at least 1", c.maxAttempts)
	}
	if c.auditMaxLen < 1 {
		return fmt.Errorf("upstashops: audit max length %d is invalid: it must be at least 1", c.auditMaxLen)
	}
	if c.maxFindings < 1 {
		return fmt.Errorf("upstashops: max findings %d is invalid: it must be at least 1", c.maxFindings)
	}
	if (c.mgmtEmail != "" || c.mgmtAPIKey != "") && c.mgmtDatabase == "" {
		return errors.New("upstashops: WithManagementAPI needs the database to read: add WithUpstashDatabase")
	}
	if c.rdb == nil && c.policy.needsApproval() {
		return errors.New("upstashops: the policy requires approvals, which are stored in Redis: add WithRedis")
	}
	return c.policy.validate()
}

// addJob registers job, replacing a job of the same name.
func (op *Operator) addJob(job Job, opts ...JobOption) {
	name := job.Name()
	var jc jobConfig
	for _, o := range opts {
		o(&jc)
	}
	for _, o := range op.cfg.jobOptions[name] {
		o(&jc)
	}
	jc.fill(name)
	if c, ok := job.(clocked); ok {
		c.setClock(op.clk)
	}
	if _, ok := op.jobs[name]; !ok {
		op.jobOrder = append(op.jobOrder, name)
	}
	op.jobs[name] = &jobState{job: job, cfg: jc, status: JobStatus{Name: name, Every: jc.every, Timeout: jc.timeout}}
}

// Jobs returns the names of the configured jobs in the order they were
// added.
func (op *Operator) Jobs() []JobName { return slices.Clone(op.jobOrder) }

// Run runs every job on its cadence, sends the digest on its interval and
// delivers notifications, until ctx ends; then it returns ctx.Err(). Each
// job's first run comes after a random delay up to its jitter.
func (op *Operator) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, name := range op.jobOrder {
		js := op.jobs[name]
		wg.Go(func() { op.loop(ctx, js) })
	}
	wg.Go(func() { op.digestLoop(ctx) })
	wg.Wait()
	return ctx.Err()
}

// loop runs one job on its cadence. The timer of the next run starts before
// the current run, so the cadence is measured from start to start.
func (op *Operator) loop(ctx context.Context, js *jobState) {
	next := op.clk.After(randDuration(js.cfg.jitter))
	for {
		select {
		case <-ctx.Done():
			return
		case <-next:
		}
		next = op.clk.After(js.cfg.every + randDuration(js.cfg.jitter))
		_, err := op.RunOnce(ctx, js.job.Name())
		if err != nil && !errors.Is(err, ErrJobBusy) && ctx.Err() == nil {
			op.log.LogAttrs(ctx, slog.LevelError, "upstashops: job failed", slog.String("job", string(js.job.Name())), slog.String("error", err.Error()))
		}
	}
}

// digestLoop sends the digest on its interval. With Redis, instances
// sharing it claim each interval with SET NX, so that one digest goes out.
func (op *Operator) digestLoop(ctx context.Context) {
	for {
		if clock.Sleep(ctx, op.clk, op.cfg.digestInterval) != nil {
			return
		}
		if op.cfg.rdb != nil {
			period := op.clk.Now().UnixNano() / int64(op.cfg.digestInterval)
			key := op.keys.digest(period)
			ok, err := op.cfg.rdb.SetNX(ctx, key, "1", op.cfg.digestInterval).Result()
			if err != nil {
				op.log.LogAttrs(ctx, slog.LevelWarn, "upstashops: claim digest failed, sending anyway", slog.String("error", err.Error()))
			} else if !ok {
				continue // another instance sends this interval's digest
			}
		}
		op.SendDigest(ctx)
	}
}

// RunOnce runs the job named name now, bounded by its timeout, and
// processes what it found: notifications, resolutions and actions. It
// returns the findings of the run. It returns ErrJobBusy when the job is
// running already, here or on another instance sharing the Redis lease.
// A panic in the job is recovered and returned as ErrJobPanicked.
func (op *Operator) RunOnce(ctx context.Context, name JobName) ([]Finding, error) {
	js, ok := op.jobs[name]
	if !ok {
		return nil, fmt.Errorf("upstashops: run job %q: %w", name, ErrUnknownJob)
	}
	if !js.running.TryLock() {
		op.markSkipped(js)
		return nil, fmt.Errorf("upstashops: run job %q: %w", name, ErrJobBusy)
	}
	// The run lock is released by execute once the job returns, which may
	// be after RunOnce itself returned on timeout.
	var l *lease
	if op.cfg.rdb != nil {
		var got bool
		var err error
		l, got, err = acquireLease(ctx, op.cfg.rdb, op.keys.lease(name), op.cfg.leaseTTL)
		if err != nil {
			js.running.Unlock()
			return nil, err
		}
		if !got {
			js.running.Unlock()
			op.markSkipped(js)
			return nil, fmt.Errorf("upstashops: run job %q: %w", name, ErrJobBusy)
		}
	}

	ctx, span := op.tracer.Start(ctx, "upstashops.job "+string(name))
	defer span.End()
	res, err := op.execute(ctx, js, l)
	op.runCounter.Add(ctx, 1, metric.WithAttributes(jobAttr(name), outcomeAttr(err)))
	var findings []Finding
	if err != nil {
		span.RecordError(err)
	} else {
		findings = op.process(ctx, name, res)
		op.findCounter.Add(ctx, int64(len(findings)), metric.WithAttributes(jobAttr(name)))
	}
	op.finish(js, err)
	return findings, err
}

// finish records the end of a run, after its findings were processed, so
// that a status showing the run complete also means its notifications are
// queued.
func (op *Operator) finish(js *jobState, err error) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.status.Running = false
	js.status.LastEnd = op.clk.Now()
	js.status.Runs++
	js.status.LastError = ""
	if err != nil {
		js.status.Failures++
		js.status.LastError = err.Error()
	}
}

type runOutcome struct {
	res Result
	err error
}

// execute runs the job in its own goroutine, so that a job that ignores its
// context cannot hold RunOnce past the timeout. The lease is renewed until
// the goroutine returns, and only then released with the run lock.
func (op *Operator) execute(ctx context.Context, js *jobState, l *lease) (Result, error) {
	name := js.job.Name()
	runCtx, cancel := context.WithCancelCause(ctx)
	start := op.clk.Now()
	js.mu.Lock()
	js.status.Running = true
	js.status.LastStart = start
	js.mu.Unlock()

	done := make(chan runOutcome, 1)
	go func() {
		out := op.call(runCtx, js.job)
		cancel(nil)
		if l != nil {
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := l.release(rctx); err != nil {
				op.log.LogAttrs(rctx, slog.LevelWarn, "upstashops: release lease failed", slog.String("job", string(name)), slog.String("error", err.Error()))
			}
			rcancel()
		}
		js.running.Unlock()
		done <- out
	}()
	if l != nil {
		go op.renewLoop(runCtx, cancel, l, name)
	}

	var out runOutcome
	select {
	case out = <-done:
	case <-op.clk.After(js.cfg.timeout):
		cancel(ErrJobTimeout)
		out.err = fmt.Errorf("upstashops: job %q after %s: %w", name, js.cfg.timeout, ErrJobTimeout)
	case <-ctx.Done():
		out.err = fmt.Errorf("upstashops: job %q: %w", name, ctx.Err())
	}
	// A job cancelled because the lease was lost usually returns ctx.Err(),
	// which says only "canceled": report the cause instead.
	if cause := context.Cause(runCtx); errors.Is(cause, ErrLeaseLost) && !errors.Is(out.err, ErrJobTimeout) {
		out.err = fmt.Errorf("upstashops: job %q: %w", name, ErrLeaseLost)
	}
	return out.res, out.err
}

// call runs the job and turns a panic into ErrJobPanicked.
func (op *Operator) call(ctx context.Context, job Job) (out runOutcome) {
	defer func() {
		if r := recover(); r != nil {
			op.log.LogAttrs(ctx, slog.LevelError, "upstashops: job panicked", slog.String("job", string(job.Name())), slog.Any("panic", r))
			out = runOutcome{err: fmt.Errorf("upstashops: job %q: %w: %v", job.Name(), ErrJobPanicked, r)}
		}
	}()
	res, err := job.Run(ctx)
	if err != nil {
		return runOutcome{err: fmt.Errorf("upstashops: job %q: %w", job.Name(), redactError(err))}
	}
	return runOutcome{res: res}
}

// renewLoop extends the lease every third of its TTL until ctx ends. When
// the lease turns out to be held by someone else, it cancels the run.
func (op *Operator) renewLoop(ctx context.Context, cancel context.CancelCauseFunc, l *lease, name JobName) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-op.clk.After(l.ttl / 3):
		}
		ok, err := l.renew(ctx)
		if err != nil {
			if ctx.Err() == nil {
				op.log.LogAttrs(ctx, slog.LevelWarn, "upstashops: renew lease failed", slog.String("job", string(name)), slog.String("error", err.Error()))
			}
			continue
		}
		if !ok {
			op.log.LogAttrs(ctx, slog.LevelError, "upstashops: lease lost, cancelling run", slog.String("job", string(name)))
			cancel(ErrLeaseLost)
			return
		}
		if op.testHookRenewed != nil {
			op.testHookRenewed(name)
		}
	}
}

func (op *Operator) markSkipped(js *jobState) {
	js.mu.Lock()
	js.status.Skipped++
	js.mu.Unlock()
}

// JobStatuses returns the state of every job, in the order they were added.
func (op *Operator) JobStatuses() []JobStatus {
	out := make([]JobStatus, 0, len(op.jobOrder))
	for _, name := range op.jobOrder {
		js := op.jobs[name]
		js.mu.Lock()
		out = append(out, js.status)
		js.mu.Unlock()
	}
	return out
}

// process records the run's findings, resolves the job's findings that are
// gone, notifies and hands proposed actions to the policy. With Redis, the
// job's previous findings come from the last run of any instance, so a
// finding resolves once even when instances take turns running the job.
func (op *Operator) process(ctx context.Context, name JobName, res Result) []Finding {
	now := op.clk.Now()
	var prev map[string]Finding
	if op.cfg.rdb != nil {
		p, err := op.loadOpen(ctx, name)
		if err != nil {
			op.log.LogAttrs(ctx, slog.LevelWarn, "upstashops: shared findings unavailable, using local ones", slog.String("job", string(name)), slog.String("error", err.Error()))
		}
		prev = p
	}
	seen := make(map[string]bool, len(res.Findings))
	var resolved []Finding

	op.mu.Lock()
	if prev == nil {
		prev = map[string]Finding{}
		for id, f := range op.findings {
			if f.Source == name {
				prev[id] = *f
			}
		}
	}
	for i := range res.Findings {
		f := &res.Findings[i]
		f.normalize(name, now)
		if old, ok := prev[f.ID]; ok {
			f.FirstSeen = old.FirstSeen
		}
		seen[f.ID] = true
		stored := *f
		op.findings[f.ID] = &stored
	}
	for id, f := range prev {
		if !seen[id] {
			resolved = append(resolved, f)
		}
	}
	for id, f := range op.findings { // also drops what another instance resolved
		if f.Source == name && !seen[id] {
			delete(op.findings, id)
		}
	}
	evicted := op.evictLocked()
	for _, m := range res.Metrics {
		if m.Name == MetricCostUSD {
			op.costs = append(op.costs, CostPoint{Time: now, USD: m.Value})
			if over := len(op.costs) - maxCostPoints; over > 0 {
				op.costs = slices.Delete(op.costs, 0, over)
			}
		}
	}
	op.mu.Unlock()

	if op.cfg.rdb != nil {
		if err := op.storeOpen(ctx, name, res.Findings); err != nil {
			op.log.LogAttrs(ctx, slog.LevelWarn, "upstashops: store shared findings failed", slog.String("job", string(name)), slog.String("error", err.Error()))
		}
	}
	for _, f := range res.Findings {
		op.notify.alert(ctx, f)
	}
	for _, f := range resolved {
		op.notify.resolve(ctx, f)
	}
	for _, id := range evicted {
		op.notify.forget(id)
	}
	for _, f := range resolved {
		op.actions.forget(ctx, f)
	}
	op.actions.proposeRun(ctx, res.Findings)
	return res.Findings
}

// evictLocked drops the findings seen least recently beyond maxFindings
// and returns their IDs.
func (op *Operator) evictLocked() []string {
	over := len(op.findings) - op.cfg.maxFindings
	if over <= 0 {
		return nil
	}
	all := make([]*Finding, 0, len(op.findings))
	for _, f := range op.findings {
		all = append(all, f)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].LastSeen.Before(all[j].LastSeen) })
	ids := make([]string, 0, over)
	for _, f := range all[:over] {
		delete(op.findings, f.ID)
		ids = append(ids, f.ID)
	}
	return ids
}

// Findings returns the open findings, most severe first, then by savings.
func (op *Operator) Findings() []Finding {
	op.mu.Lock()
	out := make([]Finding, 0, len(op.findings))
	for _, f := range op.findings {
		out = append(out, *f)
	}
	op.mu.Unlock()
	sortFindings(out)
	return out
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.SavingsUSD != b.SavingsUSD {
			return a.SavingsUSD > b.SavingsUSD
		}
		return a.ID < b.ID
	})
}

// Costs returns the recorded cost samples, oldest first.
func (op *Operator) Costs() []CostPoint {
	op.mu.Lock()
	defer op.mu.Unlock()
	return slices.Clone(op.costs)
}

// Close stops the notification workers after they deliver what is queued
// or ctx ends. It does not stop Run; cancel Run's context for that.
func (op *Operator) Close(ctx context.Context) error {
	err := op.notify.flush(ctx)
	op.closeOnce.Do(op.stop)
	return err
}

// Flush waits until every queued notification has been delivered or has
// failed, or until ctx ends.
func (op *Operator) Flush(ctx context.Context) error { return op.notify.flush(ctx) }

type keys struct{ prefix string }

func (k keys) lease(name JobName) string { return k.prefix + "lease:" + string(name) }
func (k keys) audit() string             { return k.prefix + "audit" }
func (k keys) approval(id string) string { return k.prefix + "approval:" + id }
func (k keys) approvals() string         { return k.prefix + "approvals" }
func (k keys) digest(period int64) string {
	return k.prefix + "digest:" + strconv.FormatInt(period, 10)
}
func (k keys) action(id string) string { return k.prefix + "action:" + id }
func (k keys) actionsDay(day string) string {
	return k.prefix + "actions:" + day
}

// String returns a fixed name, so that printing an Operator never prints
// its configuration, which holds credentials.
func (op *Operator) String() string { return "upstashops.Operator" }

// GoString returns the same fixed name for %#v.
func (op *Operator) GoString() string { return "upstashops.Operator" }
