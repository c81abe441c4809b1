package heal

import (
	"container/list"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of the message normaliser.
const (
	maxNormaliseInput  = 1 << 10 // bytes of a message that are read
	maxNormaliseOutput = 300     // bytes of a normalised message that are kept
)

var (
	uuidPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timePattern = regexp.MustCompile(`\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:z|[+-]\d{2}:?\d{2})?`)
	wordPattern = regexp.MustCompile(`[a-z0-9_.-]+`)
	digitsRun   = regexp.MustCompile(`[0-9]+`)
	unitPattern = regexp.MustCompile(`^[0-9.]+[a-z]{1,3}$`) // 30000ms, 2.5s, 10kb
)

// NormaliseMessage reduces an error message to its shape, so that the same
// failure in different runs gives the same text. It lower-cases the
// message, replaces UUIDs with <uuid>, timestamps with <time>, hex strings
// of 8 or more characters with <hex>, and numbers with a unit (30000ms)
// with <n>ms. Other tokens of 6 or more characters that mix letters and
// digits, such as message and run ids, become <id>, and the remaining digit
// runs become <n>. It reads the first 1 KiB of msg, collapses
// white space and keeps at most 300 bytes. The result contains no digits,
// and normalising it again returns it unchanged.
func NormaliseMessage(msg string) string {
	if len(msg) > maxNormaliseInput {
		msg = cutRunes(msg, maxNormaliseInput)
	}
	s := strings.ToLower(msg)
	s = uuidPattern.ReplaceAllString(s, "<uuid>")
	s = timePattern.ReplaceAllString(s, "<time>")
	s = wordPattern.ReplaceAllStringFunc(s, normaliseWord)
	s = strings.Join(strings.Fields(s), " ")
	return strings.TrimSpace(cutRunes(s, maxNormaliseOutput))
}

// normaliseWord replaces one token that contains digits.
func normaliseWord(w string) string {
	if !strings.ContainsAny(w, "0123456789") {
		return w
	}
	hex := strings.TrimPrefix(w, "0x")
	switch {
	case strings.Trim(w, "0123456789.-") == "":
		return "<n>"
	case len(hex) >= 8 && strings.Trim(hex, "0123456789abcdef") == "":
		return "<hex>"
	case unitPattern.MatchString(w):
		return digitsRun.ReplaceAllString(w, "<n>")
	case len(w) >= 6:
		return "<id>"
	}
	return digitsRun.ReplaceAllString(w, "<n>")
}

// cutRunes cuts s to at most n bytes without splitting a UTF-8 sequence.
func cutRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// Fingerprint identifies one kind of failure across runs. It is comparable
// and serves as a map key.
type Fingerprint struct {
	// Target is the workflow URL, schedule id or job name that failed,
	// without query or user info.
	Target string
	// Destination is the host of the URL that failed, which differs from
	// Target's host for a call to a third party.
	Destination string
	// Step is the workflow step or job stage.
	Step string
	// Class is the class of the single failure, before repetition.
	Class Class
	// Status is the HTTP status, or 0.
	Status int
	// Message is the normalised error message.
	Message string
}

// String returns a one-line form for logs and reports.
func (fp Fingerprint) String() string {
	return fmt.Sprintf("%s step=%q dest=%s class=%s status=%d msg=%q",
		fp.Target, fp.Step, fp.Destination, fp.Class, fp.Status, fp.Message)
}

// hostOf returns the host (with port) of a URL, or "" when raw has none.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// window counts, per fingerprint, the distinct runs that failed within a
// time span. It keeps at most maxKeys fingerprints and evicts the one seen
// least recently when a new one arrives, and it keeps at most threshold
// runs per fingerprint, dropping the oldest. It is not safe for concurrent
// use; the Monitor guards it.
type window struct {
	threshold int
	span      time.Duration
	maxKeys   int
	entries   map[Fingerprint]*list.Element
	lru       *list.List // of *windowEntry, most recently seen at the front
}

type windowEntry struct {
	fp   Fingerprint
	runs []runSeen // oldest first, at most threshold
	// acted is the class the Monitor last acted on for this fingerprint, so
	// that it alerts once per escalation and not on every run.
	acted Class
}

type runSeen struct {
	id string
	at time.Time
}

func newWindow(threshold int, span time.Duration, maxKeys int) *window {
	return &window{
		threshold: threshold, span: span, maxKeys: maxKeys,
		entries: make(map[Fingerprint]*list.Element), lru: list.New(),
	}
}

// add records that run failed with fp at time at. It returns the entry,
// the number of distinct runs within the span that ends at at (at most
// threshold), and whether run was new to the entry. A run already counted
// is not counted again.
func (w *window) add(fp Fingerprint, run string, at time.Time) (*windowEntry, int, bool) {
	el, ok := w.entries[fp]
	if ok {
		w.lru.MoveToFront(el)
	} else {
		if w.lru.Len() >= w.maxKeys {
			oldest := w.lru.Back()
			delete(w.entries, oldest.Value.(*windowEntry).fp)
			w.lru.Remove(oldest)
		}
		el = w.lru.PushFront(&windowEntry{fp: fp})
		w.entries[fp] = el
	}
	e := el.Value.(*windowEntry)

	// The span ends at the newest failure, which is not at when events
	// arrive out of order. Drop runs that fell out of it, then add this one.
	newest := at
	for _, r := range e.runs {
		if r.at.After(newest) {
			newest = r.at
		}
	}
	kept := e.runs[:0]
	for _, r := range e.runs {
		if newest.Sub(r.at) < w.span {
			kept = append(kept, r)
		}
	}
	e.runs = kept
	if len(e.runs) == 0 {
		// The failure stopped for a whole span, so acting on it again is news.
		e.acted = Unknown
	}
	if newest.Sub(at) >= w.span {
		// A late event from before the span is history and not counted.
		return e, len(e.runs), true
	}
	seen := false
	for _, r := range e.runs {
		if r.id == run && run != "" {
			seen = true
			break
		}
	}
	if !seen {
		// Keep runs oldest first, so that the cut drops the oldest.
		i, _ := slices.BinarySearchFunc(e.runs, at, func(r runSeen, t time.Time) int { return r.at.Compare(t) })
		e.runs = slices.Insert(e.runs, i, runSeen{id: run, at: at})
		if len(e.runs) > w.threshold {
			e.runs = e.runs[len(e.runs)-w.threshold:]
		}
	}
	return e, len(e.runs), !seen
}

// forgetTarget clears the runs and the last action of every fingerprint of
// target, so that acting on it again needs a new pattern. It keeps the
// entries, so it does not change which fingerprint is evicted next.
func (w *window) forgetTarget(target string) {
	for fp, el := range w.entries {
		if fp.Target != target {
			continue
		}
		e := el.Value.(*windowEntry)
		e.runs = nil
		e.acted = Unknown
	}
}

// len returns the number of fingerprints held.
func (w *window) len() int { return w.lru.Len() }

// escalate applies the repetition rule to a verdict whose fingerprint
// failed in runs distinct runs within span. A transient or unknown verdict
// that repeats is not transient: against the app's own endpoint it points
// at code or configuration (a timeout or a rate limit at configuration,
// anything else at logic), and against a third-party host at that
// dependency. Markers,
// application rules and verdicts that are already not transient are left
// alone, because repetition is the weakest signal.
func escalate(v Verdict, own bool, destination string, runs int, span time.Duration) Verdict {
	if v.Class != Transient && v.Class != Unknown {
		return v
	}
	if v.Basis == BasisMarker || v.Basis == BasisRule {
		return v
	}
	out := v
	out.Evidence = append(append([]string(nil), v.Evidence...),
		fmt.Sprintf("the same failure in %d runs within %s", runs, span))
	out.Basis = BasisRepetition
	out.Confidence = 0.8
	out.RetryAfter = 0
	switch {
	case !own:
		out.Class = Dependency
		out.Fix = "the third party at " + destination + " fails in every run: pause what depends " +
			"on it until it recovers, and check its status page"
	case v.Signal == "timeout":
		out.Class = Configuration
		out.Fix = fixTimeout
	case v.Signal == "http-429" || v.Signal == "rate-limited":
		// The app's own limit rejects deliveries run after run: a setting,
		// not a bug in the step.
		out.Class = Configuration
		out.Fix = "the app's own endpoint rate-limits these deliveries in every run: raise its limit " +
			"or slow the sender, such as with QStash flow control (rate and parallelism)"
	default:
		out.Class = Logical
		out.Fix = "the app's own endpoint fails the same way in every run, so retries will not " +
			"fix it: review the step's code and configuration"
	}
	return out
}
