package schedules

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/upstash-ops/sdk/internal/qstash/cron"
)

// bodyExcerptBytes bounds the response body quoted in a finding.
const bodyExcerptBytes = 160

// misconfigurations maps the outcomes that retries never fix to their cause.
var misconfigurations = map[outcome]Cause{
	outcomeRedirect:         CauseRedirect,
	outcomeSignature:        CauseSignature,
	outcomeChallenge:        CauseBotChallenge,
	outcomeMethodNotAllowed: CauseMethodNotAllowed,
	outcomeTooLarge:         CausePayloadTooLarge,
	outcomeTLS:              CauseTLS,
	outcomeTimeout:          CauseTimeout,
}

// evaluate runs the per-schedule rules.
func (a *Auditor) evaluate(ctx context.Context, s Schedule, parsed *cron.Schedule, h *history, dlq dlqSummary, cost Cost, now time.Time) []Finding {
	th := a.cfg.thresholds
	base := a.baseFinding(s, parsed, h, cost)
	completed := h.completedTriggers()
	var out []Finding

	failureFinding := a.failureRules(base, completed)
	if failureFinding != nil {
		out = append(out, *failureFinding)
	}

	if !a.cfg.disabled[KindNeverSucceeded] && failureFinding == nil && h.lastSuccess.IsZero() && h.complete &&
		len(completed) > 0 && !s.CreatedAt.IsZero() && now.Sub(s.CreatedAt) >= th.NeverSucceededAfter &&
		!s.CreatedAt.Before(now.Add(-a.cfg.lookback)) {
		f := base
		f.Kind, f.Severity, f.Recommendation = KindNeverSucceeded, SeverityWarning, pauseUnlessPaused(base)
		f.Failures, f.Checked = len(completed), len(completed)
		fillLastFailure(&f, completed[0])
		f.Summary = summarize(f, "has never delivered successfully since it was created")
		out = append(out, f)
	}

	// Dead letters of a schedule that already has a failure finding are
	// part of that finding; otherwise they are a finding of their own.
	if !a.cfg.disabled[KindDeadLetters] && dlq.count > 0 {
		if len(out) > 0 {
			out[0].DeadLetters = dlq.count
			out[0].Summary = addDeadLetters(out[0].Summary, dlq.count)
		} else if dlq.count >= th.DeadLetters {
			f := base
			f.Kind, f.Severity, f.Recommendation = KindDeadLetters, SeverityWarning, ActionNone
			f.DeadLetters = dlq.count
			f.LastStatus = dlq.latest.ResponseStatus
			f.BodyExcerpt = redactText(excerptBody(dlq.latest.ResponseBody))
			f.Summary = summarize(f, "keeps producing dead letters")
			out = append(out, f)
		}
	}

	if !a.cfg.disabled[KindPausedTooLong] && s.Paused {
		last := s.LastScheduleTime
		if len(h.triggers) > 0 && h.triggers[0].at.After(last) {
			last = h.triggers[0].at
		}
		if last.IsZero() {
			last = s.CreatedAt
		}
		if !last.IsZero() && now.Sub(last) >= th.PausedFor {
			f := base
			f.Kind, f.Severity, f.Recommendation = KindPausedTooLong, SeverityInfo, ActionDelete
			f.HistoryFrom = last
			f.Summary = summarize(f, "has been paused for "+roundDays(now.Sub(last))+" (no trigger since "+last.Format(time.DateOnly)+")")
			out = append(out, f)
		}
	}

	if a.cfg.codeIndex != nil && !a.cfg.disabled[KindStaleCode] {
		if f, ok := a.staleCode(ctx, base); ok {
			out = append(out, f)
		}
	}
	return out
}

