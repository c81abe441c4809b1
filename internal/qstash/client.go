// Package qstash is a small QStash v2 client that wraps
// github.com/upstash/qstash-go v1.0.0 and adds what that client lacks.
//
// qstash-go v1.0.0 panics on an empty token, lets the QSTASH_URL environment
// variable override the URL it was given, takes no context.Context, uses
// http.DefaultClient without a timeout, drops the HTTP status of errors and
// decodes events without responseStatus, responseBody and responseHeaders.
// This package calls qstash-go for the writes it covers: pause, resume and
// delete a schedule, create one, cancel messages. Each call goes through a
// per-call transport that binds the caller's context and timeout and sends
// every request to the configured URL. The transport also backs off on 429
// and records the HTTP status. While QSTASH_URL is set, pause, resume,
// delete and cancel bypass qstash-go and send their documented request
// directly, because qstash-go would build its URLs from that variable.
// Schedule ids that need escaping in a URL path take the same direct way,
// because qstash-go puts ids into paths unescaped. The package
// reads schedules, events and the DLQ itself, with tolerant decoding,
// because qstash-go's types drop fields the auditor needs.
package qstash

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
)

// DefaultURL is the QStash API base URL.
const DefaultURL = "https://qstash.upstash.io"

// Defaults of the client options.
const (
	DefaultTimeout          = 15 * time.Second
	DefaultRateLimitRetries = 5
	DefaultMaxRateLimitWait = 30 * time.Second
)

// maxResponseBytes bounds how much of a response body the client reads.
const maxResponseBytes = 32 << 20

// Client is a QStash v2 API client. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	token     string
	transport http.RoundTripper
	clock     clock.Clock
	timeout   time.Duration
	retries   int
	maxWait   time.Duration
	logger    *slog.Logger
}

type config struct {
	httpClient *http.Client
	clock      clock.Clock
	timeout    time.Duration
	retries    int
	maxWait    time.Duration
	logger     *slog.Logger
}

// Option configures a Client.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithHTTPClient sets the HTTP client whose transport sends requests. Its
// Timeout is ignored in favour of WithTimeout. The default is
// http.DefaultTransport.
func WithHTTPClient(hc *http.Client) Option {
	return optionFunc(func(c *config) { c.httpClient = hc })
}

// WithTimeout bounds each API call, including its rate-limit waits. The
// default is DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.timeout = d })
}

// WithClock sets the clock that rate-limit waits use. The default is the
// system clock.
func WithClock(clk clock.Clock) Option {
	return optionFunc(func(c *config) { c.clock = clk })
}

// WithRateLimitRetries sets how many times a request rejected with 429 is
// sent again. The default is DefaultRateLimitRetries; 0 disables retries.
func WithRateLimitRetries(n int) Option {
	return optionFunc(func(c *config) { c.retries = n })
}

// WithMaxRateLimitWait sets the longest wait for a rate limit to reset. A
// 429 whose reset is further away fails at once with an *APIError carrying
// RetryAfter. The default is DefaultMaxRateLimitWait.
func WithMaxRateLimitWait(d time.Duration) Option {
	return optionFunc(func(c *config) { c.maxWait = d })
}

// WithLogger sets the logger for rate-limit retries. The default discards.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// New returns a client of the QStash API at baseURL (DefaultURL when empty)
// that authenticates with token. It returns ErrMissingToken when token is
// empty and ErrInvalidURL when baseURL is not an absolute http(s) URL.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	cfg := config{timeout: DefaultTimeout, retries: DefaultRateLimitRetries, maxWait: DefaultMaxRateLimitWait}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if strings.TrimSpace(token) == "" {
		return nil, ErrMissingToken
	}

	if baseURL == "" {
		baseURL = DefaultURL
	}
	base, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		shown := "(unparsable)"
		if err == nil {
			shown = base.Redacted()
		}
		return nil, fmt.Errorf("%w: %q: want an absolute http or https URL such as %s", ErrInvalidURL, shown, DefaultURL)
	}
	base.User = nil

	c := &Client{
		base:      base,
		token:     token,
		transport: http.DefaultTransport,
		clock:     clock.Or(cfg.clock),
		timeout:   cfg.timeout,
		retries:   max(cfg.retries, 0),
		maxWait:   cfg.maxWait,
		logger:    cfg.logger,
	}
	if cfg.httpClient != nil && cfg.httpClient.Transport != nil {
		c.transport = cfg.httpClient.Transport
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	return c, nil
}

