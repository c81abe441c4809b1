package costlint

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/upstash-ops/sdk/internal/clock"
)

// Defaults of the options.
const (
	DefaultMaxPatterns  = 1000
	DefaultMaxCallSites = 2000
	DefaultMaxHotKeys   = 64
	defaultMaxScripts   = 256
	DefaultBurstGap     = 50 * time.Millisecond
	DefaultMinBurst     = 5
	DefaultAlertAt      = 50.0
	DefaultDetailAt     = 200.0
)

type config struct {
	pricing      Pricing
	clock        clock.Clock
	logger       *slog.Logger
	maxPatterns  int
	maxCallSites int
	maxHotKeys   int
	maxScripts   int
	burstGap     time.Duration
	minBurst     int
	alertAt      float64
	detailAt     float64
	rules        []Rule
	extraRules   []Rule
	ttlFloors    []TTLFloor
	scriptCalls  map[string]int
	skipPackages []string

	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
}

// Option configures a Linter.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithPricing sets the price list that reports use. The default is
// UpstashPayAsYouGo.
func WithPricing(p Pricing) Option {
	return optionFunc(func(c *config) { c.pricing = p })
}

// WithClock sets the clock that timestamps commands and bounds the observed
// window. The default is the system clock.
func WithClock(clk clock.Clock) Option {
	return optionFunc(func(c *config) { c.clock = clk })
}

// WithLogger sets a logger for overflow of the memory caps and for rules
// that fail. The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithMaxPatterns caps the number of distinct key patterns kept. Commands on
// patterns past the cap are counted under the pattern "{overflow}". The
// default is DefaultMaxPatterns.
func WithMaxPatterns(n int) Option {
	return optionFunc(func(c *config) { c.maxPatterns = n })
}

// WithMaxCallSites caps the number of (call site, command, key pattern,
// mode) aggregates kept. Commands past the cap are counted in the report's
// overflow and in the per-command totals. An aggregate takes about 200
// bytes, and 1.5 KB when its command has a variadic replacement (GET, SET,
// HGET ...), whose runs the N+1 rule tracks per caller. The default is
// DefaultMaxCallSites.
func WithMaxCallSites(n int) Option {
	return optionFunc(func(c *config) { c.maxCallSites = n })
}

// WithMaxHotKeys sets how many individual keys the hot-key tracker keeps.
// The default is DefaultMaxHotKeys.
func WithMaxHotKeys(n int) Option {
	return optionFunc(func(c *config) { c.maxHotKeys = n })
}

// WithBurstGap sets the largest gap between two commands from one call site
// that still counts as one burst, when the context carries no Scope. The
// default is DefaultBurstGap.
func WithBurstGap(d time.Duration) Option {
	return optionFunc(func(c *config) { c.burstGap = d })
}

// WithMinBurst sets the number of single-key commands in one burst from one
// call site that makes an N+1 finding. The default is DefaultMinBurst.
func WithMinBurst(n int) Option {
	return optionFunc(func(c *config) { c.minBurst = n })
}

// WithSeverity sets the monthly savings in dollars at which a finding
// becomes SeverityAlert and SeverityDetail. The defaults are $50 and $200.
func WithSeverity(alertAt, detailAt float64) Option {
	return optionFunc(func(c *config) { c.alertAt, c.detailAt = alertAt, detailAt })
}

// WithRules replaces the built-in rules. Use DefaultRules to start from
// them.
func WithRules(rules ...Rule) Option {
	return optionFunc(func(c *config) { c.rules = rules })
}

// WithExtraRules adds rules that run after the built-in ones.
func WithExtraRules(rules ...Rule) Option {
	return optionFunc(func(c *config) { c.extraRules = append(c.extraRules, rules...) })
}

// WithTTLFloor makes the hook raise TTL arguments below floor.Min on keys
// of floor.Pattern to floor.Min. No floor is set by default.
func WithTTLFloor(floor TTLFloor) Option {
	return optionFunc(func(c *config) { c.ttlFloors = append(c.ttlFloors, floor) })
}

// WithScriptCalls declares how many billed redis.call invocations one run of
// a Lua script makes, overriding the estimate read from its source. script is
// the script's source or its SHA1 in hex.
func WithScriptCalls(script string, calls int) Option {
	return optionFunc(func(c *config) {
		if c.scriptCalls == nil {
			c.scriptCalls = make(map[string]int)
		}
		c.scriptCalls[scriptSHA(script)] = calls
	})
}

// WithSkipPackages adds import path prefixes whose frames are skipped when
// finding a command's call site, for wrappers of go-redis that should not
// count as the caller. Frames of go-redis and costlint are always skipped.
func WithSkipPackages(prefixes ...string) Option {
	return optionFunc(func(c *config) { c.skipPackages = append(c.skipPackages, prefixes...) })
}
