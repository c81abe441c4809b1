package upstashops

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Severity ranks a finding by how soon a person should look at it. The zero
// value is Info.
type Severity int

const (
	// Info findings are collected into the daily digest.
	Info Severity = iota
	// Warning findings go to chat channels as they are found.
	Warning
	// Critical findings page the on-call channel and go to chat as well.
	Critical
)

// String returns "info", "warning" or "critical".
func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Critical:
		return "critical"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// MarshalText encodes the severity as its name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses "info", "warning" or "critical".
func (s *Severity) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "info":
		*s = Info
	case "warning":
		*s = Warning
	case "critical":
		*s = Critical
	default:
		return fmt.Errorf("upstashops: invalid severity %q: want info, warning or critical", b)
	}
	return nil
}

// Evidence is one named observation behind a finding, such as
// "commands/day" = "1.2M".
type Evidence struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Finding is one thing a job found, in the shape shared by every leaf: what
// it is, how bad, why the Operator believes it, what to do, what that saves
// and which actions the Operator could take.
//
// ID identifies the same problem across runs and across Operator instances,
// so that cooldowns, resolutions and approvals refer to it; build it with
// FindingID from the kind and the subject, never from values that change
// between runs such as counts or timestamps.
type Finding struct {
	ID       string   `json:"id"`
	Kind     string   `json:"kind"`   // dotted, source first: "cost.missing_ttl", "schedule.zombie"
	Source   JobName  `json:"source"` // the job that produced it; set by the Operator when empty
	Severity Severity `json:"severity"`
	// Subject is what the finding is about: a key pattern, a schedule ID,
	// a workflow run, a rate-limit name.
	Subject        string     `json:"subject"`
	Summary        string     `json:"summary"`
	Evidence       []Evidence `json:"evidence,omitempty"`
	Recommendation string     `json:"recommendation,omitempty"`
	// SavingsUSD is the estimated saving per month, in US dollars, if the
	// recommendation is followed. Zero when the finding is not about cost.
	SavingsUSD float64  `json:"savings_usd,omitempty"`
	Actions    []Action `json:"actions,omitempty"`

	// FirstSeen and LastSeen are set by the Operator.
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// FindingID returns a stable identifier for a finding of kind about
// subject: the kind followed by a hash of both, e.g.
// "schedule.zombie-3f2a9c0d1e4b5a67". The same inputs give the same ID in
// every process and release.
func FindingID(kind string, subject ...string) string {
	h := sha256.New()
	h.Write([]byte(kind))
	for _, s := range subject {
		h.Write([]byte{0})
		h.Write([]byte(s))
	}
	return kind + "-" + hex.EncodeToString(h.Sum(nil)[:8])
}

// ActionClass names a kind of change the Operator may make. Policy sets the
// autonomy of each class.
type ActionClass string

const (
	// ActionTTLFloor sets a minimum TTL on keys of a pattern.
	ActionTTLFloor ActionClass = "ttl_floor"
	// ActionRateLimitChange changes the limit of a rate limiter.
	ActionRateLimitChange ActionClass = "rate_limit_change"
	// ActionPauseSchedule pauses a QStash schedule.
	ActionPauseSchedule ActionClass = "pause_schedule"
	// ActionDeleteSchedule deletes a QStash schedule. It is never
	// autonomous unless Policy.AllowAutonomousDelete is set.
	ActionDeleteSchedule ActionClass = "delete_schedule"
	// ActionPauseWorkflow stops retrying a workflow whose failure retries
	// cannot fix.
	ActionPauseWorkflow ActionClass = "pause_workflow"
)

// ActionClasses lists every action class, in the order the dashboard shows
// them.
var ActionClasses = []ActionClass{ActionTTLFloor, ActionRateLimitChange, ActionPauseSchedule, ActionDeleteSchedule, ActionPauseWorkflow}

// Action is a change the Operator proposes for a finding. Whether it runs,
// waits for approval or is only reported depends on the Policy.
type Action struct {
	// ID is stable for the same finding, class and target; FindingID and
	// ID are filled in by the Operator when empty.
	ID        string      `json:"id"`
	FindingID string      `json:"finding_id"`
	Class     ActionClass `json:"class"`
	// Target is what the action changes: a schedule ID, a key pattern, a
	// limiter name, a workflow run ID.
	Target      string `json:"target"`
	Description string `json:"description"`
	// Params carries class-specific arguments for the Executor, such as
	// "ttl" = "24h" or "limit" = "200/1m".
	Params map[string]string `json:"params,omitempty"`
}

func actionID(findingID string, class ActionClass, target string) string {
	h := sha256.Sum256([]byte(findingID + "\x00" + string(class) + "\x00" + target))
	return "act-" + hex.EncodeToString(h[:8])
}

// normalize fills in the IDs and times that a job may leave empty.
func (f *Finding) normalize(source JobName, now time.Time) {
	if f.Source == "" {
		f.Source = source
	}
	if f.ID == "" {
		f.ID = FindingID(f.Kind, f.Subject)
	}
	if f.FirstSeen.IsZero() {
		f.FirstSeen = now
	}
	f.LastSeen = now
	for i := range f.Actions {
		a := &f.Actions[i]
		a.FindingID = f.ID
		if a.ID == "" {
			a.ID = actionID(f.ID, a.Class, a.Target)
		}
	}
}
