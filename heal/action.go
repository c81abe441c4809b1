package heal

import (
	"context"
	"fmt"
	"time"
)

// Pauser pauses and resumes what failed: a workflow, a QStash schedule or
// one of the app's jobs, named by the Event's Target.
type Pauser interface {
	Pause(ctx context.Context, target, reason string) error
	Resume(ctx context.Context, target string) error
}

// Alerter sends an alert to the owner.
type Alerter interface {
	Alert(ctx context.Context, a Alert) error
}

// Reviewer hands a logical failure to a person. The Monitor never resumes
// or replays such a run, because a replay may repeat its side effects.
type Reviewer interface {
	Review(ctx context.Context, r Review) error
}

// DependencyChecker reports whether a dependency is healthy. dependency is
// an origin such as "https://api.vendor.com". A nil error means healthy.
type DependencyChecker interface {
	Check(ctx context.Context, dependency string) error
}

// Approver decides on an action when the policy's mode is Approval.
type Approver interface {
	Approve(ctx context.Context, a Action) (bool, error)
}

// AuditSink receives every audit record, before and after each action.
type AuditSink interface {
	Record(ctx context.Context, r AuditRecord) error
}

// Alert is the message an Alerter receives.
type Alert struct {
	Target      string
	RunID       string
	Step        string
	Verdict     Verdict
	Fingerprint Fingerprint
	// Runs is how many distinct runs failed this way within the window.
	Runs int
	// Silent is true when the run succeeded although a call in it failed.
	Silent bool
}

// Review is the full context of a logical failure for a person. Excerpts
// are cut to 1 KiB and have secrets replaced with REDACTED.
type Review struct {
	Target  string
	RunID   string
	Step    string
	Status  int
	Error   string
	Input   string
	Body    string
	Verdict Verdict
	Runs    int
}

// Mode is how far the Monitor may act. The zero value is DryRun.
type Mode int

// The modes.
const (
	// DryRun decides and reports every action without taking it.
	DryRun Mode = iota
	// Off takes no action and reports none; the Monitor only classifies.
	Off
	// Approval asks the Approver before each action.
	Approval
	// Autonomous takes each action within the per-pass limit.
	Autonomous
)

var modeNames = [...]string{"dry-run", "off", "approval", "autonomous"}

// String returns the mode's name.
func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("Mode(%d)", int(m))
	}
	return modeNames[m]
}

// DefaultMaxActions is the per-pass action limit when Policy.MaxActions is
// zero.
const DefaultMaxActions = 10

// Policy is the owner's limit on actions. The zero value is a dry run with
// at most DefaultMaxActions actions a pass.
type Policy struct {
	Mode Mode
	// MaxActions is the limit of actions in one pass (one Process, Poll or
	// Probe call). Zero means DefaultMaxActions, and a negative value means
	// no limit.
	MaxActions int
}

func (p Policy) maxActions() int {
	if p.MaxActions == 0 {
		return DefaultMaxActions
	}
	return p.MaxActions
}

// ActionKind names an action.
type ActionKind string

// The actions.
const (
	ActionPause  ActionKind = "pause"
	ActionResume ActionKind = "resume"
	ActionAlert  ActionKind = "alert"
	ActionReview ActionKind = "review"
)

// Action is one step the Monitor decided to take.
type Action struct {
	Kind   ActionKind
	Target string
	// Dependency is the origin a pause waits for, or "".
	Dependency string
	// Reason is the fix hint or the reason to resume.
	Reason string
	RunID  string
	Class  Class
}

// Outcome is the result of one action under the policy.
type Outcome string

// The outcomes.
const (
	// OutcomePending is the record written before the action runs.
	OutcomePending Outcome = "pending"
	OutcomeDone    Outcome = "done"
	OutcomeDryRun  Outcome = "dry-run"
	OutcomeDenied  Outcome = "denied"
	// OutcomeOverLimit means the per-pass limit was reached.
	OutcomeOverLimit Outcome = "over-limit"
	// OutcomeNoHandler means the interface the action needs was not given.
	OutcomeNoHandler Outcome = "no-handler"
	// OutcomeFailed means the handler or the approver returned an error.
	// The Monitor tries the action again on the next event of the same
	// fingerprint.
	OutcomeFailed Outcome = "failed"
)

// AuditRecord is one entry of the audit trail. Each action taken, denied
// or skipped gets one; an action that runs gets a pending one before it.
type AuditRecord struct {
	Time    time.Time
	Action  Action
	Mode    Mode
	Outcome Outcome
	// Error is the handler's or approver's error text, or "".
	Error string
}
