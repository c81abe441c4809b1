package heal

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Class is the kind of a failure, which decides the action that fits it.
type Class int

// The classes. The zero value is Unknown: no rule recognised the failure.
const (
	// Unknown means no rule matched. Retry treats it as retryable, because
	// an error that says nothing about itself is not proof that retrying is
	// useless, and the Monitor only records it.
	Unknown Class = iota
	// Transient failures pass by themselves: timeouts, resets, 429, most
	// 5xx. Retrying with backoff helps.
	Transient
	// Configuration failures need a change by the owner: a credential, a
	// URL, a timeout, a certificate, a bot-protection rule. Retrying never
	// helps.
	Configuration
	// Logical failures come from the data or code of one run: a validation
	// error, a non-retryable marker. Replaying may repeat side effects, so
	// a person reviews them.
	Logical
	// Dependency failures come from a third party that is down. Retrying
	// helps once it recovers, so the work waits for it.
	Dependency
)

var classNames = [...]string{"unknown", "transient", "configuration", "logical", "dependency"}

// String returns the lower-case name of c.
func (c Class) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return fmt.Sprintf("Class(%d)", int(c))
	}
	return classNames[c]
}

// Retryable reports whether retrying can help a failure of class c:
// Transient, Dependency and Unknown.
func (c Class) Retryable() bool {
	return c == Transient || c == Dependency || c == Unknown
}

// Basis is the kind of signal a verdict rests on. Stronger bases win:
// Marker beats Status, Status beats Repetition, so a repetition count never
// overrides an explicit marker.
type Basis int

// The bases, weakest first.
const (
	// BasisNone means no signal was found.
	BasisNone Basis = iota
	// BasisRepetition is the same failure in several runs within a window.
	BasisRepetition
	// BasisError is a Go error value or its text (timeouts, DNS, refused
	// connections).
	BasisError
	// BasisStatus is an HTTP status class.
	BasisStatus
	// BasisMarker is an explicit marker: the non-retryable header, a
	// bot-protection challenge page, a certificate or signature error.
	BasisMarker
	// BasisRule is an application rule put in front of the built-in ones.
	BasisRule
)

var basisNames = [...]string{"none", "repetition", "error", "status", "marker", "rule"}

// String returns the lower-case name of b.
func (b Basis) String() string {
	if b < 0 || int(b) >= len(basisNames) {
		return fmt.Sprintf("Basis(%d)", int(b))
	}
	return basisNames[b]
}

// Verdict is the classification of one failure.
type Verdict struct {
	Class Class
	// Confidence is between 0 and 1.
	Confidence float64
	// Basis is the kind of signal that decided Class.
	Basis Basis
	// Signal is a short stable name of the deciding signal, such as
	// "http-503" or "dns-not-found". Fingerprints include it.
	Signal string
	// Evidence lists what the classifier saw, one fact a line.
	Evidence []string
	// Fix is a plain-words hint for the owner; empty for transient
	// failures.
	Fix string
	// RetryAfter is the wait the server asked for in a Retry-After header,
	// or zero.
	RetryAfter time.Duration
}

// String returns a one-line summary such as
// "configuration (0.90, marker http-401): rotate the credential".
func (v Verdict) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%.2f, %s %s)", v.Class, v.Confidence, v.Basis, v.Signal)
	if v.Fix != "" {
		b.WriteString(": ")
		b.WriteString(v.Fix)
	}
	return b.String()
}

// Failure is what the classifier looks at. Fill in what is known; every
// field is optional.
type Failure struct {
	// Err is the Go error, if the failure came from a Go call.
	Err error
	// Status is the HTTP status code, or 0.
	Status int
	// Header is the HTTP response header.
	Header http.Header
	// Body is an excerpt of the response body.
	Body string
	// Message is an error known only as text, such as a QStash delivery
	// error or a Workflow step error.
	Message string
	// URL is the destination that failed: the workflow endpoint, a
	// schedule's destination, or the URL of a context.call step.
	URL string
}

// text returns the failure's error text: Message, then Err's text.
func (f Failure) text() string {
	switch {
	case f.Message != "" && f.Err != nil:
		return f.Message + ": " + f.Err.Error()
	case f.Message != "":
		return f.Message
	case f.Err != nil:
		return f.Err.Error()
	}
	return ""
}

// Rule is one classifier in a chain. It returns ok=false when it has no
// opinion, so the next rule runs.
type Rule interface {
	Classify(f Failure) (v Verdict, ok bool)
}

// RuleFunc adapts a function to Rule.
type RuleFunc func(f Failure) (Verdict, bool)

// Classify calls fn.
func (fn RuleFunc) Classify(f Failure) (Verdict, bool) { return fn(f) }

// Classifier runs the application's rules in order, then the built-in
// rules. The zero value runs only the built-in rules. A Classifier is
// immutable and safe for concurrent use.
type Classifier struct {
	rules []Rule
}

// NewClassifier returns a Classifier that tries rules, in order, before the
// built-in rules. A verdict from an application rule has Basis BasisRule
// unless the rule set a Basis itself.
func NewClassifier(rules ...Rule) *Classifier {
	kept := make([]Rule, 0, len(rules))
	for _, r := range rules {
		if r != nil {
			kept = append(kept, r)
		}
	}
	return &Classifier{rules: kept}
}

// Classify returns the verdict of the first rule with an opinion, or of the
// built-in rules.
func (c *Classifier) Classify(f Failure) Verdict {
	f = mergeHTTPError(f)
	if c != nil {
		for _, r := range c.rules {
			v, ok := r.Classify(f)
			if !ok {
				continue
			}
			if v.Basis == BasisNone {
				v.Basis = BasisRule
			}
			return v
		}
	}
	return classifyBuiltin(f)
}

// Classify classifies f with the built-in rules only. Their order follows
// the precedence of signals: explicit markers (the non-retryable header, a
// bot-protection challenge, certificate and signature errors), then HTTP
// status classes, then Go errors and error text. Repetition across runs is
// the Monitor's business, because one failure cannot show it.
func Classify(f Failure) Verdict {
	return classifyBuiltin(mergeHTTPError(f))
}

func classifyBuiltin(f Failure) Verdict {
	if v, ok := classifyMarker(f); ok {
		return v
	}
	if v, ok := classifyStatus(f); ok {
		return v
	}
	if v, ok := classifyError(f.Err); ok {
		return v
	}
	if v, ok := classifyText(f.text()); ok {
		return v
	}
	v := Verdict{Class: Unknown, Basis: BasisNone, Signal: "unrecognised"}
	if t := f.text(); t != "" {
		v.Evidence = append(v.Evidence, "error: "+clip(t, 200))
	}
	return v
}

// excerpt cuts s to at most n bytes on a rune boundary and marks the cut.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// mergeHTTPError fills status, header, body and URL from an *HTTPError in
// f.Err's chain.
func mergeHTTPError(f Failure) Failure {
	if f.Status != 0 || f.Err == nil {
		return f
	}
	from := FailureOf(f.Err)
	if from.Status == 0 {
		return f
	}
	f.Status, f.Header = from.Status, from.Header
	if f.Body == "" {
		f.Body = from.Body
	}
	if f.URL == "" {
		f.URL = from.URL
	}
	return f
}
