package heal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// DefaultQStashURL is the base URL of the Upstash QStash and Workflow API.
const DefaultQStashURL = "https://qstash.upstash.io"

// Limits of WorkflowLogs.
const (
	DefaultMaxPages = 5
	maxSeenEvents   = 8192
)

// SourceOption configures a WorkflowLogs or QStashFailures source.
type SourceOption interface {
	applySource(*WorkflowLogs)
}

type sourceOptionFunc func(*WorkflowLogs)

func (fn sourceOptionFunc) applySource(w *WorkflowLogs) { fn(w) }

// WithHTTPClient sets the HTTP client. The default is http.DefaultClient.
func WithHTTPClient(c *http.Client) SourceOption {
	return sourceOptionFunc(func(w *WorkflowLogs) {
		if c != nil {
			w.client = c
		}
	})
}

// WithMaxPages bounds the pages one Fetch reads. The default is 5; values
// below 1 are treated as 1.
//
// NOTE: Fetch reads newest first and does not come back for what lay
// beyond its last page, so in a burst of more failures than these pages
// hold, the older ones are never returned.
func WithMaxPages(n int) SourceOption {
	return sourceOptionFunc(func(w *WorkflowLogs) { w.maxPages = max(n, 1) })
}

// WithWorkflowURL reads only the runs of one workflow endpoint.
func WithWorkflowURL(u string) SourceOption {
	return sourceOptionFunc(func(w *WorkflowLogs) { w.workflowURL = u })
}

// WorkflowLogs is a Source that reads GET /v2/workflows/logs, following
// the cursor for at most WithMaxPages pages a Fetch, and returns each
// failure event once. It remembers the last 8192 events it returned to
// skip them on later fetches. It is safe for concurrent use.
type WorkflowLogs struct {
	base        string
	token       string
	client      *http.Client
	maxPages    int
	workflowURL string

	mu   sync.Mutex
	seen seenSet
}

// NewWorkflowLogs returns a source for the Workflow logs at baseURL (use
// DefaultQStashURL in production) with the QStash token.
func NewWorkflowLogs(baseURL, token string, opts ...SourceOption) (*WorkflowLogs, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("heal: invalid QStash base URL %q: it must be an http or https URL", redactURL(baseURL))
	}
	if token == "" {
		return nil, fmt.Errorf("heal: missing QStash token for %s", redactURL(baseURL))
	}
	w := &WorkflowLogs{
		base: strings.TrimSuffix(baseURL, "/"), token: token, client: http.DefaultClient,
		maxPages: DefaultMaxPages, seen: newSeenSet(maxSeenEvents),
	}
	for _, o := range opts {
		o.applySource(w)
	}
	return w, nil
}

// Page reads one page of runs, starting at cursor ("" for the newest).
func (w *WorkflowLogs) Page(ctx context.Context, cursor string) (LogsPage, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if w.workflowURL != "" {
		q.Set("workflowUrl", w.workflowURL)
	}
	endpoint := w.base + "/v2/workflows/logs"
	if len(q) > 0 {
		endpoint += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return LogsPage{}, fmt.Errorf("heal: build workflow logs request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+w.token)
	resp, err := w.client.Do(req)
	if err != nil {
		return LogsPage{}, fmt.Errorf("heal: list workflow logs at %s: %w", redactURL(w.base), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return LogsPage{}, fmt.Errorf("heal: list workflow logs at %s: %w %d: %s",
			redactURL(w.base), errLogsStatus, resp.StatusCode, clip(strings.TrimSpace(string(body)), 200))
	}
	return DecodeLogsPage(resp.Body)
}

// Fetch reads up to WithMaxPages pages and returns the failure events it
// has not returned before, oldest first. When a page holds runs that do
// not decode, it returns the events of the other runs together with an
// error that wraps ErrInvalidRun.
func (w *WorkflowLogs) Fetch(ctx context.Context) ([]Event, error) {
	var events []Event
	var invalid []error
	cursor := ""
	for range w.maxPages {
		page, err := w.Page(ctx, cursor)
		if errors.Is(err, ErrInvalidRun) {
			invalid = append(invalid, err)
		} else if err != nil {
			return nil, err
		}
		for _, run := range page.Runs {
			events = append(events, RunEvents(run)...)
		}
		if page.Cursor == "" || page.Cursor == cursor {
			// A cursor that repeats would read the same page again.
			break
		}
		cursor = page.Cursor
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	fresh := events[:0]
	for _, ev := range events {
		if w.seen.add(eventKey(ev)) {
			fresh = append(fresh, ev)
		}
	}
	slices.SortStableFunc(fresh, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return fresh, errors.Join(invalid...)
}

// seenSet is a set of keys that forgets the oldest key beyond its
// capacity. It is not safe for concurrent use.
type seenSet struct {
	capacity int
	keys     map[string]bool
	order    []string
}

func newSeenSet(capacity int) seenSet {
	return seenSet{capacity: capacity, keys: map[string]bool{}}
}

// add adds key and reports whether it was new.
func (s *seenSet) add(key string) bool {
	if s.keys[key] {
		return false
	}
	if len(s.order) >= s.capacity {
		delete(s.keys, s.order[0])
		s.order = s.order[1:]
	}
	s.keys[key] = true
	s.order = append(s.order, key)
	return true
}

func eventKey(ev Event) string {
	return strings.Join([]string{
		ev.RunID, ev.Step, strconv.Itoa(ev.Failure.Status), strconv.FormatInt(ev.Time.UnixMilli(), 10),
		strconv.FormatBool(ev.Silent),
	}, "\x00")
}
