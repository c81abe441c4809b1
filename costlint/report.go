package costlint

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// SchemaVersion is the version of the JSON report format. It changes only
// when a field is removed or changes meaning; new fields keep it.
const SchemaVersion = 1

// Report is the priced result of a Linter's observation window.
//
// Its JSON form (WriteJSON) is a stable schema: schema_version, the window,
// the projected month, the findings sorted by severity and savings, and
// the overflow counters.
type Report struct {
	SchemaVersion int       `json:"schema_version"`
	Pricing       string    `json:"pricing"`
	Start         time.Time `json:"window_start"`
	End           time.Time `json:"window_end"`
	// WindowSeconds is the observed window that counts are projected from.
	WindowSeconds float64 `json:"window_seconds"`

	// CommandsObserved is the billed commands seen in the window.
	CommandsObserved uint64 `json:"commands_observed"`
	// CommandsPerMonth and CostPerMonth project the window to a Month.
	CommandsPerMonth float64 `json:"commands_per_month"`
	// BandwidthPerMonthGB is the estimated bandwidth in GB (10^9 bytes).
	BandwidthPerMonthGB float64 `json:"bandwidth_per_month_gb"`
	CostPerMonth        float64 `json:"cost_per_month_usd"`
	// CommandsPerSecond is the mean billed commands a second in the
	// window, to compare with a fixed plan's cap.
	CommandsPerSecond float64 `json:"commands_per_second"`
	// ShortWindow is set when commands were projected from a window
	// shorter than 10 seconds, so the monthly figures are rough estimates.
	ShortWindow bool `json:"short_window,omitempty"`

	Findings []Finding `json:"findings"`
	// MonthlySavings is the sum of the findings' savings, capped at
	// CostPerMonth on pay-as-you-go because findings can overlap.
	MonthlySavings float64  `json:"monthly_savings_usd"`
	Overflow       Overflow `json:"overflow"`
	// RuleErrors names rules that panicked; their findings are missing.
	RuleErrors []string `json:"rule_errors,omitempty"`
}

// shortWindow is the window below which a report warns that its monthly
// projection is rough. NOTE: 10 seconds is a judgement, not a measured
// bound: below it one burst more or less moves the projection a lot.
const shortWindow = 10 * time.Second

// Report runs every rule on a Snapshot taken now and prices the findings.
func (l *Linter) Report() *Report {
	return l.ReportFrom(l.Snapshot())
}

// ReportFrom runs every rule on s and prices the findings, in a span named
// costlint.Report.
func (l *Linter) ReportFrom(s *Snapshot) *Report {
	_, span := l.tracer().Start(context.Background(), "costlint.Report")
	defer span.End()
	rep := l.buildReport(s)
	span.SetAttributes(
		attribute.Int("costlint.findings", len(rep.Findings)),
		attribute.Float64("costlint.monthly_savings_usd", rep.MonthlySavings),
		attribute.Float64("costlint.window_seconds", rep.WindowSeconds),
	)
	return rep
}

