package qstash

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	qstashgo "github.com/upstash/qstash-go"
)

var errTooManyPages = errors.New("stopped after 10000 pages: the cursor never ran out")

// PauseSchedule pauses a schedule through qstash-go. Pausing a paused
// schedule succeeds.
func (c *Client) PauseSchedule(ctx context.Context, id string) error {
	return c.callGo(ctx, needsEscape(id), func(g *qstashgo.Client) error { return g.Schedules().Pause(id) },
		func(ctx context.Context) error {
			return c.do(ctx, http.MethodPost, "/v2/schedules/"+url.PathEscape(id)+"/pause", nil, nil, nil)
		})
}

// ResumeSchedule resumes a schedule through qstash-go.
func (c *Client) ResumeSchedule(ctx context.Context, id string) error {
	return c.callGo(ctx, needsEscape(id), func(g *qstashgo.Client) error { return g.Schedules().Resume(id) },
		func(ctx context.Context) error {
			return c.do(ctx, http.MethodPost, "/v2/schedules/"+url.PathEscape(id)+"/resume", nil, nil, nil)
		})
}

// DeleteSchedule deletes a schedule through qstash-go.
func (c *Client) DeleteSchedule(ctx context.Context, id string) error {
	return c.callGo(ctx, needsEscape(id), func(g *qstashgo.Client) error { return g.Schedules().Delete(id) },
		func(ctx context.Context) error {
			return c.do(ctx, http.MethodDelete, "/v2/schedules/"+url.PathEscape(id), nil, nil, nil)
		})
}

// CreateSchedule creates a schedule through qstash-go and returns its id.
// NOTE: unlike the other writes it has no direct request to fall back on,
// so it fails while QSTASH_URL holds a value that is not a base URL.
func (c *Client) CreateSchedule(ctx context.Context, opts qstashgo.ScheduleOptions) (string, error) {
	var id string
	err := c.callGo(ctx, false, func(g *qstashgo.Client) error {
		var err error
		id, err = g.Schedules().Create(opts)
		return err
	}, nil)
	return id, err
}

// CancelMessages cancels in-flight messages by id through qstash-go and
// returns how many QStash canceled. An empty list cancels nothing; it never
// reaches the API, where an empty list would cancel every message.
func (c *Client) CancelMessages(ctx context.Context, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int
	err := c.callGo(ctx, false, func(g *qstashgo.Client) error {
		var err error
		n, err = g.Messages().CancelMany(ids)
		return err
	}, func(ctx context.Context) error {
		var out struct {
			Cancelled flexInt `json:"cancelled"`
		}
		err := c.do(ctx, http.MethodDelete, "/v2/messages", nil, map[string][]string{"messageIds": ids}, &out)
		n = int(out.Cancelled)
		return err
	})
	return n, err
}

// needsEscape reports whether a schedule id changes when escaped for a URL
// path. qstash-go v1.0.0 puts ids into paths unescaped, so that deleting
// "nightly?env=prod" would delete "nightly"; such ids go the direct way.
func needsEscape(id string) bool { return url.PathEscape(id) != id }

// callGo runs fn with a qstash-go client whose requests go through a
// transport bound to ctx and the client's timeout. It turns a panic into an
// error wrapping ErrPanic and restores the HTTP status that qstash-go drops.
//
// callGo sends the request itself with direct instead, unless direct is
// nil, when preferDirect is set or QSTASH_URL is. qstash-go v1.0.0 builds
// its URLs from QSTASH_URL instead of ours while it is set, and a value with
// a query, a fragment or no scheme cannot be mapped back to an API path.
func (c *Client) callGo(ctx context.Context, preferDirect bool, fn func(*qstashgo.Client) error, direct func(context.Context) error) (err error) {
	if direct != nil && (preferDirect || os.Getenv("QSTASH_URL") != "") {
		return direct(ctx)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()

	// qstash-go v1.0.0 prefers QSTASH_URL to the URL it is given; the
	// transport strips whichever base it used and sends to ours.
	usedBase := os.Getenv("QSTASH_URL")
	if usedBase == "" {
		usedBase = c.base.String()
	}
	rt := &callTransport{client: c, ctx: ctx, usedBase: usedBase}

	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, r)
		}
	}()
	g := qstashgo.NewClientWith(qstashgo.Options{Url: c.base.String(), Token: c.token, Client: &http.Client{Transport: rt}})
	callErr := fn(g)
	if callErr == nil {
		return nil
	}

	switch {
	case rt.status >= http.StatusBadRequest:
		return &APIError{Method: rt.method, Path: rt.path, StatusCode: rt.status, Message: callErr.Error(), RetryAfter: rt.retryAfter}
	case rt.status != 0:
		return &DecodeError{Method: rt.method, Path: rt.path, StatusCode: rt.status, Err: callErr}
	}
	var urlErr *url.Error
	if errors.As(callErr, &urlErr) {
		callErr = urlErr.Err // drop the URL, which qstash-go built
	}
	if ctx.Err() != nil && !errors.Is(callErr, ctx.Err()) {
		callErr = fmt.Errorf("%w: %w", ctx.Err(), callErr)
	}
	return &RequestError{Method: rt.method, Path: rt.path, Err: callErr}
}

// callTransport carries one qstash-go call. It is used by one goroutine.
type callTransport struct {
	client   *Client
	ctx      context.Context
	usedBase string

	method, path string
	status       int
	retryAfter   time.Duration
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	path := apiPath(req.URL.EscapedPath(), t.usedBase)
	t.method, t.path = req.Method, path

	out := req.Clone(t.ctx)
	target := t.client.endpoint("", nil)
	target.RawQuery = req.URL.RawQuery
	escaped := target.EscapedPath() + path
	unescaped, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, fmt.Errorf("invalid request path %q: %w", path, err)
	}
	target.Path, target.RawPath = unescaped, escaped
	out.URL = target
	out.Host = target.Host

	resp, err := t.client.send(t.ctx, out)
	if err != nil {
		return nil, err
	}
	t.status = resp.StatusCode
	if resp.StatusCode == http.StatusTooManyRequests {
		if wait, known := rateLimitWait(resp.Header, t.client.clock.Now(), 0); known {
			t.retryAfter = wait
		}
	}
	return resp, nil
}

// apiPath returns the API path of a request that qstash-go built by
// appending it to base, for example "/v2/schedules/abc".
func apiPath(escapedPath, base string) string {
	if u, err := url.Parse(base); err == nil {
		if rest, ok := strings.CutPrefix(escapedPath, strings.TrimSuffix(u.EscapedPath(), "/")); ok && strings.HasPrefix(rest, "/") {
			return rest
		}
	}
	if i := strings.Index(escapedPath, "/v2/"); i >= 0 {
		return escapedPath[i:]
	}
	return escapedPath
}
