package adaptive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/upstash-ops/sdk/ratelimit"
)

// Limits is the part of *ratelimit.Limiter that the tuner calls.
type Limits interface {
	// Algorithm returns the algorithm with its default limit.
	Algorithm() ratelimit.Algorithm
	// OverrideKey returns the Redis key of key's override limit, a
	// decimal number, which the tuner reads in the pipeline that reads
	// the history.
	OverrideKey(key string) string
	// SetOverride replaces key's limit until ttl passes.
	SetOverride(ctx context.Context, key string, limit float64, ttl time.Duration) error
	// ForgetDenial drops key from this process's deny cache.
	ForgetDenial(key string)
}

var _ Limits = (*ratelimit.Limiter)(nil)

// Account is the application's record of the owner of a key.
type Account struct {
	// Known is false for keys the application cannot attribute; they are
	// treated as untrusted.
	Known   bool
	Trusted bool
	Tier    string
	Name    string
}

// AccountLookup returns the account that owns a key.
type AccountLookup interface {
	LookupAccount(ctx context.Context, key string) (Account, error)
}

// AccountLookupFunc adapts a function to AccountLookup.
type AccountLookupFunc func(ctx context.Context, key string) (Account, error)

// LookupAccount calls f.
func (f AccountLookupFunc) LookupAccount(ctx context.Context, key string) (Account, error) {
	return f(ctx, key)
}

// Kind is the kind of a change.
type Kind uint8

const (
	// KindRaise is a temporary raise of a trusted key's limit.
	KindRaise Kind = iota + 1
	// KindTighten is a multiplicative cut of an untrusted key's limit,
	// flagged for review.
	KindTighten
	// KindRecommend is a recommendation to raise a key's limit; the tuner
	// never applies it.
	KindRecommend
)

// String returns "raise", "tighten" or "recommend".
func (k Kind) String() string {
	switch k {
	case KindRaise:
		return "raise"
	case KindTighten:
		return "tighten"
	case KindRecommend:
		return "recommend"
	default:
		return "none"
	}
}

// Stage is the step a change has reached.
type Stage uint8

const (
	// StageProposed is a change before it is applied; the hook may reject
	// it by returning an error.
	StageProposed Stage = iota + 1
	// StageApplied is a change written to the limiter.
	StageApplied
	// StageRecommended is a change that is only reported: a
	// recommendation, or any change in recommend-only mode.
	StageRecommended
)

// String returns "proposed", "applied" or "recommended".
func (s Stage) String() string {
	switch s {
	case StageProposed:
		return "proposed"
	case StageApplied:
		return "applied"
	case StageRecommended:
		return "recommended"
	default:
		return "none"
	}
}

// Change is one limit change with its reason.
type Change struct {
	Key      string
	Account  Account
	Kind     Kind
	Stage    Stage
	From, To float64 // limit per period before and after
	// TTL is how long an applied override lasts before the limit reverts.
	TTL    time.Duration
	Reason string
	// Flagged marks the key for review by a person.
	Flagged bool
	At      time.Time
}

// Policy holds the rules' settings. Zero fields take the defaults in
// DefaultPolicy.
type Policy struct {
	// Floor and Ceiling bound every limit the tuner sets or recommends.
	Floor, Ceiling float64
	// RecentBuckets is the window of recent traffic, in recorder buckets.
	RecentBuckets int
	// BaselineWindow is how far back the baseline reaches.
	BaselineWindow time.Duration

	// A trusted key whose recent demand is at least NearLimit of its limit
	// and SpikeFactor times its baseline gets its limit multiplied by
	// RaiseFactor for RaiseTTL.
	NearLimit, SpikeFactor, RaiseFactor float64
	RaiseTTL                            time.Duration
	// MaxRaise caps raises at this multiple of the algorithm's default
	// limit, 4 by default, so that raises repeated while demand keeps
	// filling the raised limit stop there. Ceiling applies too.
	MaxRaise float64

	// An untrusted key whose recent demand is AbuseFactor times its
	// baseline gets its limit multiplied by TightenFactor for TightenTTL.
	AbuseFactor, TightenFactor float64
	TightenTTL                 time.Duration

	// A key whose daily peak demand reached GrowthRatio of its limit on
	// each of the last GrowthDays days gets a recommendation of its limit
	// times GrowthFactor.
	GrowthRatio, GrowthFactor float64
	GrowthDays                int
	// RecommendEvery is the least time between two recommendations for
	// one key, 24 hours by default.
	RecommendEvery time.Duration

	// Cooldown is the least time between two raises or cuts of one key,
	// across every instance that shares the history: RecentBuckets
	// recorder buckets by default, the time the recent window needs to
	// show the effect of the last change.
	Cooldown time.Duration

	// DisableRaise, DisableTighten and DisableRecommend turn a rule off.
	DisableRaise, DisableTighten, DisableRecommend bool
}

