package ratelimit

import (
	"log/slog"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// FailurePolicy decides requests while Redis fails or exceeds the per-call
// timeout.
type FailurePolicy uint8

const (
	// FailLocal decides with an in-process golang.org/x/time/rate limiter
	// per key, sized to the default limit and burst. Each app server then
	// admits up to the full limit on its own, so the total over N servers
	// can reach N times the limit while Redis is down. It is the default.
	FailLocal FailurePolicy = iota
	// FailOpen admits every request.
	FailOpen
	// FailClosed denies every request.
	FailClosed
)

// String returns "local", "open" or "closed".
func (p FailurePolicy) String() string {
	switch p {
	case FailOpen:
		return "open"
	case FailClosed:
		return "closed"
	default:
		return "local"
	}
}

// Defaults for the options.
const (
	DefaultTimeout       = 50 * time.Millisecond
	DefaultPrefix        = "rl"
	DefaultDenyCacheSize = 10_000
	DefaultLocalKeys     = 10_000
	DefaultMaxInFlight   = 1024
)

type config struct {
	prefix        string
	timeout       time.Duration
	policy        FailurePolicy
	denyCacheSize int
	localKeys     int
	maxInFlight   int
	serverTime    bool
	clock         clock.Clock
	logger        *slog.Logger
	meterProvider metric.MeterProvider
	tracer        trace.TracerProvider
	onDecision    func(key string, res Result)
}

// Option configures a Limiter.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithPrefix sets the first part of every Redis key, inside the hash tag.
// The default is "rl". Limiters with one prefix share each key's override,
// and a limit change through one of them rewrites a fixed window state of
// that prefix with its own default, so give limiters with different
// defaults different prefixes. New rejects a prefix that is empty or
// contains '{' or '}'.
func WithPrefix(prefix string) Option {
	return optionFunc(func(c *config) { c.prefix = prefix })
}

// WithTimeout sets how long one decision may wait for Redis before the
// failure policy decides it. The default is 50 ms. A value of zero or less
// keeps the default. Calls share timers, so a call's deadline is the timeout
// rounded up to the next millisecond. Above 64 ms the step is timeout/64,
// and the deadline falls at most 1 ms after the timeout and less than one
// step before it.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	})
}

// WithFailOpen admits every request while Redis fails.
func WithFailOpen() Option { return WithFailurePolicy(FailOpen) }

// WithFailClosed denies every request while Redis fails.
func WithFailClosed() Option { return WithFailurePolicy(FailClosed) }

// WithFailLocal decides with an in-process limiter while Redis fails. It is
// the default.
func WithFailLocal() Option { return WithFailurePolicy(FailLocal) }

// WithFailurePolicy sets the failure policy. The default is FailLocal.
func WithFailurePolicy(p FailurePolicy) Option {
	return optionFunc(func(c *config) { c.policy = p })
}

// WithDenyCache sets how many keys the local deny cache holds. The default
// is 10,000; a value of zero or less keeps the default. See
// WithoutDenyCache to turn it off.
func WithDenyCache(size int) Option {
	return optionFunc(func(c *config) {
		if size > 0 {
			c.denyCacheSize = size
		}
	})
}

// WithoutDenyCache turns the local deny cache off, so every decision goes to
// Redis.
func WithoutDenyCache() Option {
	return optionFunc(func(c *config) { c.denyCacheSize = -1 })
}

// WithLocalFallbackKeys sets how many keys the FailLocal policy keeps an
// in-process limiter for. The default is 10,000; a value of zero or less
// keeps the default.
func WithLocalFallbackKeys(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.localKeys = n
		}
	})
}

// WithMaxInFlight bounds the Redis calls that may be outstanding at once.
// A decision that finds the bound reached goes to the failure policy at
// once instead of queueing behind a Redis that does not reply. The default
// is 1024; a value of zero or less keeps the default.
func WithMaxInFlight(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.maxInFlight = n
		}
	})
}

// WithServerTime makes the scripts read the time from the Redis server
// (TIME) instead of the caller's clock. Every decision then costs one more
// billed command, but app servers whose clocks disagree decide on one
// clock. Without it, the scripts never let stored time move backwards, which
// bounds what a skewed clock can gain; see the package documentation.
func WithServerTime() Option {
	return optionFunc(func(c *config) { c.serverTime = true })
}

// Clock is a source of time. Tests pass a fake one to WithClock.
type Clock interface {
	Now() time.Time
	// After sends the time on the returned channel once d has passed.
	After(d time.Duration) <-chan time.Time
}

// WithClock sets the clock for the time sent to Redis, the deny cache and
// Wait. The default is the system clock.
func WithClock(c Clock) Option {
	return optionFunc(func(cfg *config) { cfg.clock = c })
}

// WithLogger sets the logger for backend failures, which are logged at most
// once per second with the count of the ones left out. The default logs
// nothing.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithMeterProvider sets the OpenTelemetry meter provider. The default is
// the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meterProvider = mp })
}

// WithTracerProvider sets the OpenTelemetry tracer provider for the span of
// each Redis round trip. The default is the global provider. The limiter
// starts that span only as a child of a recording span in the call's
// context, so a decision outside a sampled trace spends nothing on tracing.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tracer = tp })
}

// WithOnDecision sets a function that AllowN calls with every decision it
// returns, from Redis, the deny cache or the failure policy, on the
// caller's goroutine. It must be fast and safe for concurrent use; the
// adaptive package's Recorder.Observe is one. By default no function is
// called.
func WithOnDecision(f func(key string, res Result)) Option {
	return optionFunc(func(c *config) { c.onDecision = f })
}
