package costlint

import (
	"cmp"
	"slices"
)

// Rule finds one kind of waste in a Snapshot. Check returns findings with
// CommandsPerMonth, CommandsPerMonthAfter and BandwidthSavedPerMonth set;
// the Linter prices them and sets the severity. A rule may set Severity to
// raise the floor of the severity that savings give. Rules must be safe to
// call from several goroutines.
type Rule interface {
	Name() string
	Check(s *Snapshot) []Finding
}

// NewRule returns a Rule that calls check.
func NewRule(name string, check func(s *Snapshot) []Finding) Rule {
	return funcRule{name: name, check: check}
}

type funcRule struct {
	name  string
	check func(s *Snapshot) []Finding
}

func (r funcRule) Name() string                { return r.name }
func (r funcRule) Check(s *Snapshot) []Finding { return r.check(s) }

// Severity ranks a finding.
type Severity int

// Severities, from least to most urgent.
const (
	// SeverityInfo findings save less than the alert threshold.
	SeverityInfo Severity = iota
	// SeverityAlert findings save at least the alert threshold ($50 a
	// month by default).
	SeverityAlert
	// SeverityHigh findings save at least the detail threshold ($200 a
	// month by default) and are reported with code-level before and after,
	// or are KEYS calls, which are always high.
	SeverityHigh
)

// String returns "info", "alert" or "high".
func (s Severity) String() string {
	switch s {
	case SeverityAlert:
		return "alert"
	case SeverityHigh:
		return "high"
	}
	return "info"
}

// MarshalText encodes the severity as its String.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding is one instance of waste with its evidence, fix and price.
type Finding struct {
	Rule     string   `json:"rule"`
	Title    string   `json:"title"`
	Severity Severity `json:"severity"`
	// Evidence states the observed counts behind the finding.
	Evidence  string   `json:"evidence"`
	CallSites []string `json:"call_sites,omitempty"`
	Patterns  []string `json:"key_patterns,omitempty"`
	Commands  []string `json:"commands,omitempty"`
	// Recommendation is the specific fix.
	Recommendation string `json:"recommendation"`
	// Before and After are code sketches of the fix, shown for
	// SeverityHigh findings.
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`

	// CommandsPerMonth is the billed commands a month that the finding
	// covers, projected from the window, and CommandsPerMonthAfter what
	// they become after the fix.
	CommandsPerMonth      float64 `json:"commands_per_month"`
	CommandsPerMonthAfter float64 `json:"commands_per_month_after"`
	// BandwidthSavedPerMonth is bytes a month the fix would not transfer.
	BandwidthSavedPerMonth float64 `json:"bandwidth_saved_bytes_per_month,omitempty"`
	// MonthlySavings is in dollars. On a fixed plan it is zero and
	// CommandsPerSecondFreed shows the headroom gained instead.
	MonthlySavings         float64 `json:"monthly_savings_usd"`
	CommandsPerSecondFreed float64 `json:"commands_per_second_freed,omitempty"`
}

// price fills the savings and the severity of f.
func (l *Linter) price(f *Finding, s *Snapshot, totalBandwidth float64) {
	p := s.Pricing
	saved := max(f.CommandsPerMonth-f.CommandsPerMonthAfter, 0)
	if p.Fixed() {
		f.MonthlySavings = 0
		f.CommandsPerSecondFreed = saved / Month.Seconds()
	} else {
		bw := p.BandwidthCost(totalBandwidth) - p.BandwidthCost(max(totalBandwidth-f.BandwidthSavedPerMonth, 0))
		f.MonthlySavings = p.CommandCost(saved) + bw
	}
	bySavings := SeverityInfo
	switch {
	case f.MonthlySavings >= l.cfg.detailAt:
		bySavings = SeverityHigh
	case f.MonthlySavings >= l.cfg.alertAt:
		bySavings = SeverityAlert
	}
	f.Severity = max(f.Severity, bySavings)
	if f.Severity < SeverityHigh {
		f.Before, f.After = "", ""
	}
}

func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), cmp.Compare(b.MonthlySavings, a.MonthlySavings),
			cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Title, b.Title))
	})
}
