package ratelimit

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"
)

// SetOverride replaces key's limit per period with limit, across every app
// server that shares the Redis, until ttl passes. A ttl of zero or less
// keeps the override until ClearOverride. For TokenBucket and GCRA the burst
// scales by the same factor as the limit. The limit is clamped to
// [0, MaxLimit] like the default limit; NaN counts as 0.
//
// The next decision for key reads the override in the same script round
// trip, and SetOverride clears key's entry in this process's deny cache, so
// a raised limit takes effect at once here. Other processes keep a cached
// denial until it expires, at most one RetryAfter. A FixedWindow limiter on
// another process rereads the limit on its next decision for key, at the
// cost of one more billed command.
func (l *Limiter) SetOverride(ctx context.Context, key string, limit float64, ttl time.Duration) error {
	limit = clampLimit(limit)
	ttlMillis := int64(0)
	if ttl > 0 {
		ttlMillis = max(ttl.Milliseconds(), 1)
	}
	_, err := l.call(ctx, limitChangeLua, []string{l.OverrideKey(key), l.fixedWindowKey(key)},
		"set", formatFloat(limit), ttlMillis)
	l.forgetLocal(key)
	if err != nil {
		return fmt.Errorf("ratelimit: set override %g for key %q: %w", limit, key, err)
	}
	return nil
}

// ClearOverride removes key's override, so that the default limit applies
// again, and clears key's entry in this process's deny cache.
func (l *Limiter) ClearOverride(ctx context.Context, key string) error {
	_, err := l.call(ctx, limitChangeLua, []string{l.OverrideKey(key), l.fixedWindowKey(key)},
		"clear", "", 0)
	l.forgetLocal(key)
	if err != nil {
		return fmt.Errorf("ratelimit: clear override for key %q: %w", key, err)
	}
	return nil
}

// Override returns key's override limit and its remaining TTL (0 when it
// never expires); ok is false when key has no override.
func (l *Limiter) Override(ctx context.Context, key string) (limit float64, ttl time.Duration, ok bool, err error) {
	v, err := l.call(ctx, getOverrideLua, []string{l.OverrideKey(key)})
	if err != nil {
		return 0, 0, false, fmt.Errorf("ratelimit: read override for key %q: %w", key, err)
	}
	arr, _ := v.([]any)
	if len(arr) != 2 || arr[0] == nil {
		return 0, 0, false, nil
	}
	text, _ := arr[0].(string)
	limit, perr := strconv.ParseFloat(text, 64)
	if perr != nil || math.IsNaN(limit) {
		// The script reads an unparsable override as absent too.
		return 0, 0, false, nil
	}
	if pttl, _ := arr[1].(int64); pttl > 0 {
		ttl = time.Duration(pttl) * time.Millisecond
	}
	return clampLimit(limit), ttl, true, nil
}

// EffectiveLimit returns the limit per period that decisions for key use
// now: the override when one is set, else the algorithm's default.
func (l *Limiter) EffectiveLimit(ctx context.Context, key string) (float64, error) {
	limit, _, ok, err := l.Override(ctx, key)
	if err != nil {
		return 0, err
	}
	if !ok {
		return l.alg.limit, nil
	}
	return limit, nil
}

// fixedWindowKey is the state key of a fixed window limiter with this
// limiter's prefix, which a limit change rewrites whatever this limiter's
// own algorithm is.
func (l *Limiter) fixedWindowKey(key string) string {
	return "{" + l.cfg.prefix + ":" + key + "}:fw"
}
