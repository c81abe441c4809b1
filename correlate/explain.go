package correlate

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// render writes the one-line summary and the full text of an incident.
func (c *Correlator) render(inc *Incident) (summary, text string) {
	var b strings.Builder
	root := inc.Root
	fmt.Fprintf(&b, "Incident %s, %s to %s UTC\n", inc.ID, clockTime(inc.Start), clockTime(inc.End))

	b.WriteString("What changed, in onset order:\n")
	for _, m := range inc.Members {
		fmt.Fprintf(&b, "  %s  %s\n", clockTime(m.Start), describe(m))
	}
	if inc.Dropped > 0 {
		fmt.Fprintf(&b, "  (%d more anomalies are not listed: an incident keeps at most %d)\n", inc.Dropped, c.cfg.maxMembers)
	}

	if len(inc.Chain) > 1 {
		b.WriteString("Likely chain:\n")
		for i := 1; i < len(inc.Chain); i++ {
			from, to := inc.Chain[i-1], inc.Chain[i]
			e, _ := c.causes(SignalOf(from.Series), SignalOf(to.Series))
			lag := to.Start.Sub(from.Start).Round(time.Second)
			fmt.Fprintf(&b, "  %s -> %s after %s: %s\n", label(from), label(to), lag, e.Why)
		}
	}

	fmt.Fprintf(&b, "Root cause: %s.\n", describe(root))
	if rootSignal(inc) == SignalQStashPublish && !hasSignal(inc, SignalQStashDelivered) {
		b.WriteString("Deliveries did not fail, so the endpoints are healthy: this is a publish flood, not an endpoint failure.\n")
	}
	if todo := adviceFor(inc); todo != "" {
		fmt.Fprintf(&b, "What to do: %s.\n", todo)
	}

	related := "related anomalies"
	if len(inc.Members) == 2 {
		related = "related anomaly"
	}
	summary = fmt.Sprintf("%s; %d %s: %s", describe(root), len(inc.Members)-1, related, inc.Story)
	return summary, b.String()
}

// rootSignal is the signal of the root, or of the first anomaly after it
// when the root is an event.
func rootSignal(inc *Incident) string {
	for _, a := range inc.Chain {
		if a.Kind != KindEvent {
			return SignalOf(a.Series)
		}
	}
	return SignalOf(inc.Root.Series)
}

func hasSignal(inc *Incident, signal string) bool {
	for _, m := range inc.Members {
		if SignalOf(m.Series) == signal {
			return true
		}
	}
	return false
}

func adviceFor(inc *Incident) string {
	todo := advice[rootSignal(inc)]
	if inc.Root.Kind == KindEvent && todo != "" {
		return fmt.Sprintf("review or roll back the %s (%s), which came first; then %s",
			strings.TrimPrefix(inc.Root.Series, SignalEvent), inc.Root.Detail, todo)
	}
	return todo
}

// label is the short name of a member for the chain: the series and its
// direction.
func label(a Anomaly) string {
	if a.Kind == KindEvent {
		return fmt.Sprintf("%s (%s)", strings.TrimPrefix(a.Series, SignalEvent), a.Detail)
	}
	if a.Kind == KindLag {
		return a.Series + " " + a.Detail
	}
	if a.Up() {
		return a.Series + " up"
	}
	return a.Series + " down"
}

// describe states what one member did, with its numbers.
func describe(a Anomaly) string {
	switch a.Kind {
	case KindEvent:
		return fmt.Sprintf("%s: %s", strings.TrimPrefix(a.Series, SignalEvent), a.Detail)
	case KindLag:
		return fmt.Sprintf("%s %s (lag %s)", a.Series, a.Detail, number(a.Value))
	}
	verb := "rose"
	if !a.Up() {
		verb = "fell"
	}
	change := ""
	switch ratio := a.Value / a.Expected; {
	case a.Expected == 0 || math.IsInf(ratio, 0) || math.IsNaN(ratio):
	case ratio >= 2:
		change = fmt.Sprintf(" (%.1fx)", ratio)
	default:
		change = fmt.Sprintf(" (%+.0f%%)", (ratio-1)*100)
	}
	return fmt.Sprintf("%s %s from %s to %s%s, %s", a.Series, verb, number(a.Expected), number(a.Value), change, a.Kind)
}

// number formats a metric value with three significant digits, using k, M,
// G and T for thousands and up (12345 is "12.3k").
func number(v float64) string {
	suffixes := []struct {
		scale float64
		unit  string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}}
	for _, s := range suffixes {
		if math.Abs(v) >= s.scale {
			return strconv.FormatFloat(v/s.scale, 'g', 3, 64) + s.unit
		}
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func clockTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
