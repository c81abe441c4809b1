package schedules

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// summarize writes a finding's paragraph: which schedule, what is wrong,
// the evidence, when it last worked, what it costs and what to do.
func summarize(f Finding, problem string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Schedule %s (%s; %s %s) %s.", f.ScheduleID, f.CronDescription, f.Method, f.Destination, problem)

	if f.Failures > 0 {
		fmt.Fprintf(&b, " %d of the last %d completed triggers failed", f.Failures, f.Checked)
		if ev := evidence(f); ev != "" {
			b.WriteString(", the latest with " + ev)
		}
		b.WriteString(".")
	} else if f.DeadLetters > 0 {
		fmt.Fprintf(&b, " %d dead letters in the lookback window", f.DeadLetters)
		if ev := evidence(f); ev != "" {
			b.WriteString("; the latest got " + ev)
		}
		b.WriteString(".")
	}

	switch {
	case f.Kind == KindDuplicate || f.Kind == KindPausedTooLong || f.Kind == KindStaleCode:
	case !f.LastSuccess.IsZero():
		b.WriteString(" Last successful delivery: " + f.LastSuccess.UTC().Format("2006-01-02 15:04 MST") + ".")
	case !f.HistoryFrom.IsZero():
		b.WriteString(" No successful delivery since " + f.HistoryFrom.UTC().Format("2006-01-02 15:04 MST") + ", the oldest event read.")
	}

	c := f.Cost
	fmt.Fprintf(&b, " Messages in the last 30 days: %s (%s triggers", messageRange(c.MessagesLower30d, c.MessagesUpper30d), formatInt(c.Triggers30d))
	if c.ObservedAttempts30d > 0 {
		fmt.Fprintf(&b, ", %s delivery attempts seen", formatInt(c.ObservedAttempts30d))
	}
	b.WriteString(").")
	if c.MessagesUpperMonth > 0 {
		fmt.Fprintf(&b, " Next 30 days: %s messages, %s.", messageRange(c.MessagesLowerMonth, c.MessagesUpperMonth), usdRange(c.USDLowerMonth, c.USDUpperMonth))
	}
	b.WriteString(" " + recommendationText(f))
	return b.String()
}

// evidence describes the latest failure: status, error and body excerpt.
func evidence(f Finding) string {
	var parts []string
	if f.LastStatus != 0 {
		parts = append(parts, strconv.Itoa(f.LastStatus)+" "+http.StatusText(f.LastStatus))
	}
	if f.LastError != "" && (f.LastStatus == 0 || !strings.HasPrefix(f.LastError, strconv.Itoa(f.LastStatus))) {
		parts = append(parts, "error "+strconv.Quote(f.LastError))
	}
	if f.BodyExcerpt != "" {
		parts = append(parts, "body "+strconv.Quote(f.BodyExcerpt))
	}
	return strings.Join(parts, ", ")
}

func recommendationText(f Finding) string {
	if f.Paused && f.Recommendation == ActionNone {
		switch f.Kind {
		case KindZombie, KindMisconfigured, KindNeverSucceeded, KindStaleCode:
			if f.RedirectTo != "" {
				return "Recommendation: the schedule is paused; update the destination to " + f.RedirectTo + " before resuming it."
			}
			return "Recommendation: the schedule is paused; fix the destination before resuming it, or delete the schedule if nobody needs it."
		}
	}
	switch f.Kind {
	case KindEndpointGone:
		return "Recommendation: delete the schedule, or point it at the endpoint's new address."
	case KindMisconfigured:
		if f.RedirectTo != "" {
			return "Recommendation: update the destination to " + f.RedirectTo + "; pause the schedule until then."
		}
		return "Recommendation: pause the schedule until the destination is fixed; retries will not help."
	case KindZombie:
		return "Recommendation: pause the schedule and fix or retire the endpoint."
	case KindDegraded:
		return "Recommendation: investigate the endpoint's failures; no action is taken automatically."
	case KindDeadLetters:
		return "Recommendation: inspect the dead letters, fix the cause, then republish or delete them."
	case KindDuplicate:
		return "Recommendation: delete this duplicate and create schedules with a fixed Upstash-Schedule-Id."
	case KindPausedTooLong:
		return "Recommendation: delete the schedule if nobody needs it any more."
	case KindStaleCode:
		return "Recommendation: confirm the route was removed, then delete the schedule."
	case KindNeverSucceeded:
		return "Recommendation: pause the schedule until the destination works."
	}
	return ""
}

func messageRange(lower, upper int) string {
	if lower == upper {
		return formatInt(lower)
	}
	return formatInt(lower) + " to " + formatInt(upper)
}

// formatUSD writes a dollar amount with four decimals below one dollar, so
// that small schedules do not all read $0.00.
func formatUSD(v float64) string {
	if v < 1 {
		return fmt.Sprintf("$%.4f", v)
	}
	return fmt.Sprintf("$%.2f", v)
}

func usdRange(lower, upper float64) string {
	if lower == upper {
		return formatUSD(lower)
	}
	return formatUSD(lower) + " to " + formatUSD(upper)
}

// formatInt writes n with thousands separators.
func formatInt(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + formatInt(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// roundDays formats a duration as whole days.
func roundDays(d time.Duration) string {
	days := int(d / (24 * time.Hour))
	if days == 1 {
		return "1 day"
	}
	return strconv.Itoa(days) + " days"
}
