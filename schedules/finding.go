package schedules

import "time"

// Kind names a rule and the findings it produces.
type Kind string

// Kinds of findings.
const (
	// KindZombie: the last ZombieTriggers completed triggers all failed with
	// a 5xx status.
	KindZombie Kind = "zombie"
	// KindDegraded: many recent triggers failed, but not all.
	KindDegraded Kind = "degraded"
	// KindEndpointGone: the last GoneTriggers triggers failed with 404, 410,
	// an unresolvable host or a refused connection.
	KindEndpointGone Kind = "endpoint_gone"
	// KindMisconfigured: the last MisconfiguredTriggers triggers failed the
	// same way for a reason retries never fix; Cause names it.
	KindMisconfigured Kind = "misconfigured"
	// KindDeadLetters: dead letters of the schedule keep recurring.
	KindDeadLetters Kind = "dead_letters"
	// KindDuplicate: another schedule, older or the only active one, has
	// the same destination, method, cron, forwarded headers and body.
	KindDuplicate Kind = "duplicate"
	// KindStaleCode: no route in the application's source serves the
	// destination path.
	KindStaleCode Kind = "stale_code"
	// KindPausedTooLong: paused for longer than PausedFor.
	KindPausedTooLong Kind = "paused_too_long"
	// KindNeverSucceeded: no delivery succeeded since the schedule was
	// created.
	KindNeverSucceeded Kind = "never_succeeded"
)

// Cause is the reason behind a KindMisconfigured finding.
type Cause string

// Causes of misconfiguration.
const (
	CauseRedirect         Cause = "redirect"
	CauseSignature        Cause = "signature"
	CauseBotChallenge     Cause = "bot_challenge"
	CauseMethodNotAllowed Cause = "method_not_allowed"
	CausePayloadTooLarge  Cause = "payload_too_large"
	CauseTLS              Cause = "tls"
	CauseTimeout          Cause = "timeout"
)

// Severity orders findings.
type Severity int

// Severities, lowest first.
const (
	SeverityInfo Severity = iota
	SeverityWarning
	SeverityCritical
)

func (s Severity) String() string {
	switch s {
	case SeverityCritical:
		return "critical"
	case SeverityWarning:
		return "warning"
	}
	return "info"
}

// MarshalText encodes the severity as its name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Action is a change the auditor can recommend and the Executor can make.
type Action string

// Actions.
const (
	ActionNone   Action = ""
	ActionPause  Action = "pause"
	ActionResume Action = "resume"
	ActionDelete Action = "delete"
)

// Finding is one problem with one schedule.
type Finding struct {
	Kind     Kind     `json:"kind"`
	Cause    Cause    `json:"cause,omitempty"`
	Severity Severity `json:"severity"`

	ScheduleID      string    `json:"scheduleId"`
	Cron            string    `json:"cron"`
	CronDescription string    `json:"cronDescription"`
	Method          string    `json:"method"`
	Destination     string    `json:"destination"`
	Paused          bool      `json:"paused"`
	CreatedAt       time.Time `json:"createdAt"`

	// Failures is how many of the latest completed triggers failed in the
	// way the finding describes, out of Checked.
	Failures int `json:"failures,omitempty"`
	Checked  int `json:"checked,omitempty"`
	// LastStatus, LastError and BodyExcerpt describe the latest failure.
	LastStatus  int    `json:"lastStatus,omitempty"`
	LastError   string `json:"lastError,omitempty"`
	BodyExcerpt string `json:"bodyExcerpt,omitempty"`
	// RedirectTo is the Location of a redirect that QStash did not follow.
	RedirectTo string `json:"redirectTo,omitempty"`
	// LastSuccess is the newest successful delivery seen; zero when none was
	// seen since HistoryFrom.
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	HistoryFrom time.Time `json:"historyFrom,omitzero"`
	// DuplicateOf is the id of the oldest schedule of a duplicate group.
	DuplicateOf string `json:"duplicateOf,omitempty"`
	// DeadLetters counts the schedule's DLQ entries in the lookback window.
	DeadLetters int  `json:"deadLetters,omitempty"`
	Cost        Cost `json:"cost"`

	Recommendation Action `json:"recommendation,omitempty"`
	// Summary is one paragraph that explains the finding and what to do.
	Summary string `json:"summary"`
}

// Cost is the consumption of a schedule, in QStash messages and dollars. Lower
// bounds count triggers only; upper bounds count every delivery attempt, so
// each trigger as 1 + retries messages. Public sources disagree on whether
// retries are billed, so the truth lies between the two.
type Cost struct {
	// Triggers30d is how many times the cron fired in the last 30 days,
	// since the schedule's creation when it is younger. Paused schedules
	// count the triggers seen in the events instead, or the cron's
	// triggers up to the last schedule time when the audit stopped reading
	// events early.
	Triggers30d int `json:"triggers30d"`
	// ObservedAttempts30d is how many delivery attempts the events read by
	// the audit showed. The audit stops reading once it has enough triggers
	// to judge, so this is a lower bound, not the 30-day total.
	ObservedAttempts30d int `json:"observedAttempts30d"`
	// MessagesLower30d and MessagesUpper30d bound the messages billed in the
	// last 30 days.
	MessagesLower30d int `json:"messagesLower30d"`
	MessagesUpper30d int `json:"messagesUpper30d"`
	// MessagesLowerMonth and MessagesUpperMonth bound the messages of the
	// next 30 days; both are 0 for a paused schedule.
	MessagesLowerMonth int `json:"messagesLowerMonth"`
	MessagesUpperMonth int `json:"messagesUpperMonth"`
	// USDLowerMonth and USDUpperMonth price the next 30 days.
	USDLowerMonth float64 `json:"usdLowerMonth"`
	USDUpperMonth float64 `json:"usdUpperMonth"`
}
