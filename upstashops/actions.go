package upstashops

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Executor carries out actions of one class, such as pausing a QStash
// schedule. Leaf adapters provide executors; applications may add their own
// with WithExecutor.
type Executor interface {
	Execute(ctx context.Context, a Action) error
}

// ExecutorFunc adapts a function to Executor.
type ExecutorFunc func(ctx context.Context, a Action) error

// Execute calls f.
func (f ExecutorFunc) Execute(ctx context.Context, a Action) error { return f(ctx, a) }

type actionState int

const (
	stateNone actionState = iota
	stateRecommended
	stateDryRun
	statePending
	stateCapped
	stateUnsupported
	stateExecuted
	stateFailed
)

// maxActionStates bounds the per-action memory; beyond it the oldest
// entries are forgotten, which at worst repeats one audit entry.
const maxActionStates = 10000

// actionRunner applies the policy to proposed actions. It remembers what it
// did with each action while the finding stays open, so that a finding
// reported on every run is recommended, requested or executed once.
type actionRunner struct {
	op *Operator

	mu     sync.Mutex
	states map[string]actionState
	order  []string // insertion order of states, for eviction
	day    string   // UTC day of dayCount, without Redis
	count  int
}

func newActionRunner(op *Operator) *actionRunner {
	return &actionRunner{op: op, states: map[string]actionState{}}
}

// state returns what was done with action id. With Redis, an action this
// process has no record of is looked up there, so that instances taking
// turns on a job do not repeat each other's actions or audit entries.
func (r *actionRunner) state(ctx context.Context, id string) actionState {
	r.mu.Lock()
	st, ok := r.states[id]
	r.mu.Unlock()
	if ok || r.op.cfg.rdb == nil {
		return st
	}
	v, err := r.op.cfg.rdb.Get(ctx, r.op.keys.action(id)).Int()
	if err != nil {
		return stateNone // missing, or Redis failed: act on local knowledge
	}
	r.remember(id, actionState(v))
	return actionState(v)
}

// setState records what was done with action id, here and in Redis.
func (r *actionRunner) setState(ctx context.Context, id string, s actionState) {
	r.remember(id, s)
	if r.op.cfg.rdb != nil {
		if err := r.op.cfg.rdb.Set(ctx, r.op.keys.action(id), int(s), sharedRecordTTL).Err(); err != nil {
			r.op.log.LogAttrs(ctx, slog.LevelWarn, "upstashops: store action state failed", slog.String("action", id), slog.String("error", err.Error()))
		}
	}
}

func (r *actionRunner) remember(id string, s actionState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.states[id]; !ok {
		r.order = append(r.order, id)
	}
	r.states[id] = s
	for len(r.order) > maxActionStates {
		delete(r.states, r.order[0])
		r.order = r.order[1:]
	}
}

// forget clears the state of a resolved finding's actions, so that the same
// problem coming back is handled afresh.
func (r *actionRunner) forget(ctx context.Context, f Finding) {
	r.mu.Lock()
	var keys []string
	for _, a := range f.Actions {
		sid := stateID(f, a)
		delete(r.states, sid)
		keys = append(keys, r.op.keys.action(sid))
	}
	r.mu.Unlock()
	if r.op.cfg.rdb != nil && len(keys) > 0 {
		for _, k := range keys { // one key per call: the keys may sit in different cluster slots
			r.op.cfg.rdb.Del(ctx, k)
		}
	}
}

// stateID identifies an action within one episode of its finding: a
// finding that clears and comes back has a new FirstSeen, so its actions
// are handled afresh on every instance, even one that missed the
// resolution.
func stateID(f Finding, a Action) string {
	return a.ID + "@" + strconv.FormatInt(f.FirstSeen.UnixMilli(), 10)
}

// proposeRun applies the policy to every action of one run's findings.
func (r *actionRunner) proposeRun(ctx context.Context, findings []Finding) {
	op := r.op
	ran := 0
	for _, f := range findings {
		for _, a := range f.Actions {
			sid := stateID(f, a)
			st := r.state(ctx, sid)
			entry := AuditEntry{ActionID: a.ID, FindingID: f.ID, Class: a.Class, Target: a.Target, Actor: "operator"}
			switch op.cfg.policy.For(a.Class) {
			case Off:
			case Recommend:
				if st == stateNone {
					entry.Event, entry.Detail = AuditRecommended, a.Description
					op.record(ctx, entry)
					r.setState(ctx, sid, stateRecommended)
				}
			case DryRun:
				if st == stateNone {
					entry.Event, entry.Detail = AuditDryRun, "would run: "+a.Description
					op.record(ctx, entry)
					r.setState(ctx, sid, stateDryRun)
				}
			case RequireApproval:
				if st == stateNone {
					r.requestApproval(ctx, sid, f, a)
				}
			case Autonomous:
				if st != stateNone && st != stateCapped {
					continue
				}
				if !r.supported(ctx, sid, a, entry) {
					continue
				}
				if ran >= op.cfg.policy.perRun() {
					r.capped(ctx, sid, entry, st, fmt.Sprintf("cap of %d actions per run reached", op.cfg.policy.perRun()))
					continue
				}
				ok, err := r.takeDaySlot(ctx)
				if err != nil {
					op.log.LogAttrs(ctx, slog.LevelError, "upstashops: count actions of the day failed", slog.String("action", a.ID), slog.String("error", err.Error()))
					continue
				}
				if !ok {
					r.capped(ctx, sid, entry, st, fmt.Sprintf("cap of %d actions per day reached", op.cfg.policy.perDay()))
					continue
				}
				ran++
				_ = r.execute(ctx, sid, a, "operator")
			}
		}
	}
}

