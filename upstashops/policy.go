package upstashops

import (
	"fmt"
	"maps"
)

// Autonomy is how far the Operator may go with one class of action. The zero
// value is Recommend.
type Autonomy int

const (
	// Recommend lists the action with the finding and in the audit trail;
	// nothing runs.
	Recommend Autonomy = iota
	// Off drops the action: it is neither recommended nor run.
	Off
	// DryRun records in the audit trail what would run, without running it.
	DryRun
	// RequireApproval stores the action as pending until a person approves
	// or rejects it, or it expires.
	RequireApproval
	// Autonomous runs the action within the per-run and per-day caps.
	Autonomous
)

// String returns the autonomy's name as the dashboard shows it.
func (a Autonomy) String() string {
	switch a {
	case Recommend:
		return "recommend"
	case Off:
		return "off"
	case DryRun:
		return "dry run"
	case RequireApproval:
		return "approval"
	case Autonomous:
		return "autonomous"
	}
	return fmt.Sprintf("autonomy(%d)", int(a))
}

// MarshalText encodes the autonomy as its name.
func (a Autonomy) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Policy sets the autonomy of each action class and caps how many actions
// run. The zero value is ObserveOnly: every action is recommended and none
// runs.
type Policy struct {
	// Default applies to classes missing from Classes.
	Default Autonomy
	// Classes sets the autonomy per action class.
	Classes map[ActionClass]Autonomy
	// MaxPerRun caps autonomous actions per job run; zero means 3.
	MaxPerRun int
	// MaxPerDay caps autonomous actions per UTC day across every instance
	// sharing the Redis (per process without Redis); zero means 20.
	MaxPerDay int
	// AllowAutonomousDelete lets ActionDeleteSchedule run autonomously.
	// Without it, an Autonomous setting for deletes is treated as
	// RequireApproval.
	AllowAutonomousDelete bool
}

// ObserveOnly is the default policy: findings and recommendations, no
// action.
var ObserveOnly = Policy{}

// With returns a copy of p with class set to a.
func (p Policy) With(class ActionClass, a Autonomy) Policy {
	p.Classes = maps.Clone(p.Classes)
	if p.Classes == nil {
		p.Classes = map[ActionClass]Autonomy{}
	}
	p.Classes[class] = a
	return p
}

// For returns the autonomy that applies to class, after the rule that a
// delete is never autonomous unless AllowAutonomousDelete is set.
func (p Policy) For(class ActionClass) Autonomy {
	a, ok := p.Classes[class]
	if !ok {
		a = p.Default
	}
	if a == Autonomous && class == ActionDeleteSchedule && !p.AllowAutonomousDelete {
		return RequireApproval
	}
	return a
}

func (p Policy) perRun() int {
	if p.MaxPerRun > 0 {
		return p.MaxPerRun
	}
	return 3
}

func (p Policy) perDay() int {
	if p.MaxPerDay > 0 {
		return p.MaxPerDay
	}
	return 20
}

func (p Policy) needsApproval() bool {
	if p.Default == RequireApproval {
		return true
	}
	for _, c := range ActionClasses {
		if p.For(c) == RequireApproval {
			return true
		}
	}
	return false
}

func (p Policy) validate() error {
	check := func(a Autonomy) error {
		if a < Recommend || a > Autonomous {
			return fmt.Errorf("upstashops: invalid autonomy %d in policy", int(a))
		}
		return nil
	}
	if err := check(p.Default); err != nil {
		return err
	}
	for class, a := range p.Classes {
		if err := check(a); err != nil {
			return fmt.Errorf("%w for class %q", err, class)
		}
	}
	if p.MaxPerRun < 0 || p.MaxPerDay < 0 {
		return fmt.Errorf("upstashops: invalid policy caps %d per run, %d per day: they must not be negative", p.MaxPerRun, p.MaxPerDay)
	}
	return nil
}