// failureRules applies zombie, endpoint-gone, misconfigured and degraded to
// the latest completed triggers and returns the first that matches, in
// that order of precedence.
func (a *Auditor) failureRules(base Finding, completed []*trigger) *Finding {
	th := a.cfg.thresholds
	if len(completed) == 0 {
		return nil
	}
	latest := completed[0]

	// Endpoint gone.
	if !a.cfg.disabled[KindEndpointGone] && allMatch(completed, th.GoneTriggers, func(t *trigger) bool {
		return t.outcome == outcomeGone || t.outcome == outcomeConnRefused
	}) {
		f := base
		f.Kind, f.Severity, f.Recommendation = KindEndpointGone, SeverityCritical, ActionDelete
		f.Failures, f.Checked = th.GoneTriggers, th.GoneTriggers
		fillLastFailure(&f, latest)
		f.Summary = summarize(f, "targets an endpoint that no longer exists")
		return &f
	}

	// Misconfigured: the same cause on every one of the latest triggers.
	if cause, ok := misconfigurations[latest.outcome]; ok && !a.cfg.disabled[KindMisconfigured] &&
		allMatch(completed, th.MisconfiguredTriggers, func(t *trigger) bool { return t.outcome == latest.outcome }) {
		f := base
		f.Kind, f.Cause, f.Severity, f.Recommendation = KindMisconfigured, cause, SeverityCritical, pauseUnlessPaused(base)
		f.Failures, f.Checked = th.MisconfiguredTriggers, th.MisconfiguredTriggers
		fillLastFailure(&f, latest)
		if cause == CauseRedirect {
			f.RedirectTo = redactURL(resolveLocation(base.Destination, latest.header.Get("Location")))
		}
		f.Summary = summarize(f, misconfiguredText(f))
		return &f
	}

	// Zombie and degraded look at the same window.
	window := completed[:min(len(completed), th.ZombieTriggers)]
	failed, serverErrors := 0, 0
	for _, t := range window {
		if t.state == "FAILED" {
			failed++
			// Any 5xx counts, including 504 and 503, which classify
			// separates as timeouts or challenges.
			if t.status >= 500 && t.status <= 599 {
				serverErrors++
			}
		}
	}
	if !a.cfg.disabled[KindZombie] && len(window) == th.ZombieTriggers && serverErrors == len(window) {
		f := base
		f.Kind, f.Severity, f.Recommendation = KindZombie, SeverityCritical, pauseUnlessPaused(base)
		f.Failures, f.Checked = serverErrors, len(window)
		fillLastFailure(&f, latest)
		f.Summary = summarize(f, "is a zombie: every recent trigger failed with a server error")
		return &f
	}
	if !a.cfg.disabled[KindDegraded] && failed > 0 && failed < len(window) &&
		float64(failed) >= th.DegradedRatio*float64(len(window)) {
		f := base
		f.Kind, f.Severity, f.Recommendation = KindDegraded, SeverityWarning, ActionNone
		f.Failures, f.Checked = failed, len(window)
		for _, t := range window {
			if t.state == "FAILED" {
				fillLastFailure(&f, t)
				break
			}
		}
		f.Summary = summarize(f, "is degraded: recent triggers keep failing, but some still succeed")
		return &f
	}
	return nil
}

// pauseUnlessPaused returns ActionPause for a finding whose fix starts with
// a pause, or ActionNone when the schedule is paused already, so that no
// action slot of a run goes to a no-op.
func pauseUnlessPaused(f Finding) Action {
	if f.Paused {
		return ActionNone
	}
	return ActionPause
}

// addDeadLetters inserts the DLQ count before the cost sentence of a
// summary.
func addDeadLetters(summary string, n int) string {
	note := fmt.Sprintf(" %d of its messages are in the DLQ.", n)
	if i := strings.Index(summary, " Messages in the last 30 days:"); i >= 0 {
		return summary[:i] + note + summary[i:]
	}
	return summary + note
}

// allMatch reports whether the first n triggers exist and all failed and
// satisfy ok.
func allMatch(ts []*trigger, n int, ok func(*trigger) bool) bool {
	if len(ts) < n {
		return false
	}
	for _, t := range ts[:n] {
		if t.state != "FAILED" || !ok(t) {
			return false
		}
	}
	return true
}

func (a *Auditor) baseFinding(s Schedule, parsed *cron.Schedule, h *history, cost Cost) Finding {
	f := Finding{
		ScheduleID: s.ID, Cron: s.Cron, Method: s.Method, Destination: redactURL(s.Destination),
		Paused: s.Paused, CreatedAt: s.CreatedAt, Cost: cost,
		LastSuccess: h.lastSuccess, HistoryFrom: h.oldestEvent,
	}
	if f.Method == "" {
		f.Method = http.MethodPost
	}
	if parsed != nil {
		f.CronDescription = parsed.Describe()
	} else {
		f.CronDescription = "invalid cron expression"
	}
	return f
}

func fillLastFailure(f *Finding, t *trigger) {
	f.LastStatus = t.status
	f.LastError = redactText(t.errText)
	f.BodyExcerpt = redactText(excerptBody(t.body))
}

// excerptBody returns the start of a response body as one line of text.
func excerptBody(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	cut := b[:min(len(b), bodyExcerptBytes)]
	for !utf8.Valid(cut) && len(cut) > 0 {
		cut = cut[:len(cut)-1]
	}
	text := strings.Join(strings.Fields(string(cut)), " ")
	if len(cut) < len(b) {
		text += "..."
	}
	return text
}

// resolveLocation returns a redirect target as an absolute URL.
func resolveLocation(destination, location string) string {
	if location == "" {
		return ""
	}
	base, err := url.Parse(destination)
	if err != nil {
		return location
	}
	ref, err := url.Parse(location)
	if err != nil {
		return location
	}
	return base.ResolveReference(ref).String()
}

