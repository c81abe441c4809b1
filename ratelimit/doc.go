// Package ratelimit is a distributed rate limiter on Redis that spends as few
// billed commands per decision as possible, with net/http middleware.
//
// Upstash bills every command, and a Lua script costs its EVALSHA plus each
// redis.call inside it. A Limiter makes each decision in one round trip, one
// script that also reads the key's override limit. The sliding window, token
// bucket and GCRA scripts read state and override with one MGET and, only
// when the request is allowed, write the new state with one SET carrying the
// TTL. The fixed window keeps its window and count in one integer that a
// single INCRBY adds the cost to. A process that has seen the window sends
// the window's cap with the request, and a second INCRBY takes back a cost
// that does not fit. Billed commands per decision:
//
//	                           fixed window   sliding window, token bucket, GCRA
//	allowed, first of a window     3                  3
//	allowed, later                 2                  3
//	denied in Redis                3 (2 if first)     2
//	denied by the deny cache       0                  0
//	peek with Remaining            2                  2
//	with WithServerTime   +1 on the first and peek   +1 on each (TIME)
//
// The fixed window's first decision of a window in a process reads state
// and override with one MGET, then begins the window with SET or, when
// another process began it, increments with INCRBY. Later decisions in that
// process go straight to INCRBY, and need no TIME even under
// WithServerTime, because the window is named in the state. After a limit
// change through this package, each process's next decision rereads the
// override: 1 more, and so does a Reset, which keeps the window with a
// count of 0. When the state vanishes under a process that saw the window,
// for example when it is deleted by other means, that decision costs 4. A
// key dropped from the process's record of windows costs 3 on its next
// decision, and a state ahead of the caller's window (a faster clock began
// it) costs one PTTL more, which checks that the state has a TTL.
//
// TestBilledCommandsPerDecision checks these numbers with INFO commandstats
// on a real redis-server.
//
// # Algorithms
//
// FixedWindow counts cost per window aligned to the Unix epoch, up to
// 2^28-1 (268 million) per window. SlidingWindow
// weighs the previous window's count by the share of it that still overlaps
// the sliding window, which smooths the burst a fixed window allows around
// its boundary. TokenBucket refills continuously up to a burst. GCRA admits
// evenly spaced requests with a burst tolerance. Each state fits in one
// string value.
//
// A request whose cost does not fit leaves the state as it was: a denial
// writes nothing (the fixed window's INCRBY is taken back in the same
// script, so no other client ever sees it), never extends a TTL and never
// stores a negative balance. A request that brings the remaining cost to
// exactly 0 is allowed.
//
// # Limits
//
// Every limit is valid and none causes an error or a panic. A limit of 0
// denies every request with ReasonCostExceedsLimit and writes nothing. A
// fractional limit admits floor(limit) per window with FixedWindow, a
// fractional weighted estimate with SlidingWindow, and a fractional rate with
// TokenBucket and GCRA (0.5 per second is one request every two seconds).
// Limits and bursts above MaxLimit (2^50), +Inf included, are lowered to
// MaxLimit; negative values and NaN count as 0. Periods are kept within
// [MinPeriod, MaxPeriod]. A request whose cost exceeds what the limit can
// admit at once (floor(limit), the limit or the burst) is denied with
// ReasonCostExceedsLimit and a RetryAfter of one period.
//
// TokenBucket and GCRA keep a key for at most MaxPeriod after its last
// spend, so a rate so slow, or a burst so far above the limit, that
// refilling takes longer than MaxPeriod refills in MaxPeriod instead.
//
// # Key layout
//
// For a limiter with prefix P (WithPrefix, "rl" by default) and key K:
//
//	{P:K}:fw, {P:K}:sw, {P:K}:tb, {P:K}:gc   state of each algorithm
//	                                         (fw an integer, the others text)
//	{P:K}:limit                              override limit, a decimal number
//
// The braces are a Redis Cluster hash tag: the tag always starts with the
// prefix, so it is never empty, and both keys of K share a slot whatever
// characters K contains. Every state key has a TTL. For FixedWindow it is
// at most two windows, so that an app server whose clock lags still finds
// the window, and for SlidingWindow too, because the next window still
// weighs this one. For TokenBucket and GCRA it is the time to refill the
// whole burst, at most MaxPeriod. The override key has the TTL given to
// SetOverride.
//
// # Overrides
//
// SetOverride replaces a key's limit per period until its TTL passes, for
// every app server on the same Redis, because the decision script reads it
// in the same round trip. For FixedWindow, SetOverride and ClearOverride
// also mark the current window, so that every process rereads the limit on
// its next decision for the key. An override that expires by its TTL
// reaches a process when its next window begins. TokenBucket and GCRA scale
// the burst by the same factor. The units a key has already spent stay
// spent across a change, so a raised limit admits the difference at once. SetOverride,
// ClearOverride and Reset clear the key from this process's deny cache.
//
// # Clocks
//
// By default the time comes from the caller (WithClock, the system clock by
// default) and the state never lets time move backwards: a window index or a
// bucket time older than the stored one is read as the stored one. An app
// server whose clock lags therefore cannot reopen a window or refill a bucket
// that a faster server has already spent. What skew can still do is move the
// shared state along the fastest clock, which admits at most one extra
// window or rate*skew worth of requests once, when the fastest server
// first arrives. The fixed window names a window by its index modulo 2^15,
// so this holds while clocks agree within 2^14 windows (16 seconds at the
// 1 ms minimum window, four and a half hours at one second). WithServerTime
// reads TIME in the script instead, for one more billed command per
// decision (for the fixed window only on a process's first decision in a
// window) and exact agreement between servers.
//
// # Deny cache
//
// Once Redis denies a key until some time and not even a cost-1 request
// fits, this process denies that key's requests until then without calling
// Redis (Source SourceDenyCache). The cache holds WithDenyCache keys (10,000
// by default) and, when full, evicts the entry whose denial ends first (an
// expired one when there is one), in O(log n). The metric ratelimit.deny_cache.saved_commands counts the billed
// commands it avoided. A limit raised on another app server reaches this
// process's cached denials only when they expire.
//
// # Failure policy
//
// Each Redis call has a timeout (WithTimeout, 50 ms by default) that the
// limiter enforces itself. Calls share one timer per millisecond, so a
// deadline falls at most 1 ms after the timeout. A Redis that accepts
// connections but never replies therefore delays a decision by the timeout,
// not by the client's read timeout.
// With a go-redis client whose ContextTimeoutEnabled is set, the call runs
// on the caller's goroutine and the client applies the deadline; otherwise
// it runs on a bounded set of worker goroutines. On
// a failure or timeout, FailLocal (the default) decides with an in-process
// golang.org/x/time/rate limiter per key sized to the default limit,
// FailOpen admits and FailClosed denies; Result.Source and Result.Err say
// which happened, and AllowN returns no error. At most WithMaxInFlight Redis
// calls (1024 by default) are outstanding; past that, decisions go to the
// policy at once. Close stops the worker goroutines; afterwards every Redis
// call fails with ErrClosed and the failure policy decides.
//
// # Memory
//
// A Limiter's memory is bounded by the deny cache, the FailLocal limiters
// (WithLocalFallbackKeys, 10,000 keys by default, an arbitrary key dropped
// when full), the fixed window's record of windows (10,000 keys, about 200
// bytes each, an arbitrary key dropped when full) and the in-flight bound.
//
// # Middleware
//
// Middleware keys requests by client IP (forwarding headers only from
// WithTrustedProxies, walked from the right; an IPv6 client by its /64,
// see WithIPv6PrefixLength), by an API key header or a
// bearer token (hashed with SHA-256 before they become keys), or by a
// KeyFunc, and sets the RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers-11 on every response, with
// Retry-After on denials.
//
// # Limitations
//
//   - FailLocal limits per process: N app servers admit up to N times the
//     limit while Redis is down, and the local limiters do not know
//     overrides.
//   - A fixed window's cap is the limit a process read when it first saw
//     the window, or after the last limit change through this package. A
//     process whose first decision in a window comes after an override on
//     it expired by its TTL uses the default limit, while the others keep
//     the override until the window ends.
//   - Under WithServerTime, a process puts a fixed window's end at its
//     own time of the decision plus the time left that the script read on
//     the Redis clock. RetryAfter and ResetAfter can therefore come short
//     by the network delay to Redis.
//   - A deny-cache denial reports the wait for cost 1, a lower bound for a
//     larger cost.
//   - A TTL is computed from the clock of the app server that wrote the
//     state, so with skewed clocks a TokenBucket or GCRA key can expire up
//     to the skew early and start fresh; this is within the rate*skew bound
//     described under Clocks, but it can recur after each idle period.
package ratelimit
