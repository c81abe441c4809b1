package schedules

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is the result of an audit, and of the actions taken on it when an
// Executor applied it.
type Report struct {
	GeneratedAt  time.Time       `json:"generatedAt"`
	Schedules    int             `json:"schedules"`
	PricePer100K float64         `json:"pricePer100K"`
	Findings     []Finding       `json:"findings"`
	Errors       []ScheduleError `json:"errors,omitempty"`
	Actions      []ActionResult  `json:"actions,omitempty"`
}

// FlaggedCost returns the bounds of the next 30 days' cost, in US dollars,
// of the schedules with at least one finding, each counted once.
func (r *Report) FlaggedCost() (lower, upper float64) {
	seen := map[string]bool{}
	for _, f := range r.Findings {
		if seen[f.ScheduleID] {
			continue
		}
		seen[f.ScheduleID] = true
		lower += f.Cost.USDLowerMonth
		upper += f.Cost.USDUpperMonth
	}
	return lower, upper
}

// WriteText writes the report as plain text, one paragraph per finding.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	lower, upper := r.FlaggedCost()
	fmt.Fprintf(&b, "QStash schedule audit, %s: %d schedules, %d findings; flagged schedules cost %s over the next 30 days.\n",
		r.GeneratedAt.UTC().Format(time.RFC3339), r.Schedules, len(r.Findings), usdRange(lower, upper))
	for i, f := range r.Findings {
		fmt.Fprintf(&b, "\n%d. [%s] %s", i+1, f.Severity, f.Kind)
		if f.Cause != "" {
			fmt.Fprintf(&b, " (%s)", f.Cause)
		}
		b.WriteString("\n" + f.Summary + "\n")
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "\nNot audited: schedule %s: %s\n", e.ScheduleID, e.Err)
	}
	if len(r.Actions) > 0 {
		b.WriteString("\nActions:\n")
		for _, a := range r.Actions {
			b.WriteString("- " + a.String() + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the report as Markdown: a summary table and one
// section per finding.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	lower, upper := r.FlaggedCost()
	fmt.Fprintf(&b, "# QStash schedule audit\n\n%s: %d schedules, %d findings. Flagged schedules cost **%s** over the next 30 days.\n",
		r.GeneratedAt.UTC().Format(time.RFC3339), r.Schedules, len(r.Findings), usdRange(lower, upper))
	if len(r.Findings) > 0 {
		b.WriteString("\n| # | Severity | Finding | Schedule | Destination | Messages (30 days) | Recommendation |\n|---|---|---|---|---|---|---|\n")
		for i, f := range r.Findings {
			kind := string(f.Kind)
			if f.Cause != "" {
				kind += " (" + string(f.Cause) + ")"
			}
			rec := string(f.Recommendation)
			if rec == "" {
				rec = "investigate"
			}
			fmt.Fprintf(&b, "| %d | %s | %s | `%s` | %s %s | %s | %s |\n", i+1, f.Severity, kind, mdEscape(f.ScheduleID),
				f.Method, mdEscape(f.Destination), messageRange(f.Cost.MessagesLower30d, f.Cost.MessagesUpper30d), rec)
		}
		for i, f := range r.Findings {
			fmt.Fprintf(&b, "\n## %d. %s: `%s`\n\n%s\n", i+1, f.Kind, mdEscape(f.ScheduleID), mdEscape(f.Summary))
		}
	}
	if len(r.Errors) > 0 {
		b.WriteString("\n## Not audited\n\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "- `%s`: %s\n", mdEscape(e.ScheduleID), mdEscape(e.Err))
		}
	}
	if len(r.Actions) > 0 {
		b.WriteString("\n## Actions\n\n")
		for _, a := range r.Actions {
			b.WriteString("- " + mdEscape(a.String()) + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// mdEscape keeps text from breaking a Markdown table or code span.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "`", "'", "\n", " ").Replace(s)
}
