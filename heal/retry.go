package heal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
)

// HTTPError is an HTTP response that counts as a failure. Return it from
// the function given to Retry, wrapped or not, so that the classifier sees
// the status, headers and body.
type HTTPError struct {
	Status int
	Header http.Header
	// Body is the first 4 KiB of the response body.
	Body string
	// URL is the request URL without query or user info.
	URL string
}

// Error returns "HTTP 503 from https://host/path".
func (e *HTTPError) Error() string {
	if e == nil {
		return "HTTP error without a response"
	}
	if e.URL == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("HTTP %d from %s", e.Status, e.URL)
}

// ResponseError returns an *HTTPError for a response whose status is not
// 2xx, and nil otherwise. It reads and closes the body of a failed
// response and leaves a successful one untouched. A nil resp is an error,
// because it is no proof of success.
func ResponseError(resp *http.Response) error {
	if resp == nil {
		return errors.New("heal: no HTTP response")
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	f := FromResponse(resp, nil)
	return &HTTPError{Status: f.Status, Header: f.Header, Body: f.Body, URL: f.URL}
}

// FailureOf builds a Failure from an error, taking status, header, body and
// URL from an *HTTPError in its chain.
func FailureOf(err error) Failure {
	f := Failure{Err: err}
	var he *HTTPError
	if errors.As(err, &he) && he != nil {
		f.Status, f.Header, f.Body, f.URL = he.Status, he.Header, he.Body, he.URL
	}
	return f
}

// Retry defaults.
const (
	DefaultMaxAttempts = 5
	DefaultBaseDelay   = 500 * time.Millisecond
	DefaultMaxDelay    = 30 * time.Second
)

// RetryOption configures Retry.
type RetryOption interface {
	applyRetry(*retryConfig)
}

type retryOptionFunc func(*retryConfig)

func (fn retryOptionFunc) applyRetry(c *retryConfig) { fn(c) }

type retryConfig struct {
	maxAttempts int
	base, max   time.Duration
	clock       clock.Clock
	classifier  *Classifier
	logger      *slog.Logger
	jitter      func(time.Duration) time.Duration
}

// WithMaxAttempts sets how many times Retry calls the function in total.
// The default is 5. Values below 1 are treated as 1.
func WithMaxAttempts(n int) RetryOption {
	return retryOptionFunc(func(c *retryConfig) { c.maxAttempts = max(n, 1) })
}

// WithBackoff sets the delay before the second attempt and the cap that
// doubling stops at. The defaults are 500ms and 30s. A Retry-After the
// server sends can exceed the cap.
func WithBackoff(base, maxDelay time.Duration) RetryOption {
	return retryOptionFunc(func(c *retryConfig) {
		if base > 0 {
			c.base = base
		}
		if maxDelay > 0 {
			c.max = maxDelay
		}
	})
}

// WithRetryClock sets the clock Retry waits on. The default is the system
// clock.
func WithRetryClock(clk clock.Clock) RetryOption {
	return retryOptionFunc(func(c *retryConfig) { c.clock = clock.Or(clk) })
}

// WithRetryClassifier sets the classifier that decides whether to retry.
// The default runs the built-in rules only.
func WithRetryClassifier(cl *Classifier) RetryOption {
	return retryOptionFunc(func(c *retryConfig) { c.classifier = cl })
}

// WithRetryLogger logs each retry at debug level and the final failure at
// warn level. The default logs nothing.
func WithRetryLogger(l *slog.Logger) RetryOption {
	return retryOptionFunc(func(c *retryConfig) {
		if l != nil {
			c.logger = l
		}
	})
}

// Retry calls fn until it succeeds, the classification of its error says
// that retrying cannot help, the attempts run out or ctx ends. It waits
// between attempts with exponential backoff and equal jitter (half the
// delay fixed, half random), and at least as long as a Retry-After the
// server sent. It stops at once on configuration and logical failures, and
// without waiting when ctx's deadline would pass during the wait.
//
// On success Retry returns a zero Verdict and nil. Otherwise it returns the
// verdict of the last error and that error; when ctx ended, the error
// wraps both ctx.Err() and the last error of fn.
func Retry(ctx context.Context, fn func(context.Context) error, opts ...RetryOption) (Verdict, error) {
	cfg := retryConfig{
		maxAttempts: DefaultMaxAttempts, base: DefaultBaseDelay, max: DefaultMaxDelay,
		clock: clock.Real, logger: slog.New(slog.DiscardHandler),
		jitter: func(d time.Duration) time.Duration { return rand.N(d + 1) },
	}
	for _, o := range opts {
		o.applyRetry(&cfg)
	}

	delay := cfg.base
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return Verdict{}, nil
		}
		v := cfg.classifier.Classify(FailureOf(err))
		if !v.Class.Retryable() || attempt >= cfg.maxAttempts {
			cfg.logger.LogAttrs(ctx, slog.LevelWarn, "heal: giving up",
				slog.Int("attempt", attempt), slog.String("class", v.Class.String()),
				slog.String("signal", v.Signal), slog.String("error", clip(err.Error(), 300)))
			return v, err
		}

		// Wait with jitter, and never less than the server asked for.
		wait := delay/2 + cfg.jitter(delay/2)
		wait = max(wait, v.RetryAfter)
		delay = min(delay*2, cfg.max)
		// A context deadline is wall-clock time whatever clock Retry waits on.
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return v, fmt.Errorf("heal: retry wait of %s would pass the context deadline: %w",
				wait, errors.Join(context.DeadlineExceeded, err))
		}
		cfg.logger.LogAttrs(ctx, slog.LevelDebug, "heal: retrying",
			slog.Int("attempt", attempt), slog.Duration("wait", wait),
			slog.String("class", v.Class.String()), slog.String("signal", v.Signal))
		if cerr := clock.Sleep(ctx, cfg.clock, wait); cerr != nil {
			return v, fmt.Errorf("heal: retry stopped after attempt %d: %w", attempt, errors.Join(cerr, err))
		}
	}
}
