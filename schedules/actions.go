package schedules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/upstash-ops/sdk/internal/clock"
)

// Mode is the permission a Policy gives one class of action.
type Mode int

// Modes. The zero value is ModeDryRun.
const (
	// ModeDryRun reports what would be done and does nothing.
	ModeDryRun Mode = iota
	// ModeOff neither acts nor reports the action.
	ModeOff
	// ModeApproval acts after the Approver approves.
	ModeApproval
	// ModeAutonomous acts without asking. For deletes it needs
	// Policy.AllowAutonomousDelete too.
	ModeAutonomous
)

func (m Mode) String() string {
	switch m {
	case ModeOff:
		return "off"
	case ModeApproval:
		return "approval"
	case ModeAutonomous:
		return "autonomous"
	}
	return "dry-run"
}

// DefaultMaxActionsPerRun is the default limit of actions one Apply takes.
const DefaultMaxActionsPerRun = 5

// Policy decides what the Executor may do. The zero value is a dry run of
// every action class with the default limit.
type Policy struct {
	Pause  Mode
	Resume Mode
	Delete Mode
	// AllowAutonomousDelete must be true for Delete: ModeAutonomous to delete
	// without approval; otherwise such deletes go to the Approver.
	AllowAutonomousDelete bool
	// MaxActionsPerRun limits the actions (dry runs included) one Apply
	// takes; 0 means DefaultMaxActionsPerRun. Further actions are reported
	// as OutcomeLimited.
	MaxActionsPerRun int
}

func (p Policy) mode(a Action) Mode {
	switch a {
	case ActionPause:
		return p.Pause
	case ActionResume:
		return p.Resume
	case ActionDelete:
		if p.Delete == ModeAutonomous && !p.AllowAutonomousDelete {
			return ModeApproval
		}
		return p.Delete
	}
	return ModeOff
}

// ActionRequest is one action the Executor is about to take, as an
// Approver and the audit trail see it.
type ActionRequest struct {
	Action     Action `json:"action"`
	ScheduleID string `json:"scheduleId"`
	// Reason is the finding's summary, or the caller's reason for a direct
	// call of Do.
	Reason string `json:"reason"`
	// Kind is the finding behind the action, empty for a direct call.
	Kind Kind `json:"kind,omitempty"`
}

// Approver decides on actions that the policy puts under approval.
type Approver interface {
	Approve(ctx context.Context, req ActionRequest) (bool, error)
}

// ApproverFunc adapts a function to Approver.
type ApproverFunc func(ctx context.Context, req ActionRequest) (bool, error)

// Approve calls f.
func (f ApproverFunc) Approve(ctx context.Context, req ActionRequest) (bool, error) {
	return f(ctx, req)
}

// Outcome is the result of an action.
type Outcome string

// Outcomes.
const (
	OutcomeDone        Outcome = "done"
	OutcomeDryRun      Outcome = "dry-run"
	OutcomeAlreadyDone Outcome = "already-done"
	OutcomeDenied      Outcome = "denied"
	OutcomeLimited     Outcome = "limited"
	OutcomeFailed      Outcome = "failed"
)

// ActionResult is one action and how it ended.
type ActionResult struct {
	ActionRequest
	Mode    Mode    `json:"-"`
	Outcome Outcome `json:"outcome"`
	// Canceled counts the in-flight messages canceled after a pause.
	Canceled int    `json:"canceled,omitempty"`
	Err      string `json:"error,omitempty"`
}

// String describes the result in one line.
func (r ActionResult) String() string {
	s := fmt.Sprintf("%s %s: %s (policy %s)", r.Action, r.ScheduleID, r.Outcome, r.Mode)
	if r.Canceled > 0 {
		s += fmt.Sprintf(", %d in-flight messages canceled", r.Canceled)
	}
	if r.Err != "" {
		s += ": " + r.Err
	}
	return s
}

// ScheduleState is the state of a schedule that the audit trail records
// before and after an action.
type ScheduleState struct {
	Exists bool `json:"exists"`
	Paused bool `json:"paused"`
}

