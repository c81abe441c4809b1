package upstashops

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Reasoner writes the narrative that introduces a set of findings in the
// digest and on the dashboard. An application can pass the structured
// findings to its own language model here; the Operator makes no network
// call for narratives unless such a Reasoner does.
type Reasoner interface {
	Narrate(ctx context.Context, findings []Finding) (string, error)
}

// TemplateReasoner is the built-in Reasoner: a fixed template over counts,
// savings and the most urgent finding. The same findings always give the
// same text.
type TemplateReasoner struct{}

// Narrate summarises findings in a few sentences.
func (TemplateReasoner) Narrate(_ context.Context, findings []Finding) (string, error) {
	if len(findings) == 0 {
		return "No open findings.", nil
	}
	fs := append([]Finding(nil), findings...)
	sortFindings(fs)
	var counts [3]int
	var savings float64
	for _, f := range fs {
		if f.Severity >= Info && f.Severity <= Critical {
			counts[f.Severity]++
		}
		savings += f.SavingsUSD
	}
	var parts []string
	for _, s := range []Severity{Critical, Warning, Info} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d open %s (%s).", len(fs), plural(len(fs), "finding", "findings"), strings.Join(parts, ", "))
	if savings > 0 {
		fmt.Fprintf(&b, " Following the recommendations would save an estimated $%.2f per month.", savings)
	}
	top := fs[0]
	fmt.Fprintf(&b, " Most urgent: %s", strings.TrimSuffix(top.Summary, "."))
	if top.Recommendation != "" {
		fmt.Fprintf(&b, "; %s", lowerFirst(strings.TrimSuffix(top.Recommendation, ".")))
	}
	b.WriteString(".")
	return b.String(), nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// Narrative returns the configured Reasoner's text for findings, or the
// template's when that Reasoner fails.
func (op *Operator) Narrative(ctx context.Context, findings []Finding) string {
	text, err := op.cfg.reasoner.Narrate(ctx, findings)
	if err == nil {
		return text
	}
	op.log.LogAttrs(ctx, slog.LevelWarn, "upstashops: reasoner failed, using the template narrative", slog.String("error", redactError(err).Error()))
	text, _ = TemplateReasoner{}.Narrate(ctx, findings)
	return text
}
