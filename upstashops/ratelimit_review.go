package upstashops

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/upstash-ops/sdk/ratelimit"
)

// RateLimitReview is the RateLimitJob: it counts the decisions of a
// ratelimit.Limiter per key and, on each run, reviews the window since the
// previous run. A key denied often is reported with a proposed
// ActionRateLimitChange that raises its limit by half through
// Limiter.SetOverride. A key that never used a tenth of its limit is
// reported as oversized, without an action.
//
// Decisions reach it through AllowN (which calls the limiter), Observe, or
// the limiter itself when the review's Observe is passed to
// ratelimit.WithOnDecision (see NewRateLimitReview), which also counts the
// decisions of ratelimit.Middleware. It counts at most 1000 keys a window; decisions for further keys are
// counted only in the total. It is safe for concurrent use.
type RateLimitReview struct {
	l           *ratelimit.Limiter
	minRequests int
	denyRatio   float64
	overrideTTL time.Duration

	// hooked is set when the limiter reports every decision to Observe
	// itself, so that AllowN must not count it a second time.
	hooked bool

	mu       sync.Mutex
	keys     map[string]*keyWindow
	overflow int
}

type keyWindow struct {
	allowed, denied int
	limit           float64
	minRemaining    float64
}

const maxReviewKeys = 1000

// NewRateLimitJob returns a review of l: keys with at least 100 decisions
// in a window, of which at least 20% were denied, get a proposal to raise
// their limit for 24 hours. WithRateLimiter adds it by itself.
func NewRateLimitJob(l *ratelimit.Limiter) *RateLimitReview {
	r := NewRateLimitReview()
	r.l = l
	return r
}

// NewRateLimitReview returns a review with the thresholds of
// NewRateLimitJob that is not yet tied to a limiter, so that its Observe can
// be passed to ratelimit.WithOnDecision when the limiter is built. The
// review then sees every decision of the limiter, those of
// ratelimit.Middleware included:
//
//	review := upstashops.NewRateLimitReview()
//	limiter, err := ratelimit.New(rdb, alg, ratelimit.WithOnDecision(review.Observe))
//	...
//	op, err := upstashops.New(upstashops.WithRateLimitReview(review, limiter))
func NewRateLimitReview() *RateLimitReview {
	return &RateLimitReview{minRequests: 100, denyRatio: 0.2, overrideTTL: 24 * time.Hour, keys: map[string]*keyWindow{}}
}

// WithRateLimitReview adds the RateLimitJob over review, whose Observe the
// application passed to ratelimit.WithOnDecision of l. Rate-limit changes
// are applied to l. The review's AllowN then calls l without counting the
// decision twice.
func WithRateLimitReview(review *RateLimitReview, l *ratelimit.Limiter) Option {
	return optionFunc(func(c *config) {
		review.l, review.hooked = l, true
		c.jobs = append(c.jobs, jobEntry{job: review})
		c.executors = withExecutor(c.executors, ActionRateLimitChange, rateLimitExecutor{l: l})
	})
}

// WithRateLimiter adds the RateLimitJob over l. The application sends its
// decisions through the returned review's AllowN, or reports them with
// Observe; find the review with Operator.RateLimitReview.
func WithRateLimiter(l *ratelimit.Limiter) Option {
	return optionFunc(func(c *config) {
		c.jobs = append(c.jobs, jobEntry{job: NewRateLimitJob(l)})
		c.executors = withExecutor(c.executors, ActionRateLimitChange, rateLimitExecutor{l: l})
	})
}

func withExecutor(m map[ActionClass]Executor, class ActionClass, e Executor) map[ActionClass]Executor {
	if m == nil {
		m = map[ActionClass]Executor{}
	}
	if _, ok := m[class]; !ok { // an executor set with WithExecutor wins
		m[class] = e
	}
	return m
}

// RateLimitReview returns the review that WithRateLimiter added, or nil.
func (op *Operator) RateLimitReview() *RateLimitReview {
	if js, ok := op.jobs[RateLimitJob]; ok {
		if r, ok := js.job.(*RateLimitReview); ok {
			return r
		}
	}
	return nil
}

// Name returns RateLimitJob.
func (r *RateLimitReview) Name() JobName { return RateLimitJob }