// AuditEntry is one record of the audit trail: who did what, why, and the
// schedule's state before and after.
type AuditEntry struct {
	Time time.Time `json:"time"`
	// Actor names who acted, as set with WithActor.
	Actor string `json:"actor"`
	// Approved is true when an Approver approved the action; false when the
	// policy made it autonomous.
	Approved bool          `json:"approved"`
	Phase    string        `json:"phase"` // "before" or "after"
	Request  ActionRequest `json:"request"`
	Mode     string        `json:"mode"`
	Before   ScheduleState `json:"before"`
	After    ScheduleState `json:"after,omitzero"`
	Outcome  Outcome       `json:"outcome,omitempty"`
	Err      string        `json:"error,omitempty"`
}

// AuditHook receives the audit trail. The Executor calls it before each
// action and after it. An error from the "before" call cancels the action,
// so nothing happens that the trail did not record.
type AuditHook func(ctx context.Context, e AuditEntry) error

type executorConfig struct {
	approver       Approver
	audit          AuditHook
	actor          string
	clock          clock.Clock
	logger         *slog.Logger
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
}

// ExecutorOption configures an Executor.
type ExecutorOption interface{ applyExecutor(*executorConfig) }

type executorOptionFunc func(*executorConfig)

func (f executorOptionFunc) applyExecutor(c *executorConfig) { f(c) }

// WithApprover sets the Approver for ModeApproval. Without one, actions
// under approval are denied.
func WithApprover(a Approver) ExecutorOption {
	return executorOptionFunc(func(c *executorConfig) { c.approver = a })
}

// WithAuditHook sets the audit trail. Without one, actions are only logged.
func WithAuditHook(h AuditHook) ExecutorOption {
	return executorOptionFunc(func(c *executorConfig) { c.audit = h })
}

// WithActor sets the name recorded as the actor in the audit trail. The
// default is "upstashops/schedules".
func WithActor(name string) ExecutorOption {
	return executorOptionFunc(func(c *executorConfig) { c.actor = name })
}

// WithExecutorClock sets the clock that stamps audit entries. The default is
// the system clock.
func WithExecutorClock(c clock.Clock) ExecutorOption {
	return executorOptionFunc(func(cfg *executorConfig) { cfg.clock = c })
}

// WithExecutorLogger sets the logger for actions. The default discards.
func WithExecutorLogger(l *slog.Logger) ExecutorOption {
	return executorOptionFunc(func(c *executorConfig) { c.logger = l })
}

// WithExecutorMeterProvider sets the meter provider. The default is the
// global one.
func WithExecutorMeterProvider(mp metric.MeterProvider) ExecutorOption {
	return executorOptionFunc(func(c *executorConfig) { c.meterProvider = mp })
}

// WithExecutorTracerProvider sets the tracer provider. The default is the
// global one.
func WithExecutorTracerProvider(tp trace.TracerProvider) ExecutorOption {
	return executorOptionFunc(func(c *executorConfig) { c.tracerProvider = tp })
}

// Executor takes the actions a report recommends, within a Policy. Acting
// twice is harmless: pausing a paused schedule, resuming an active one or
// deleting a missing one ends as OutcomeAlreadyDone. An Executor is safe for
// concurrent use, but the per-run limit applies to each Apply call.
type Executor struct {
	ctl     Controller
	policy  Policy
	cfg     executorConfig
	tracer  trace.Tracer
	actions metric.Int64Counter
}

// NewExecutor returns an Executor that changes schedules through ctl.
func NewExecutor(ctl Controller, policy Policy, opts ...ExecutorOption) (*Executor, error) {
	if ctl == nil {
		return nil, errors.New("schedules: NewExecutor: nil Controller")
	}
	if policy.MaxActionsPerRun < 0 {
		return nil, fmt.Errorf("schedules: NewExecutor: negative MaxActionsPerRun %d", policy.MaxActionsPerRun)
	}
	if policy.MaxActionsPerRun == 0 {
		policy.MaxActionsPerRun = DefaultMaxActionsPerRun
	}

	cfg := executorConfig{actor: "upstashops/schedules"}
	for _, o := range opts {
		o.applyExecutor(&cfg)
	}
	cfg.clock = clock.Or(cfg.clock)
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.meterProvider == nil {
		cfg.meterProvider = otel.GetMeterProvider()
	}
	if cfg.tracerProvider == nil {
		cfg.tracerProvider = otel.GetTracerProvider()
	}

	e := &Executor{ctl: ctl, policy: policy, cfg: cfg, tracer: cfg.tracerProvider.Tracer(instrumentationName)}
	var err error
	e.actions, err = cfg.meterProvider.Meter(instrumentationName).Int64Counter("upstashops.schedules.actions",
		metric.WithDescription("Schedule actions by action and outcome."))
	if err != nil {
		return nil, fmt.Errorf("schedules: NewExecutor: %w", err)
	}
	return e, nil
}