// DefaultPolicy returns the default settings.
func DefaultPolicy() Policy {
	return Policy{
		Floor:          1,
		Ceiling:        ratelimit.MaxLimit,
		RecentBuckets:  5,
		BaselineWindow: 24 * time.Hour,
		NearLimit:      0.8,
		SpikeFactor:    2,
		RaiseFactor:    2,
		RaiseTTL:       time.Hour,
		MaxRaise:       4,
		AbuseFactor:    10,
		TightenFactor:  0.5,
		TightenTTL:     time.Hour,
		GrowthRatio:    0.9,
		GrowthFactor:   1.5,
		GrowthDays:     3,
		RecommendEvery: 24 * time.Hour,
	}
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy()
	setFloat := func(v *float64, def float64) {
		if *v <= 0 || math.IsNaN(*v) {
			*v = def
		}
	}
	setFloat(&p.Floor, d.Floor)
	setFloat(&p.Ceiling, d.Ceiling)
	setFloat(&p.NearLimit, d.NearLimit)
	setFloat(&p.SpikeFactor, d.SpikeFactor)
	setFloat(&p.RaiseFactor, d.RaiseFactor)
	setFloat(&p.MaxRaise, d.MaxRaise)
	setFloat(&p.AbuseFactor, d.AbuseFactor)
	setFloat(&p.TightenFactor, d.TightenFactor)
	setFloat(&p.GrowthRatio, d.GrowthRatio)
	setFloat(&p.GrowthFactor, d.GrowthFactor)

	if p.RecentBuckets <= 0 {
		p.RecentBuckets = d.RecentBuckets
	}
	if p.BaselineWindow <= 0 {
		p.BaselineWindow = d.BaselineWindow
	}
	if p.RaiseTTL <= 0 {
		p.RaiseTTL = d.RaiseTTL
	}
	if p.TightenTTL <= 0 {
		p.TightenTTL = d.TightenTTL
	}
	if p.GrowthDays <= 0 {
		p.GrowthDays = d.GrowthDays
	}
	if p.RecommendEvery <= 0 {
		p.RecommendEvery = d.RecommendEvery
	}

	p.Ceiling = max(p.Ceiling, p.Floor)
	return p
}

// Tuner applies the policy to each key's history and changes its limit
// through the limiter's overrides. It keeps no per-key state in process.
// Each change it delivers is stored in the key's history in Redis, and the
// cooldown and the spacing of recommendations read it from there, so they
// hold across every instance. It is safe for concurrent use.
type Tuner struct {
	limits        Limits
	recorder      *Recorder
	lookup        AccountLookup
	policy        Policy
	onAdjust      func(context.Context, Change) error
	notifier      Notifier
	recommendOnly bool
	logger        *slog.Logger
}

// TunerOption configures a Tuner.
type TunerOption func(*Tuner)

// WithPolicy sets the rules' settings; zero fields keep the defaults.
func WithPolicy(p Policy) TunerOption { return func(t *Tuner) { t.policy = p.withDefaults() } }

// WithOnAdjust sets the hook that receives every change: once proposed
// (returning an error rejects it) and once applied, or once recommended.
func WithOnAdjust(f func(context.Context, Change) error) TunerOption {
	return func(t *Tuner) { t.onAdjust = f }
}

// Notifier sends a person a notification about a change.
type Notifier interface {
	Notify(ctx context.Context, c Change) error
}

// WithNotifier sets the notifier, which receives each change in its final
// stage: applied, or recommended. A notifier error is logged and changes
// nothing. There is no notifier by default.
func WithNotifier(n Notifier) TunerOption { return func(t *Tuner) { t.notifier = n } }

// WithRecommendOnly makes the tuner report every change as recommended and
// apply none.
func WithRecommendOnly() TunerOption { return func(t *Tuner) { t.recommendOnly = true } }

// WithLogger sets the logger for hook rejections and failures; silent by
// default.
func WithLogger(l *slog.Logger) TunerOption { return func(t *Tuner) { t.logger = l } }

// ErrRejected is what a hook returns, wrapped or not, to reject a change.
var ErrRejected = errors.New("adaptive: change rejected")

// NewTuner returns a Tuner over limits, reading history from recorder and
// accounts from lookup (nil: every key is unknown). It returns an error
// when the recorder's retention is shorter than the growth rule reads.
func NewTuner(limits Limits, recorder *Recorder, lookup AccountLookup, opts ...TunerOption) (*Tuner, error) {
	if limits == nil || recorder == nil {
		return nil, errors.New("adaptive: limiter and recorder are required")
	}
	t := &Tuner{
		limits:   limits,
		recorder: recorder,
		lookup:   lookup,
		policy:   DefaultPolicy(),
		logger:   slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(t)
	}
	if growth := time.Duration(t.policy.GrowthDays) * 24 * time.Hour; !t.policy.DisableRecommend && recorder.retention < growth {
		return nil, fmt.Errorf("adaptive: recorder retention %s is shorter than the %d days the growth rule reads: raise it with WithRetention or set Policy.DisableRecommend",
			recorder.retention, t.policy.GrowthDays)
	}
	return t, nil
}