// AllowN calls the limiter's AllowN and counts the decision.
func (r *RateLimitReview) AllowN(ctx context.Context, key string, n int) (ratelimit.Result, error) {
	res, err := r.l.AllowN(ctx, key, n)
	if err == nil && !r.hooked {
		r.Observe(key, res)
	}
	return res, err
}

// Observe counts one decision for key. Decisions of the limiter's failure
// policy (Source FailOpen, FailClosed or Local) are not counted: made while
// Redis was unreachable, they would show every key as saturated or idle and
// propose limit changes because of an outage.
func (r *RateLimitReview) Observe(key string, res ratelimit.Result) {
	if res.Source != ratelimit.SourceRedis && res.Source != ratelimit.SourceDenyCache {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.keys[key]
	if !ok {
		if len(r.keys) >= maxReviewKeys {
			r.overflow++
			return
		}
		w = &keyWindow{minRemaining: math.Inf(1)}
		r.keys[key] = w
	}
	if res.Allowed {
		w.allowed++
	} else {
		w.denied++
	}
	w.limit = res.Limit
	w.minRemaining = min(w.minRemaining, float64(res.Remaining))
}

// Run reviews the window since the last run and starts a new one.
func (r *RateLimitReview) Run(ctx context.Context) (Result, error) {
	r.mu.Lock()
	keys := r.keys
	r.keys = map[string]*keyWindow{}
	r.overflow = 0
	r.mu.Unlock()

	var res Result
	for key, w := range keys {
		total := w.allowed + w.denied
		if total < r.minRequests || w.limit <= 0 {
			continue
		}
		ratio := float64(w.denied) / float64(total)
		switch {
		case ratio >= r.denyRatio:
			raised := math.Ceil(w.limit * 1.5)
			f := Finding{
				Kind:           "ratelimit.saturated",
				Subject:        key,
				Severity:       Warning,
				Summary:        fmt.Sprintf("Rate limit %s denied %.0f%% of %d requests", key, 100*ratio, total),
				Recommendation: fmt.Sprintf("Raise the limit from %g to %g per period if this traffic is legitimate; otherwise keep it.", w.limit, raised),
				Evidence:       []Evidence{{"allowed", strconv.Itoa(w.allowed)}, {"denied", strconv.Itoa(w.denied)}, {"limit", fmt.Sprint(w.limit)}},
				Actions: []Action{{Class: ActionRateLimitChange, Target: key, Description: fmt.Sprintf("raise the limit of %s from %g to %g for %s", key, w.limit, raised, r.overrideTTL),
					Params: map[string]string{"limit": strconv.FormatFloat(raised, 'f', -1, 64), "ttl": r.overrideTTL.String()}}},
			}
			res.Findings = append(res.Findings, f)
		case w.denied == 0 && w.limit-w.minRemaining < 0.1*w.limit:
			res.Findings = append(res.Findings, Finding{
				Kind:           "ratelimit.oversized",
				Subject:        key,
				Severity:       Info,
				Summary:        fmt.Sprintf("Rate limit %s never used a tenth of its limit of %g", key, w.limit),
				Recommendation: "Lower the limit so that it still stops abuse, or leave it if bursts are expected.",
				Evidence:       []Evidence{{"requests", strconv.Itoa(total)}, {"peak use", fmt.Sprint(w.limit - w.minRemaining)}},
			})
		}
	}
	return res, ctx.Err()
}

// rateLimitExecutor applies ActionRateLimitChange with SetOverride.
type rateLimitExecutor struct{ l *ratelimit.Limiter }

func (e rateLimitExecutor) Execute(ctx context.Context, a Action) error {
	limit, err := strconv.ParseFloat(a.Params["limit"], 64)
	if err != nil {
		return fmt.Errorf("rate-limit change for %s: invalid limit %q", a.Target, a.Params["limit"])
	}
	ttl, err := time.ParseDuration(a.Params["ttl"])
	if err != nil {
		return fmt.Errorf("rate-limit change for %s: invalid ttl %q", a.Target, a.Params["ttl"])
	}
	return e.l.SetOverride(ctx, a.Target, limit, ttl)
}