// BaseURL returns the API base URL the client sends requests to.
func (c *Client) BaseURL() string { return c.base.String() }

// withTimeout derives the context of one API call.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// endpoint returns the absolute URL of an API path such as "/v2/events".
// The path is escaped already, as url.PathEscape returns ids.
func (c *Client) endpoint(escapedPath string, query url.Values) *url.URL {
	u := *c.base
	raw := c.base.EscapedPath() + escapedPath
	if path, err := url.PathUnescape(raw); err == nil {
		u.Path, u.RawPath = path, raw
	} else {
		u.Path, u.RawPath = c.base.Path+escapedPath, ""
	}
	u.RawQuery = query.Encode()
	return &u
}

// send sends req with the client's token, and sends it again after the
// announced wait while the API responds 429, up to the retry limit. The
// caller closes the returned body.
func (c *Client) send(ctx context.Context, req *http.Request) (*http.Response, error) {
	req = req.WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+c.token)
	for attempt := 0; ; attempt++ {
		if attempt > 0 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
		resp, err := c.transport.RoundTrip(req)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, err
		}
		if resp.StatusCode != http.StatusTooManyRequests {
			return resp, nil
		}

		wait, known := rateLimitWait(resp.Header, c.clock.Now(), attempt)
		if attempt >= c.retries || (known && wait > c.maxWait) {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		c.logger.LogAttrs(ctx, slog.LevelInfo, "qstash rate limited, retrying",
			slog.String("method", req.Method), slog.String("path", req.URL.Path),
			slog.Duration("wait", wait), slog.Int("attempt", attempt+1))
		if err := clock.Sleep(ctx, c.clock, wait); err != nil {
			return nil, err
		}
	}
}

// do sends a JSON API request and decodes a JSON response into out (unless
// out is nil). Errors are *APIError for error statuses and wrap ErrDecode
// for bodies that are not the expected JSON.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()

	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("qstash: %s %s: encode request: %w", method, path, err)
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(path, query).String(), reader)
	if err != nil {
		return fmt.Errorf("qstash: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.send(ctx, req)
	if err != nil {
		return &RequestError{Method: method, Path: path, Err: err}
	}
	defer resp.Body.Close()
	data, err := readBody(resp)
	if err != nil {
		return &RequestError{Method: method, Path: path, Err: fmt.Errorf("read response: %w", err)}
	}
	if resp.StatusCode >= http.StatusBadRequest {
		return newAPIError(method, path, resp, data, c.clock.Now())
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &DecodeError{Method: method, Path: path, StatusCode: resp.StatusCode, Err: err, Excerpt: excerpt(data, 120)}
	}
	return nil
}

// readBody reads at most maxResponseBytes of a response body, sized from
// Content-Length when the server sent one.
func readBody(resp *http.Response) ([]byte, error) {
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 && n <= maxResponseBytes {
		buf.Grow(int(n) + 1)
	}
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, maxResponseBytes))
	return buf.Bytes(), err
}

// excerpt returns at most n bytes of data as text, for error messages.
func excerpt(data []byte, n int) string {
	if len(data) > n {
		return string(data[:n]) + "..."
	}
	return string(data)
}

// errorsAsAPI reports whether err is or wraps an *APIError.
func errorsAsAPI(err error) (*APIError, bool) {
	var apiErr *APIError
	ok := errors.As(err, &apiErr)
	return apiErr, ok
}
