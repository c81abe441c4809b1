package ratelimit

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Every decision script takes KEYS[1] = state key and KEYS[2] = override key
// and these arguments:
//
//	ARGV[1] now in microseconds since the Unix epoch, or "" to read the Redis
//	        server's TIME (one more billed command)
//	ARGV[2] cost of the request; 0 reads the state without writing (a peek)
//	ARGV[3] default limit per period
//	ARGV[4] period in microseconds
//	ARGV[5] default burst (bucket algorithms only)
//
// and returns {allowed (0|1), remaining (whole units), retry after for the
// requested cost in µs (-1: never at this limit), retry after for cost 1 in
// µs, reset after in µs, effective limit as a string}.
//
// Billed commands: the EVALSHA, one MGET that reads state and override
// together, and one SET with PX when the request is allowed. A denial or a
// peek writes nothing, so it never extends a TTL and never stores a negative
// balance.
const scriptPrelude = `
local v = redis.call('MGET', KEYS[1], KEYS[2])
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local n = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local period = tonumber(ARGV[4])
local burst = tonumber(ARGV[5])
local MAX = 1125899906842624
local o = tonumber(v[2])
if o then
  if o ~= o or o < 0 then o = 0 elseif o > MAX then o = MAX end
  if o == 0 then burst = 0 elseif limit > 0 then burst = math.min(burst * o / limit, MAX) else burst = o end
  limit = o
end
if limit <= 0 then burst = 0 end
local s = v[1]
local function fmt(x) return string.format('%.17g', x) end
local function ms(us) return math.max(1, math.ceil(us / 1000)) end
`

// The fixed window state is "index count": the window index is
// floor(now/window). An index older than the stored one is never reopened,
// so an app server whose clock lags cannot start a fresh window that a
// faster server has already left.
const fixedWindowScript = scriptPrelude + `
local cap = math.floor(limit)
local idx = math.floor(now / period)
local count = 0
if s then
  local a, b = string.match(s, '^(%S+) (%S+)$')
  local sidx = tonumber(a)
  if sidx and sidx >= idx then idx = sidx; count = tonumber(b) or 0 end
end
local reset = (idx + 1) * period - now
if reset > period then reset = period end
local allowed = 0
if n > 0 and count + n <= cap then
  count = count + n
  allowed = 1
  redis.call('SET', KEYS[1], fmt(idx) .. ' ' .. fmt(count), 'PX', ms(reset))
end
local function retry(k)
  if k > cap then return -1 end
  if count + k <= cap then return 0 end
  return math.ceil(reset)
end
local resetAfter = 0
if count > 0 then resetAfter = math.ceil(reset) end
return {allowed, math.max(0, cap - count), retry(math.max(n, 1)), retry(1), resetAfter, fmt(limit)}
`

// The sliding window state is "index current previous": the counts of the
// current fixed window and the one before it. The estimate is
// previous*(1-f) + current, where f is the elapsed share of the current
// window. The key lives until the end of the next window, because that
// window still weighs the current count, so its TTL is at most two windows.
const slidingWindowScript = scriptPrelude + `
local idx = math.floor(now / period)
local cur, prev = 0, 0
if s then
  local a, b, c = string.match(s, '^(%S+) (%S+) (%S+)$')
  local sidx = tonumber(a)
  if sidx then
    if sidx >= idx then idx = sidx; cur = tonumber(b) or 0; prev = tonumber(c) or 0
    elseif sidx == idx - 1 then prev = tonumber(b) or 0 end
  end
end
local start = idx * period
local f = (now - start) / period
if f < 0 then f = 0 elseif f > 1 then f = 1 end
local used = prev * (1 - f) + cur
local allowed = 0
if n > 0 and used + n <= limit then
  cur = cur + n
  used = used + n
  allowed = 1
  local ttl = math.min(start + 2 * period - now, 2 * period)
  redis.call('SET', KEYS[1], fmt(idx) .. ' ' .. fmt(cur) .. ' ' .. fmt(prev), 'PX', ms(ttl))
end
local function retry(k)
  if k > limit then return -1 end
  if used + k <= limit then return 0 end
  if cur + k <= limit then
    return math.max(1, math.ceil(start + (1 - (limit - cur - k) / prev) * period - now) + 1)
  end
  return math.max(1, math.ceil(start + period + (1 - (limit - k) / cur) * period - now) + 1)
end
local resetAfter = 0
if cur > 0 then resetAfter = start + 2 * period - now elseif prev > 0 then resetAfter = start + period - now end
return {allowed, math.max(0, math.floor(limit - used)), retry(math.max(n, 1)), retry(1), math.max(0, math.ceil(resetAfter)), fmt(limit)}
`