func (l *Linter) buildReport(s *Snapshot) *Report {
	p := s.Pricing
	bandwidth := s.PerMonth(float64(s.ArgBytes + s.ReplyBytes))
	rep := &Report{
		SchemaVersion:       SchemaVersion,
		Pricing:             p.Name,
		Start:               s.Start.UTC(),
		End:                 s.End.UTC(),
		WindowSeconds:       s.Window.Seconds(),
		CommandsObserved:    s.BilledCommands,
		CommandsPerMonth:    s.PerMonth(float64(s.BilledCommands)),
		BandwidthPerMonthGB: bandwidth / 1e9,
		Overflow:            s.Overflow,
		Findings:            []Finding{},
		ShortWindow:         s.Window < shortWindow && s.BilledCommands > 0,
	}
	if s.Window > 0 {
		rep.CommandsPerSecond = float64(s.BilledCommands) / s.Window.Seconds()
	}
	if p.Fixed() {
		rep.CostPerMonth = p.MonthlyPrice
	} else {
		rep.CostPerMonth = p.CommandCost(rep.CommandsPerMonth) + p.BandwidthCost(bandwidth)
	}

	rules := append(append([]Rule(nil), l.cfg.rules...), l.cfg.extraRules...)
	for _, r := range rules {
		found, err := l.runRule(r, s)
		if err != nil {
			rep.RuleErrors = append(rep.RuleErrors, r.Name())
			continue
		}
		for i := range found {
			if found[i].Rule == "" {
				found[i].Rule = r.Name()
			}
			l.price(&found[i], s, bandwidth)
			rep.MonthlySavings += found[i].MonthlySavings
		}
		rep.Findings = append(rep.Findings, found...)
	}
	// Findings overlap, because the GETs that one MGET replaces can also be
	// the reads of a hot key, so their sum can pass the bill it comes from.
	if !p.Fixed() {
		rep.MonthlySavings = min(rep.MonthlySavings, rep.CostPerMonth)
	}
	sortFindings(rep.Findings)
	return rep
}

// runRule calls r.Check and turns a panic into an error, so that one
// broken rule does not take the report down.
func (l *Linter) runRule(r Rule, s *Snapshot) (found []Finding, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("costlint: rule %q panicked: %v", r.Name(), v)
			l.logger.Error("costlint rule failed", "rule", r.Name(), "panic", fmt.Sprint(v))
		}
	}()
	return r.Check(s), nil
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("costlint: write JSON report: %w", err)
	}
	return nil
}

// WriteText writes the report as plain text for a terminal or a log.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Redis cost report (%s)\n", r.Pricing)
	fmt.Fprintf(&b, "Window: %s, %s billed commands (%.1f/s)\n",
		time.Duration(r.WindowSeconds*float64(time.Second)).Round(time.Millisecond), count(float64(r.CommandsObserved)), r.CommandsPerSecond)
	fmt.Fprintf(&b, "Projected month: %s commands, %.3f GB, %s\n", count(r.CommandsPerMonth), r.BandwidthPerMonthGB, money(r.CostPerMonth))
	fmt.Fprintf(&b, "Findings: %d, savings %s a month\n", len(r.Findings), money(r.MonthlySavings))
	if r.ShortWindow {
		fmt.Fprintf(&b, "Caution: %s\n", shortWindowNote(r))
	}
	for i, f := range r.Findings {
		fmt.Fprintf(&b, "\n%d. [%s] %s\n", i+1, strings.ToUpper(f.Severity.String()), f.Title)
		fmt.Fprintf(&b, "   rule: %s\n", f.Rule)
		for _, cs := range f.CallSites {
			fmt.Fprintf(&b, "   at: %s\n", cs)
		}
		if len(f.Patterns) > 0 {
			fmt.Fprintf(&b, "   keys: %s\n", strings.Join(f.Patterns, ", "))
		}
		fmt.Fprintf(&b, "   evidence: %s\n", f.Evidence)
		if f.CommandsPerMonth > 0 {
			fmt.Fprintf(&b, "   commands a month: %s now, %s after\n", count(f.CommandsPerMonth), count(f.CommandsPerMonthAfter))
		}
		fmt.Fprintf(&b, "   saves: %s a month", money(f.MonthlySavings))
		if f.CommandsPerSecondFreed > 0 {
			fmt.Fprintf(&b, " (frees %.1f commands/s of the plan's cap)", f.CommandsPerSecondFreed)
		}
		fmt.Fprintf(&b, "\n   fix: %s\n", f.Recommendation)
		if f.Before != "" {
			fmt.Fprintf(&b, "   before:\n%s\n   after:\n%s\n", indent(f.Before, "      "), indent(f.After, "      "))
		}
	}
	writeOverflowText(&b, r)
	_, err := io.WriteString(w, b.String())
	return err
}

