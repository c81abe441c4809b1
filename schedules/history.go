package schedules

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// outcome is the class of result of one delivery attempt.
type outcome int

const (
	outcomeSuccess outcome = iota
	outcomeServerError
	outcomeGone
	outcomeConnRefused
	outcomeRedirect
	outcomeSignature
	outcomeChallenge
	outcomeMethodNotAllowed
	outcomeTooLarge
	outcomeTLS
	outcomeTimeout
	outcomeClientError
	outcomeOther
)

var (
	// Bodies and errors that name QStash request signing.
	signaturePattern = regexp.MustCompile(`(?i)signature|body[ _-]?hash|upstash-signature|jwt`)
	// Markers of bot-protection challenge pages (Cloudflare, Vercel and
	// others), which are served instead of the application.
	challengePattern = regexp.MustCompile(`(?i)just a moment\.\.\.|cf-chl|cf_chl|challenge-platform|attention required! \| cloudflare|checking your browser|vercel security checkpoint|ddos protection by|captcha`)
	htmlPattern      = regexp.MustCompile(`(?i)<html|<!doctype html`)
	tlsPattern       = regexp.MustCompile(`(?i)x509:|tls:|certificate|ssl`)
	timeoutPattern   = regexp.MustCompile(`(?i)timeout|timed out|deadline exceeded`)
	goneDNSPattern   = regexp.MustCompile(`(?i)no such host|nxdomain|could not resolve|name or service not known|server misbehaving`)
	refusedPattern   = regexp.MustCompile(`(?i)connection refused|connect: no route to host`)
)

// classify returns the outcome of one attempt.
func classify(status int, header http.Header, body []byte, errText string) outcome {
	switch {
	case status == 0 && errText == "":
		return outcomeOther
	case status == 0 && goneDNSPattern.MatchString(errText):
		return outcomeGone
	case status == 0 && tlsPattern.MatchString(errText):
		return outcomeTLS
	case status == 0 && timeoutPattern.MatchString(errText):
		return outcomeTimeout
	case status == 0 && refusedPattern.MatchString(errText):
		return outcomeConnRefused
	case status == 0:
		return outcomeOther
	case status >= 200 && status < 300 && errText == "":
		return outcomeSuccess
	case status >= 200 && status < 300:
		// A 2xx that QStash still recorded an error for, such as a body it
		// could not read.
		return outcomeOther
	}
	if (status == http.StatusForbidden || status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) && isChallenge(header, body) {
		return outcomeChallenge
	}
	switch {
	case status >= 300 && status < 400:
		return outcomeRedirect
	case status == http.StatusNotFound || status == http.StatusGone:
		return outcomeGone
	case (status == http.StatusUnauthorized || status == http.StatusForbidden) &&
		(signaturePattern.Match(body) || signaturePattern.MatchString(errText)):
		return outcomeSignature
	case status == http.StatusMethodNotAllowed:
		return outcomeMethodNotAllowed
	case status == http.StatusRequestEntityTooLarge:
		return outcomeTooLarge
	case status == http.StatusGatewayTimeout || status == http.StatusRequestTimeout:
		return outcomeTimeout
	case status >= 500:
		return outcomeServerError
	case status >= 400:
		return outcomeClientError
	}
	return outcomeOther
}

// isChallenge reports whether a response is a bot-protection challenge page
// rather than the application's own response.
func isChallenge(header http.Header, body []byte) bool {
	if strings.EqualFold(header.Get("Cf-Mitigated"), "challenge") {
		return true
	}
	head := body[:min(len(body), 16<<10)]
	looksHTML := strings.Contains(strings.ToLower(header.Get("Content-Type")), "html") || htmlPattern.Match(head)
	return looksHTML && challengePattern.Match(head)
}

// trigger is one firing of a schedule: one message and its attempts.
type trigger struct {
	messageID string
	at        time.Time // earliest event seen
	state     string    // newest state
	stateAt   time.Time
	attempts  int // delivery attempts seen (ERROR, FAILED, DELIVERED)
	// The last attempt's time and response.
	lastAttempt time.Time
	status      int
	header      http.Header
	body        []byte
	errText     string
	outcome     outcome
}

func (t *trigger) completed() bool { return t.state == "DELIVERED" || t.state == "FAILED" }

func isFinal(state string) bool {
	return state == "DELIVERED" || state == "FAILED" || state == "CANCELED"
}

// history is what the auditor learned about one schedule from its events.
type history struct {
	triggers    []*trigger // newest first
	oldestEvent time.Time
	events      int
	// complete is true when the events reach back to the start of the
	// lookback window or to the schedule's creation.
	complete    bool
	lastSuccess time.Time
	attempts    int
}

// completedTriggers returns the triggers that ended DELIVERED or FAILED,
// newest first.
func (h *history) completedTriggers() []*trigger {
	out := make([]*trigger, 0, len(h.triggers))
	for _, t := range h.triggers {
		if t.completed() {
			out = append(out, t)
		}
	}
	return out
}

// buildHistory groups events (newest first) into triggers.
func buildHistory(events []Event) *history {
	h := &history{events: len(events)}
	byID := make(map[string]*trigger)
	for _, e := range events {
		t := byID[e.MessageID]
		if t == nil {
			t = &trigger{messageID: e.MessageID, at: e.Time, state: e.State, stateAt: e.Time}
			byID[e.MessageID] = t
			h.triggers = append(h.triggers, t)
		}
		if e.Time.After(t.stateAt) || isFinal(e.State) && e.Time.Equal(t.stateAt) {
			t.state, t.stateAt = e.State, e.Time
		}
		if e.Time.Before(t.at) {
			t.at = e.Time
		}
		if h.oldestEvent.IsZero() || e.Time.Before(h.oldestEvent) {
			h.oldestEvent = e.Time
		}
		switch e.State {
		case "ERROR", "FAILED", "DELIVERED":
			t.attempts++
			h.attempts++
			// Sources list newest first, but a final event wins a tie.
			if t.attempts == 1 || e.Time.After(t.lastAttempt) || (e.Time.Equal(t.lastAttempt) && e.State != "ERROR") {
				t.lastAttempt = e.Time
				t.status, t.header, t.body, t.errText = e.ResponseStatus, e.ResponseHeader, e.ResponseBody, e.Error
				t.outcome = classify(e.ResponseStatus, e.ResponseHeader, e.ResponseBody, e.Error)
			}
			if e.State == "DELIVERED" && e.Time.After(h.lastSuccess) {
				h.lastSuccess = e.Time
			}
		}
	}
	slices.SortStableFunc(h.triggers, func(a, b *trigger) int { return b.at.Compare(a.at) })
	return h
}
