package ratelimit

import (
	"fmt"
	"math"
	"time"
)

// MaxLimit is the largest limit or burst the package works with. Larger
// values, including +Inf, are lowered to it. At 2^50 requests per period a
// limit is unlimited in practice, and sums of counts stay exact in the
// float64 arithmetic of the Lua scripts.
const MaxLimit = 1 << 50

// MinPeriod and MaxPeriod bound a window or refill period; values outside
// the range are moved to the nearest bound. Keeping times below 2^53
// microseconds keeps them exact in the Lua scripts' float64 numbers.
const (
	MinPeriod = time.Millisecond
	MaxPeriod = 10 * 365 * 24 * time.Hour
)

type kind uint8

const (
	kindNone kind = iota
	kindFixedWindow
	kindSlidingWindow
	kindTokenBucket
	kindGCRA
)

// Algorithm is a rate-limiting algorithm with its limit. Build one with
// FixedWindow, SlidingWindow, TokenBucket or GCRA; the zero value is not a
// valid algorithm and New rejects it.
type Algorithm struct {
	kind   kind
	limit  float64
	period time.Duration
	burst  float64
}

// FixedWindow admits floor(limit) units of cost in each window of the given
// length. Windows are aligned to the Unix epoch. It is the cheapest algorithm
// to reason about, but a client can spend two windows' worth of requests
// around a window boundary.
func FixedWindow(limit float64, window time.Duration) Algorithm {
	return Algorithm{kind: kindFixedWindow, limit: clampLimit(limit), period: clampPeriod(window)}
}

// SlidingWindow admits limit units of cost in any window of the given
// length, estimated from two fixed windows: the count of the previous window
// is weighted by the share of it that still overlaps the sliding window. The
// estimate smooths the boundary burst of FixedWindow, and a fractional limit
// such as 2.5 is meaningful here because the estimate is fractional too.
func SlidingWindow(limit float64, window time.Duration) Algorithm {
	return Algorithm{kind: kindSlidingWindow, limit: clampLimit(limit), period: clampPeriod(window)}
}

// TokenBucket refills limit tokens per period, continuously, into a bucket
// that holds at most burst tokens; a request of cost n takes n tokens. A new
// key starts with a full bucket. A fractional limit sets a slow rate, for
// example TokenBucket(0.5, time.Second, 1) admits one request every two
// seconds.
func TokenBucket(limit float64, period time.Duration, burst float64) Algorithm {
	return Algorithm{kind: kindTokenBucket, limit: clampLimit(limit), period: clampPeriod(period), burst: clampLimit(burst)}
}

// GCRA is the generic cell rate algorithm: it admits limit units of cost per
// period, evenly spaced, and lets up to burst units through at once. It
// admits what TokenBucket admits, but an app server whose clock lags reads
// the cost outstanding plus its lag, so it decides more strictly instead of
// reading the newer server's bucket.
func GCRA(limit float64, period time.Duration, burst float64) Algorithm {
	return Algorithm{kind: kindGCRA, limit: clampLimit(limit), period: clampPeriod(period), burst: clampLimit(burst)}
}

// Limit returns the default limit per period, after clamping to
// [0, MaxLimit].
func (a Algorithm) Limit() float64 { return a.limit }

// Period returns the window or refill period, after clamping to
// [MinPeriod, MaxPeriod].
func (a Algorithm) Period() time.Duration { return a.period }

// Burst returns the bucket size of TokenBucket and GCRA, and 0 for the
// window algorithms.
func (a Algorithm) Burst() float64 { return a.burst }

// String returns a short description such as "sliding_window(100/1m0s)".
func (a Algorithm) String() string {
	switch a.kind {
	case kindTokenBucket, kindGCRA:
		return fmt.Sprintf("%s(%g/%s,burst=%g)", a.name(), a.limit, a.period, a.burst)
	case kindNone:
		return "none"
	default:
		return fmt.Sprintf("%s(%g/%s)", a.name(), a.limit, a.period)
	}
}

func (a Algorithm) name() string {
	switch a.kind {
	case kindFixedWindow:
		return "fixed_window"
	case kindSlidingWindow:
		return "sliding_window"
	case kindTokenBucket:
		return "token_bucket"
	case kindGCRA:
		return "gcra"
	default:
		return "none"
	}
}

// suffix is the last part of the state key, so that limiters with different
// algorithms never read each other's state.
func (a Algorithm) suffix() string {
	switch a.kind {
	case kindFixedWindow:
		return "fw"
	case kindSlidingWindow:
		return "sw"
	case kindTokenBucket:
		return "tb"
	default:
		return "gc"
	}
}

// capacity is the most cost a single request can ever have: floor(limit)
// for a fixed window, the limit for a sliding window and the burst for the
// bucket algorithms. A request above it is denied with ReasonCostExceedsLimit.
func (a Algorithm) capacity(limit float64) float64 {
	switch a.kind {
	case kindFixedWindow:
		return math.Floor(limit)
	case kindSlidingWindow:
		return limit
	default:
		return a.scaledBurst(limit)
	}
}

// scaledBurst is the burst that goes with limit when an override replaces
// the default limit: the burst scales by the same factor, and equals the
// override when the default limit is 0.
func (a Algorithm) scaledBurst(limit float64) float64 {
	if limit <= 0 {
		return 0
	}
	if a.limit <= 0 {
		return limit
	}
	return clampLimit(a.burst * limit / a.limit)
}

func clampLimit(v float64) float64 {
	switch {
	case math.IsNaN(v), v <= 0:
		return 0
	case v > MaxLimit:
		return MaxLimit
	default:
		return v
	}
}

func clampPeriod(d time.Duration) time.Duration {
	switch {
	case d < MinPeriod:
		return MinPeriod
	case d > MaxPeriod:
		return MaxPeriod
	default:
		return d
	}
}