// Apply takes the recommended action of each finding, in report order, at
// most one per schedule, and appends the results to report.Actions. An
// action the policy switches off is skipped, so the schedule's next finding
// may still act. It returns the results of this call.
func (e *Executor) Apply(ctx context.Context, report *Report) []ActionResult {
	var results []ActionResult
	seen := map[string]bool{}
	acted := 0
	for _, f := range report.Findings {
		if f.Recommendation == ActionNone || seen[f.ScheduleID] {
			continue
		}
		req := ActionRequest{Action: f.Recommendation, ScheduleID: f.ScheduleID, Reason: f.Summary, Kind: f.Kind}
		mode := e.policy.mode(req.Action)
		if mode == ModeOff {
			// A later finding of the same schedule may recommend an
			// action the policy allows.
			continue
		}
		seen[f.ScheduleID] = true
		if acted >= e.policy.MaxActionsPerRun {
			results = append(results, e.finish(ctx, ActionResult{ActionRequest: req, Mode: mode, Outcome: OutcomeLimited}))
			continue
		}
		acted++
		results = append(results, e.Do(ctx, req))
	}
	report.Actions = append(report.Actions, results...)
	return results
}

// Do takes one action under the policy, outside of any per-run limit, for
// example a resume an operator requested.
func (e *Executor) Do(ctx context.Context, req ActionRequest) ActionResult {
	ctx, span := e.tracer.Start(ctx, "schedules.Action", trace.WithAttributes(
		attribute.String("action", string(req.Action)), attribute.String("schedule_id", req.ScheduleID)))
	defer span.End()

	mode := e.policy.mode(req.Action)
	res := ActionResult{ActionRequest: req, Mode: mode}
	switch mode {
	case ModeOff:
		res.Outcome, res.Err = OutcomeDenied, "the policy switches "+string(req.Action)+" off"
		return e.finish(ctx, res)
	case ModeDryRun:
		res.Outcome = OutcomeDryRun
		return e.finish(ctx, res)
	case ModeApproval:
		if e.cfg.approver == nil {
			res.Outcome, res.Err = OutcomeDenied, "approval required and no Approver configured"
			return e.finish(ctx, res)
		}
		ok, err := e.cfg.approver.Approve(ctx, req)
		if err != nil {
			res.Outcome, res.Err = OutcomeFailed, "approver: "+err.Error()
			return e.finish(ctx, res)
		}
		if !ok {
			res.Outcome = OutcomeDenied
			return e.finish(ctx, res)
		}
	}

	before, err := e.state(ctx, req.ScheduleID)
	if err != nil {
		res.Outcome, res.Err = OutcomeFailed, err.Error()
		return e.finish(ctx, res)
	}
	entry := AuditEntry{Actor: e.cfg.actor, Approved: mode == ModeApproval, Phase: "before", Request: req, Mode: mode.String(), Before: before}
	if err := e.record(ctx, entry); err != nil {
		res.Outcome, res.Err = OutcomeFailed, "audit hook rejected the action: "+err.Error()
		return e.finish(ctx, res)
	}

	res.Outcome, res.Canceled, err = e.act(ctx, req, before)
	if err != nil {
		res.Outcome, res.Err = OutcomeFailed, err.Error()
	}
	after, stateErr := e.state(ctx, req.ScheduleID)
	entry.Phase, entry.After, entry.Outcome, entry.Err = "after", after, res.Outcome, res.Err
	if stateErr != nil && entry.Err == "" {
		entry.Err = "read state after the action: " + stateErr.Error()
	}
	if err := e.record(ctx, entry); err != nil {
		e.cfg.logger.LogAttrs(ctx, slog.LevelError, "audit hook failed after a schedule action",
			slog.String("schedule_id", req.ScheduleID), slog.String("action", string(req.Action)), slog.String("error", err.Error()))
	}
	return e.finish(ctx, res)
}

