package ratelimit

import "time"

// Reason is the cause of a denial.
type Reason uint8

const (
	// ReasonNone is the reason of an allowed request.
	ReasonNone Reason = iota
	// ReasonLimitExceeded means the key has used its limit; RetryAfter is
	// when the request would fit.
	ReasonLimitExceeded
	// ReasonCostExceedsLimit means the request costs more than the limit
	// can ever admit at once, for example any request under a limit of 0.
	// Only a higher limit lets it through; RetryAfter is one period.
	ReasonCostExceedsLimit
	// ReasonBackendFailure means Redis failed and the FailClosed policy
	// denied the request.
	ReasonBackendFailure
)

// String returns a lower-case name such as "limit_exceeded".
func (r Reason) String() string {
	switch r {
	case ReasonLimitExceeded:
		return "limit_exceeded"
	case ReasonCostExceedsLimit:
		return "cost_exceeds_limit"
	case ReasonBackendFailure:
		return "backend_failure"
	default:
		return "none"
	}
}

// Source is the component that made a decision.
type Source uint8

const (
	// SourceRedis is a decision of the Lua script in Redis.
	SourceRedis Source = iota
	// SourceDenyCache is a denial from the local deny cache, made without
	// calling Redis.
	SourceDenyCache
	// SourceFailOpen is an admission by the FailOpen policy after a Redis
	// failure.
	SourceFailOpen
	// SourceFailClosed is a denial by the FailClosed policy after a Redis
	// failure.
	SourceFailClosed
	// SourceLocal is a decision of the in-process fallback limiter of the
	// FailLocal policy after a Redis failure.
	SourceLocal
)

// String returns a lower-case name such as "deny_cache".
func (s Source) String() string {
	switch s {
	case SourceDenyCache:
		return "deny_cache"
	case SourceFailOpen:
		return "fail_open"
	case SourceFailClosed:
		return "fail_closed"
	case SourceLocal:
		return "local"
	default:
		return "redis"
	}
}

// Result is one decision. A denial is a Result with Allowed false, never an
// error.
type Result struct {
	// Allowed reports whether the request may go ahead. For Remaining it
	// reports whether a request of cost 1 would be allowed now.
	Allowed bool
	// Limit is the effective limit per period for the key: the override
	// when one is set, else the algorithm's default.
	Limit float64
	// Remaining is the cost, in whole units, that the key can still spend
	// now. The FailOpen and FailClosed policies leave it at the limit and 0.
	Remaining int64
	// RetryAfter is how long to wait before the same request can be
	// allowed; 0 when it was allowed. A deny-cache denial gives the wait for
	// cost 1, which is a lower bound for a larger cost.
	RetryAfter time.Duration
	// ResetAfter is how long until the key's usage is back to zero if no
	// more requests come.
	ResetAfter time.Duration
	// Period is the algorithm's window or refill period, which the HTTP
	// middleware announces as the policy window.
	Period time.Duration
	// Reason is the cause of a denial; ReasonNone when allowed.
	Reason Reason
	// Source is the component that made the decision.
	Source Source
	// Err is the Redis failure that the failure policy handled, when Source
	// is SourceFailOpen, SourceFailClosed or SourceLocal.
	Err error
}