func misconfiguredText(f Finding) string {
	switch f.Cause {
	case CauseRedirect:
		if f.RedirectTo != "" {
			return "is misconfigured: the destination redirects to " + f.RedirectTo + ", and QStash does not follow redirects"
		}
		return "is misconfigured: the destination responds with a redirect, and QStash does not follow redirects"
	case CauseSignature:
		return "is misconfigured: the destination rejects the QStash signature (check the signing keys and that the body is not modified before verification)"
	case CauseBotChallenge:
		return "is misconfigured: bot protection serves a challenge page instead of the endpoint (allow QStash through the firewall or bot rules)"
	case CauseMethodNotAllowed:
		return "is misconfigured: the destination does not accept " + f.Method + " (405)"
	case CausePayloadTooLarge:
		return "is misconfigured: the destination rejects the body as too large (413)"
	case CauseTLS:
		return "is misconfigured: the TLS certificate of the destination is not valid"
	case CauseTimeout:
		return "is misconfigured: every delivery times out (raise Upstash-Timeout or make the endpoint respond before doing the work)"
	}
	return "is misconfigured"
}

// duplicates groups schedules by destination, method, cron, forwarded
// headers and body, keeps the oldest active schedule of each group (the
// oldest paused one when all are paused) and flags the rest.
// Headers are part of the key because schedules that differ only in a
// header, such as a tenant id, deliver different messages.
func (a *Auditor) duplicates(list []Schedule, results []scheduleResult) []Finding {
	if a.cfg.disabled[KindDuplicate] {
		return nil
	}
	type key struct{ destination, method, cron, header, body string }
	groups := map[key][]int{}
	var order []key
	for i, s := range list {
		method := s.Method
		if method == "" {
			method = http.MethodPost
		}
		k := key{strings.TrimSpace(s.Destination), strings.ToUpper(method), strings.Join(strings.Fields(s.Cron), " "),
			headerKey(s.Header), string(bytes.TrimSpace(s.Body))}
		if _, seen := groups[k]; !seen {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}

	var out []Finding
	for _, k := range order {
		members := groups[k]
		if len(members) < 2 {
			continue
		}
		// Keep the oldest active copy: deleting the only active one would
		// stop the job.
		slices.SortStableFunc(members, func(x, y int) int {
			if list[x].Paused != list[y].Paused {
				if list[y].Paused {
					return -1
				}
				return 1
			}
			if c := list[x].CreatedAt.Compare(list[y].CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(list[x].ID, list[y].ID)
		})
		keep := list[members[0]]
		for _, i := range members[1:] {
			s, r := list[i], results[i]
			h := r.history
			if h == nil {
				h = &history{}
			}
			f := a.baseFinding(s, r.parsed, h, r.cost)
			f.Kind, f.Severity, f.Recommendation = KindDuplicate, SeverityWarning, ActionDelete
			f.DuplicateOf = keep.ID
			effect := "so each trigger delivers the same message once per copy"
			if s.Paused {
				effect = "and this copy is paused, so it delivers nothing until someone resumes it"
			}
			f.Summary = summarize(f, "duplicates schedule "+keep.ID+" (same destination, method, cron, headers and body; created "+
				keep.CreatedAt.UTC().Format(time.RFC3339)+"), "+effect)
			out = append(out, f)
		}
	}
	return out
}

// headerKey returns h as one string that is equal for equal headers,
// whatever the order or case of their names.
func headerKey(h http.Header) string {
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.SortFunc(names, func(x, y string) int {
		return strings.Compare(http.CanonicalHeaderKey(x), http.CanonicalHeaderKey(y))
	})
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "%s:%q\n", http.CanonicalHeaderKey(name), h[name])
	}
	return b.String()
}

// staleCode looks the destination path up in the code index.
func (a *Auditor) staleCode(ctx context.Context, base Finding) (Finding, bool) {
	u, err := url.Parse(base.Destination)
	if err != nil || u.Path == "" || u.Path == "/" {
		return Finding{}, false
	}
	served, err := a.cfg.codeIndex.Serves(ctx, u.Path)
	if err != nil {
		a.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "code index lookup failed",
			slog.String("schedule_id", base.ScheduleID), slog.String("path", u.Path), slog.String("error", err.Error()))
		return Finding{}, false
	}
	if served {
		return Finding{}, false
	}
	f := base
	f.Kind, f.Severity, f.Recommendation = KindStaleCode, SeverityWarning, pauseUnlessPaused(base)
	f.Summary = summarize(f, "targets "+u.Path+", which no route in the source tree serves")
	return f, true
}