// act performs an approved action; a no-op when the state already matches.
func (e *Executor) act(ctx context.Context, req ActionRequest, before ScheduleState) (Outcome, int, error) {
	switch req.Action {
	case ActionPause:
		if !before.Exists {
			return OutcomeFailed, 0, fmt.Errorf("pause schedule %q: %w", req.ScheduleID, ErrScheduleNotFound)
		}
		outcome := OutcomeAlreadyDone
		if !before.Paused {
			if err := e.ctl.Pause(ctx, req.ScheduleID); err != nil {
				return OutcomeFailed, 0, fmt.Errorf("pause schedule %q: %w", req.ScheduleID, err)
			}
			outcome = OutcomeDone
		}
		// Cancel what is still being delivered, also after an earlier pause
		// whose cancellation did not finish.
		canceled := 0
		if c, ok := e.ctl.(InFlightCanceler); ok {
			n, err := c.CancelInFlight(ctx, req.ScheduleID)
			if err != nil {
				return OutcomeFailed, n, fmt.Errorf("cancel in-flight messages of schedule %q: %w", req.ScheduleID, err)
			}
			canceled = n
			if n > 0 {
				outcome = OutcomeDone
			}
		}
		return outcome, canceled, nil
	case ActionResume:
		if !before.Exists {
			return OutcomeFailed, 0, fmt.Errorf("resume schedule %q: %w", req.ScheduleID, ErrScheduleNotFound)
		}
		if !before.Paused {
			return OutcomeAlreadyDone, 0, nil
		}
		if err := e.ctl.Resume(ctx, req.ScheduleID); err != nil {
			return OutcomeFailed, 0, fmt.Errorf("resume schedule %q: %w", req.ScheduleID, err)
		}
		return OutcomeDone, 0, nil
	case ActionDelete:
		if !before.Exists {
			return OutcomeAlreadyDone, 0, nil
		}
		err := e.ctl.Delete(ctx, req.ScheduleID)
		if errors.Is(err, ErrScheduleNotFound) {
			return OutcomeAlreadyDone, 0, nil
		}
		if err != nil {
			return OutcomeFailed, 0, fmt.Errorf("delete schedule %q: %w", req.ScheduleID, err)
		}
		return OutcomeDone, 0, nil
	}
	return OutcomeFailed, 0, fmt.Errorf("unknown action %q", req.Action)
}

func (e *Executor) state(ctx context.Context, id string) (ScheduleState, error) {
	s, err := e.ctl.Schedule(ctx, id)
	if errors.Is(err, ErrScheduleNotFound) {
		return ScheduleState{}, nil
	}
	if err != nil {
		return ScheduleState{}, fmt.Errorf("read schedule %q: %w", id, err)
	}
	return ScheduleState{Exists: true, Paused: s.Paused}, nil
}

func (e *Executor) record(ctx context.Context, entry AuditEntry) error {
	entry.Time = e.cfg.clock.Now()
	if e.cfg.audit == nil {
		return nil
	}
	return e.cfg.audit(ctx, entry)
}

// finish logs and counts a result.
func (e *Executor) finish(ctx context.Context, res ActionResult) ActionResult {
	level := slog.LevelInfo
	if res.Outcome == OutcomeFailed {
		level = slog.LevelError
	}
	e.cfg.logger.LogAttrs(ctx, level, "schedule action",
		slog.String("action", string(res.Action)), slog.String("schedule_id", res.ScheduleID),
		slog.String("mode", res.Mode.String()), slog.String("outcome", string(res.Outcome)),
		slog.String("error", strings.TrimSpace(res.Err)))
	e.actions.Add(ctx, 1, metric.WithAttributes(attribute.String("action", string(res.Action)),
		attribute.String("outcome", string(res.Outcome))))
	return res
}