// The token bucket state is "tokens time burst": the tokens left at the
// given time in a bucket of the given size. The stored time never moves
// backwards: a caller whose clock lags computes from the stored time, so it
// gains no tokens twice. When the burst changes (an override), the tokens
// already spent stay spent, so a raised limit admits the difference at
// once. The key expires when the bucket would be full again, which is at
// most the time to refill the whole burst.
const tokenBucketScript = scriptPrelude + `
local rate = limit / period
local tokens, t = burst, now
if s then
  local a, b, c = string.match(s, '^(%S+) (%S+) (%S+)$')
  local st, sts, sb = tonumber(a), tonumber(b), tonumber(c)
  if st and sts and sb then
    tokens = st; t = sts
    if sb ~= burst then tokens = math.max(0, burst - (sb - tokens)) end
  end
end
if t < now then
  if rate > 0 then tokens = tokens + (now - t) * rate end
  t = now
end
if tokens > burst then tokens = burst end
local allowed = 0
if n > 0 and n <= tokens + 1e-9 then
  tokens = math.max(0, tokens - n)
  allowed = 1
  redis.call('SET', KEYS[1], fmt(tokens) .. ' ' .. fmt(t) .. ' ' .. fmt(burst), 'PX', ms(t + (burst - tokens) / rate - now))
end
local function retry(k)
  if k > burst or rate <= 0 then return -1 end
  if k <= tokens + 1e-9 then return 0 end
  return math.max(1, math.ceil(t + (k - tokens) / rate - now) + 1)
end
local resetAfter = 0
if rate > 0 then resetAfter = math.max(0, math.ceil(t + (burst - tokens) / rate - now)) end
return {allowed, math.floor(tokens + 1e-9), retry(math.max(n, 1)), retry(1), resetAfter, fmt(limit)}
`

// The GCRA state is "TAT T": the theoretical arrival time in microseconds
// and the emission interval T = period/limit it was computed with. A
// request of cost n is admitted when TAT + n*T - now <= burst*T; the 2 µs
// of slack absorbs float64 rounding at epoch-sized magnitudes. The TAT never
// decreases while T stays, so a lagging clock only makes a decision
// stricter. When T changes (an override), the spent units (TAT-now)/T stay
// spent, so a raised limit admits the difference at once. The key expires at
// the TAT, at most burst*T after now.
const gcraScript = scriptPrelude + `
local T = 0
if limit > 0 then T = period / limit end
local tau = burst * T
local tat = now
if s then
  local a, b = string.match(s, '^(%S+) (%S+)$')
  local st, sT = tonumber(a), tonumber(b)
  if st and sT then
    tat = st
    if sT ~= T and tat > now and sT > 0 then tat = now + (tat - now) * T / sT end
  end
end
if tat < now then tat = now end
local allowed = 0
if n > 0 and n <= burst and tat + n * T - now <= tau + 2 then
  tat = tat + n * T
  allowed = 1
  redis.call('SET', KEYS[1], fmt(tat) .. ' ' .. fmt(T), 'PX', ms(tat - now))
end
local function retry(k)
  if k > burst or T <= 0 then return -1 end
  local w = tat + k * T - tau - now
  if w <= 2 then return 0 end
  return math.ceil(w)
end
local remaining = 0
if T > 0 then remaining = math.max(0, math.floor((tau - (tat - now)) / T + 1e-6)) end
return {allowed, remaining, retry(math.max(n, 1)), retry(1), math.ceil(tat - now), fmt(limit)}
`

const resetScript = `return redis.call('DEL', KEYS[1])`

// setOverrideScript stores ARGV[1] as the override limit, with a TTL of
// ARGV[2] milliseconds when it is positive.
const setOverrideScript = `
if tonumber(ARGV[2]) > 0 then
  return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return redis.call('SET', KEYS[1], ARGV[1])
`

const clearOverrideScript = `return redis.call('DEL', KEYS[1])`

// getOverrideScript returns {value or false, PTTL}.
const getOverrideScript = `
local v = redis.call('GET', KEYS[1])
if not v then return {false, -2} end
return {v, redis.call('PTTL', KEYS[1])}
`

// Scripter is the part of a go-redis client that the limiter calls. It is
// satisfied by *redis.Client, *redis.ClusterClient, *redis.Ring and
// redis.UniversalClient.
type Scripter interface {
	Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd
	EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd
}

var (
	_ Scripter = (*redis.Client)(nil)
	_ Scripter = (*redis.ClusterClient)(nil)
	_ Scripter = (*redis.Ring)(nil)
)

// script is a Lua script with its SHA1, run with EVALSHA and, when the
// server answers NOSCRIPT, once more with EVAL, which also caches it there.
type script struct {
	src string
	sha string
}

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(sum[:])}
}

func (s *script) run(ctx context.Context, c Scripter, keys []string, args ...any) (any, error) {
	v, err := c.EvalSha(ctx, s.sha, keys, args...).Result()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		v, err = c.Eval(ctx, s.src, keys, args...).Result()
	}
	return v, err
}

var (
	decisionScripts = map[kind]*script{
		kindFixedWindow:   newScript(fixedWindowScript),
		kindSlidingWindow: newScript(slidingWindowScript),
		kindTokenBucket:   newScript(tokenBucketScript),
		kindGCRA:          newScript(gcraScript),
	}
	resetLua         = newScript(resetScript)
	setOverrideLua   = newScript(setOverrideScript)
	clearOverrideLua = newScript(clearOverrideScript)
	getOverrideLua   = newScript(getOverrideScript)
)

// formatFloat prints v so that Lua's tonumber reads back the same float64.
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