// shortWindowNote explains how far a short window was scaled up.
func shortWindowNote(r *Report) string {
	window := time.Duration(r.WindowSeconds * float64(time.Second))
	factor := 0.0
	if window > 0 {
		factor = float64(Month) / float64(window)
	}
	return fmt.Sprintf("the month is projected from only %s of traffic (scaled up %s times), "+
		"so the monthly commands, dollars and savings are rough estimates. Observe for minutes, "+
		"or a full traffic cycle, before acting on them.", window.Round(time.Millisecond), count(factor))
}

func writeOverflowText(b *strings.Builder, r *Report) {
	o := r.Overflow
	if o.CallSites > 0 || o.Patterns > 0 || o.UnknownScripts > 0 {
		fmt.Fprintf(b, "\nNot aggregated (memory caps): %d commands past the call-site cap, %d past the pattern cap, %d EVALSHA of scripts never seen in EVAL.\n",
			o.CallSites, o.Patterns, o.UnknownScripts)
	}
	for _, name := range r.RuleErrors {
		fmt.Fprintf(b, "Rule %s failed; its findings are missing.\n", name)
	}
}

// WriteMarkdown writes the report as GitHub-flavoured Markdown.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Redis cost report\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| Pricing | %s |\n", r.Pricing)
	fmt.Fprintf(&b, "| Window | %s |\n", time.Duration(r.WindowSeconds*float64(time.Second)).Round(time.Millisecond))
	fmt.Fprintf(&b, "| Billed commands | %s (%.1f/s) |\n", count(float64(r.CommandsObserved)), r.CommandsPerSecond)
	fmt.Fprintf(&b, "| Projected month | %s commands, %.3f GB, %s |\n", count(r.CommandsPerMonth), r.BandwidthPerMonthGB, money(r.CostPerMonth))
	fmt.Fprintf(&b, "| Savings found | %s a month in %d findings |\n", money(r.MonthlySavings), len(r.Findings))
	if r.ShortWindow {
		fmt.Fprintf(&b, "\n> **Caution:** %s\n", shortWindowNote(r))
	}

	if len(r.Findings) > 0 {
		fmt.Fprintf(&b, "\n| Severity | Finding | Commands a month (now → after) | Saves a month |\n|---|---|---:|---:|\n")
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "| %s | %s | %s → %s | %s |\n", f.Severity, mdEscape(f.Title),
				count(f.CommandsPerMonth), count(f.CommandsPerMonthAfter), money(f.MonthlySavings))
		}
	}

	for _, f := range r.Findings {
		fmt.Fprintf(&b, "\n## %s\n\n", mdEscape(f.Title))
		fmt.Fprintf(&b, "- **Severity:** %s (rule `%s`)\n", f.Severity, f.Rule)
		for _, cs := range f.CallSites {
			fmt.Fprintf(&b, "- **Call site:** `%s`\n", cs)
		}
		if len(f.Patterns) > 0 {
			fmt.Fprintf(&b, "- **Keys:** `%s`\n", strings.Join(f.Patterns, "`, `"))
		}
		fmt.Fprintf(&b, "- **Evidence:** %s\n", f.Evidence)
		fmt.Fprintf(&b, "- **Saves:** %s a month\n", money(f.MonthlySavings))
		fmt.Fprintf(&b, "\n%s\n", f.Recommendation)
		if f.Before != "" {
			fmt.Fprintf(&b, "\nBefore:\n\n```go\n%s\n```\n\nAfter:\n\n```go\n%s\n```\n", f.Before, f.After)
		}
	}

	var tail strings.Builder
	writeOverflowText(&tail, r)
	b.WriteString(tail.String())
	_, err := io.WriteString(w, b.String())
	return err
}

// indent prefixes every non-empty line of s, so blank lines carry no
// trailing spaces.
func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		if line != "" {
			lines[i] = prefix + line
		}
	}
	return strings.Join(lines, "\n")
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`).Replace(s)
}