func (r *actionRunner) capped(ctx context.Context, sid string, entry AuditEntry, st actionState, why string) {
	if st != stateCapped {
		entry.Event, entry.Detail = AuditSkipped, why
		r.op.record(ctx, entry)
		r.setState(ctx, sid, stateCapped)
	}
}

// supported reports whether a has an executor, recording once when not.
func (r *actionRunner) supported(ctx context.Context, sid string, a Action, entry AuditEntry) bool {
	if _, ok := r.op.cfg.executors[a.Class]; ok {
		return true
	}
	entry.Event, entry.Detail = AuditSkipped, fmt.Sprintf("no executor for action class %q", a.Class)
	r.op.record(ctx, entry)
	r.setState(ctx, sid, stateUnsupported)
	return false
}

func (r *actionRunner) requestApproval(ctx context.Context, sid string, f Finding, a Action) {
	op := r.op
	now := op.clk.Now()
	p := PendingApproval{Action: a, Severity: f.Severity, Summary: f.Summary, CreatedAt: now, ExpiresAt: now.Add(op.cfg.approvalTTL)}
	created, err := op.approval.create(ctx, p)
	if err != nil {
		op.log.LogAttrs(ctx, slog.LevelError, "upstashops: store pending action failed", slog.String("action", a.ID), slog.String("error", err.Error()))
		return
	}
	r.setState(ctx, sid, statePending)
	if !created {
		return // pending already, requested by this or another instance
	}
	op.record(ctx, AuditEntry{Event: AuditApprovalRequested, ActionID: a.ID, FindingID: f.ID, Class: a.Class, Target: a.Target, Actor: "operator", Detail: a.Description})
	op.signLinks(&p)
	if err := op.cfg.approver.RequestApproval(ctx, p); err != nil {
		op.log.LogAttrs(ctx, slog.LevelError, "upstashops: request approval failed", slog.String("action", a.ID), slog.String("error", redactError(err).Error()))
	}
}

// takeDaySlot counts one autonomous action against the daily cap. With
// Redis the count is shared by every instance and expires after two days.
func (r *actionRunner) takeDaySlot(ctx context.Context) (bool, error) {
	op := r.op
	day := op.clk.Now().UTC().Format(time.DateOnly)
	limit := op.cfg.policy.perDay()
	if op.cfg.rdb == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.day != day {
			r.day, r.count = day, 0
		}
		if r.count >= limit {
			return false, nil
		}
		r.count++
		return true, nil
	}
	key := op.keys.actionsDay(day)
	pipe := op.cfg.rdb.TxPipeline()
	incr := pipe.Incr(ctx, key)
	pipe.Expire(ctx, key, 48*time.Hour)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("upstashops: count actions in %s: %w", key, err)
	}
	if incr.Val() > int64(limit) {
		op.cfg.rdb.Decr(ctx, key)
		return false, nil
	}
	return true, nil
}

// execute runs a through its executor, writing the audit trail before and
// after. The outcome is stored under state ID sid.
func (r *actionRunner) execute(ctx context.Context, sid string, a Action, actor string) error {
	op := r.op
	entry := AuditEntry{ActionID: a.ID, FindingID: a.FindingID, Class: a.Class, Target: a.Target, Actor: actor}
	ex, ok := op.cfg.executors[a.Class]
	if !ok {
		entry.Event, entry.Detail = AuditSkipped, fmt.Sprintf("no executor for action class %q", a.Class)
		op.record(ctx, entry)
		r.setState(ctx, sid, stateUnsupported)
		return fmt.Errorf("upstashops: execute action %s: no executor for class %q", a.ID, a.Class)
	}
	entry.Event, entry.Detail = AuditExecuting, a.Description
	op.record(ctx, entry)
	err := ex.Execute(ctx, a)
	if err != nil {
		err = redactError(err)
		entry.Event, entry.Detail = AuditFailed, err.Error()
		op.record(ctx, entry)
		r.setState(ctx, sid, stateFailed)
		op.log.LogAttrs(ctx, slog.LevelError, "upstashops: action failed", slog.String("action", a.ID), slog.String("class", string(a.Class)), slog.String("target", a.Target), slog.String("error", err.Error()))
		return fmt.Errorf("upstashops: execute action %s on %s: %w", a.ID, a.Target, err)
	}
	entry.Event, entry.Detail = AuditExecuted, ""
	op.record(ctx, entry)
	r.setState(ctx, sid, stateExecuted)
	op.log.LogAttrs(ctx, slog.LevelInfo, "upstashops: action executed", slog.String("action", a.ID), slog.String("class", string(a.Class)), slog.String("target", a.Target), slog.String("actor", actor))
	return nil
}
