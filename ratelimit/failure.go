package ratelimit

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// failureRetryAfter is the RetryAfter of a FailClosed denial, capped at the
// period: long enough that clients do not hammer a failing backend, short
// enough that they come back soon after it recovers.
const failureRetryAfter = time.Second

// fail decides a request of cost n with the failure policy after err.
func (l *Limiter) fail(ctx context.Context, key string, n int, now time.Time, err error) Result {
	l.metrics.backendFailure(ctx, l.cfg.policy)
	l.logs.warn(l.cfg.logger, now, "ratelimit: redis failed, the failure policy decides",
		"policy", l.cfg.policy.String(), "error", err)

	res := Result{Limit: l.alg.limit, Period: l.alg.period, Err: err}
	switch l.cfg.policy {
	case FailOpen:
		res.Allowed = true
		res.Remaining = int64(l.alg.capacity(l.alg.limit))
		res.Source = SourceFailOpen
	case FailClosed:
		res.Reason = ReasonBackendFailure
		res.RetryAfter = min(failureRetryAfter, l.alg.period)
		res.Source = SourceFailClosed
	default:
		l.local.decide(key, n, now, l.alg, &res)
		res.Source = SourceLocal
	}
	return res
}

// localLimiters holds one golang.org/x/time/rate limiter per key for the
// FailLocal policy. It holds at most size keys, and adding a key to a full
// set drops one arbitrary key (the first in Go's map order), which then starts
// again with a full burst. It is safe for concurrent use.
type localLimiters struct {
	mu   sync.Mutex
	size int
	m    map[string]*rate.Limiter
}

func newLocalLimiters(size int) *localLimiters {
	return &localLimiters{size: size, m: make(map[string]*rate.Limiter)}
}

// decide fills res with the local decision for a request of cost n.
func (s *localLimiters) decide(key string, n int, now time.Time, alg Algorithm, res *Result) {
	lim := s.get(key, alg)
	burst := lim.Burst()
	switch {
	case n > burst:
		res.Reason = ReasonCostExceedsLimit
		res.RetryAfter = alg.period
	case lim.AllowN(now, n):
		res.Allowed = true
	default:
		res.Reason = ReasonLimitExceeded
		missing := float64(n) - lim.TokensAt(now)
		res.RetryAfter = max(time.Duration(missing/float64(lim.Limit())*float64(time.Second)), time.Microsecond)
	}
	tokens := lim.TokensAt(now)
	res.Remaining = int64(max(math.Floor(tokens), 0))
	if lim.Limit() > 0 {
		res.ResetAfter = time.Duration((float64(burst) - tokens) / float64(lim.Limit()) * float64(time.Second))
	}
}

func (s *localLimiters) get(key string, alg Algorithm) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if lim, ok := s.m[key]; ok {
		return lim
	}
	if len(s.m) >= s.size {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	lim := newLocalLimiter(alg)
	s.m[key] = lim
	return lim
}

// newLocalLimiter sizes an x/time/rate limiter to alg: limit per period,
// with a burst of the algorithm's capacity rounded down to a whole request
// and capped at math.MaxInt32.
func newLocalLimiter(alg Algorithm) *rate.Limiter {
	capacity := min(math.Floor(alg.capacity(alg.limit)), math.MaxInt32)
	if alg.limit <= 0 || capacity < 1 {
		return rate.NewLimiter(0, 0)
	}
	perSecond := alg.limit / alg.period.Seconds()
	if alg.limit >= MaxLimit {
		return rate.NewLimiter(rate.Inf, int(capacity))
	}
	return rate.NewLimiter(rate.Limit(perSecond), int(capacity))
}

// logThrottle lets one warning through per second and counts the rest.
type logThrottle struct {
	last    atomic.Int64 // UnixNano of the last warning logged
	dropped atomic.Int64
}

func (t *logThrottle) warn(logger interface {
	Warn(msg string, args ...any)
}, now time.Time, msg string, args ...any) {
	last := t.last.Load()
	if now.UnixNano()-last < int64(time.Second) || !t.last.CompareAndSwap(last, now.UnixNano()) {
		t.dropped.Add(1)
		return
	}
	if d := t.dropped.Swap(0); d > 0 {
		args = append(args, "suppressed", d)
	}
	logger.Warn(msg, args...)
}
