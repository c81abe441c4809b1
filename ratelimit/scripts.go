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
//	ARGV[6] "start" when the fixed window is expected to begin (see
//	        fixedWindowScript); other scripts ignore it
//
// and returns {allowed (0|1), remaining (whole units), retry after for the
// requested cost in µs (-1: never at this limit), retry after for cost 1 in
// µs, reset after in µs, effective limit (an integer when it is whole,
// else a string)}.
//
// scriptPrelude starts the sliding window, token bucket and GCRA scripts.
// Their billed commands are the EVALSHA, one MGET that reads state and
// override together, and one SET with PX when the request is allowed. A
// denial or a peek writes nothing, so it never extends a TTL and never
// stores a negative balance.
const scriptPrelude = `
local v = redis.call('MGET', KEYS[1], KEYS[2])
` + timeArgsLua + `
local limit = tonumber(ARGV[3])
local burst = tonumber(ARGV[5])
local o = v[2] and tonumber(v[2])
if o then
  if o ~= o or o < 0 then o = 0 elseif o > 1125899906842624 then o = 1125899906842624 end
  if o == 0 then burst = 0 elseif limit > 0 then burst = math.min(burst * o / limit, 1125899906842624) else burst = o end
  limit = o
end
if limit <= 0 then burst = 0 end
local limitReply = limit
if limit ~= math.floor(limit) then limitReply = string.format('%.17g', limit) end
local s = v[1]
`

// timeArgsLua reads the time, the cost and the period.
const timeArgsLua = `
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local n = tonumber(ARGV[2])
local period = tonumber(ARGV[4])
`

// limitArgsLua reads the limit and burst and defines the helpers of the
// fixed window's slow path, applyOverride among them.
const limitArgsLua = `
local limit = tonumber(ARGV[3])
local burst = tonumber(ARGV[5])
local MAX = 1125899906842624
local function fmt(x) return string.format('%.17g', x) end
local function ms(us) return math.max(1, math.ceil(us / 1000)) end
local function applyOverride(ov)
  local o = tonumber(ov)
  if o then
    if o ~= o or o < 0 then o = 0 elseif o > MAX then o = MAX end
    if o == 0 then burst = 0 elseif limit > 0 then burst = math.min(burst * o / limit, MAX) else burst = o end
    limit = o
  end
  if limit <= 0 then burst = 0 end
end
`

// uint48Lua encodes (be48) and decodes (u48) the unsigned 48-bit
// big-endian fields of the fixed window state; MAXC is 2^48-1.
const uint48Lua = `
local MAXC = 281474976710655
local function be48(x)
  local b = {}
  for i = 6, 1, -1 do
    local r = x % 256
    b[i] = r
    x = (x - r) / 256
  end
  return string.char(b[1], b[2], b[3], b[4], b[5], b[6])
end
local function u48(str, i)
  local a, b, c, d, e, f = string.byte(str, i, i + 5)
  return ((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f
end
`

// fixedWindowMax is the largest value of a fixed window counter field,
// 2^48-1. A fixed window admits at most fixedWindowMax-1 per window, so a
// larger limit acts as that (2.8e14, unlimited in practice).
const fixedWindowMax = 1<<48 - 1

// The fixed window state is a binary string of three unsigned 48-bit
// big-endian fields that BITFIELD reads and increments in place:
//
//	bits 0-47   window index + 1 (0: no state)
//	bits 48-95  counter = used + (2^48-1 - cap)
//	bits 96-143 cap, the whole units the window admits
//
// The counter starts cap units below the field's maximum, so one BITFIELD
// with OVERFLOW FAIL admits a request exactly when used + n <= cap and
// leaves the field unchanged otherwise. A decision in the current window is
// therefore the EVALSHA plus one BITFIELD, allowed or denied, and the TTL
// set when the window began stays. When the caller expects a new window
// (ARGV[6] = "start", because this process has not seen the window begun),
// the script reads state and override with one MGET and then either
// decides with BITFIELD, when another process began the window, or writes
// the new window with SET ... PX: 3 billed commands either way. When a
// decision without "start" finds no current window, it reads the override
// and writes the window, or deletes the key that BITFIELD created when
// even that request is denied. That costs 4 billed commands and happens
// when the state vanished under a process that saw the window begun, as
// after a Reset on another process. A stored window newer than the
// caller's is used as the current one, so an app server whose clock lags
// cannot reopen a window that a faster server has left. A limit change through SetOverride or
// ClearOverride rewrites the cap of the current window at once. An
// override that expires by its TTL takes effect at the next window.
const fixedWindowScript = timeArgsLua + `
local MAXC0 = 281474976710655
local idx = math.floor(now / period)
local start = ARGV[6] == 'start'
local function bitfield()
  return redis.call('BITFIELD', KEYS[1], 'GET', 'u48', 0, 'GET', 'u48', 96, 'GET', 'u48', 48,
    'OVERFLOW', 'FAIL', 'INCRBY', 'u48', 48, n)
end
-- current returns the decision that BITFIELD reply r made in the current
-- window (or a newer one that a faster clock began).
local function current(r)
  local cap = r[2]
  local reset = math.min(r[1] * period - now, period)
  local used, allowed = r[3] - (MAXC0 - cap), 0
  if r[4] then
    allowed = 1
    used = r[4] - (MAXC0 - cap)
  end
  local retryN, retry1, resetAfter = 0, 0, 0
  if n > cap then retryN = -1 elseif used + n > cap then retryN = math.ceil(reset) end
  if cap < 1 then retry1 = -1 elseif used + 1 > cap then retry1 = math.ceil(reset) end
  if used > 0 then resetAfter = math.ceil(reset) end
  return {allowed, math.max(0, cap - used), retryN, retry1, resetAfter, cap}
end
if n > 0 and not start then
  local r = bitfield()
  if r[1] - 1 >= idx then return current(r) end
end
` + limitArgsLua + uint48Lua + `
local function capOf()
  return math.min(math.floor(limit), MAXC - 1)
end
local cap, used, allowed = 0, 0, 0
if n == 0 or start then
  -- A peek, or a decision that the caller expects to begin a window: read
  -- state and override together.
  local v = redis.call('MGET', KEYS[1], KEYS[2])
  local sidx = -1
  if v[1] and string.len(v[1]) >= 18 then
    sidx = u48(v[1], 1) - 1
    if sidx >= idx then
      if n > 0 then return current(bitfield()) end
      idx = sidx
      cap = u48(v[1], 13)
      used = u48(v[1], 7) - (MAXC - cap)
    end
  end
  if sidx < idx then
    applyOverride(v[2])
    cap = capOf()
    if n > 0 and n <= cap then
      allowed = 1
      used = n
      local reset = math.min((idx + 1) * period - now, period)
      redis.call('SET', KEYS[1], be48(idx + 1) .. be48(MAXC - cap + n) .. be48(cap), 'PX', ms(reset))
    end
  end
else
  -- BITFIELD found no current window, and may have created the key: start
  -- a window, or delete the key when even this request is denied. MGET,
  -- unlike GET, reads a value of the wrong type as nil instead of failing
  -- the script and leaving the created key without a TTL.
  applyOverride(redis.call('MGET', KEYS[2])[1])
  cap = capOf()
  if n <= cap then
    allowed = 1
    used = n
    local reset = math.min((idx + 1) * period - now, period)
    redis.call('SET', KEYS[1], be48(idx + 1) .. be48(MAXC - cap + n) .. be48(cap), 'PX', ms(reset))
  else
    redis.call('DEL', KEYS[1])
  end
end
local reset = math.min((idx + 1) * period - now, period)
local function retry(k)
  if k > cap then return -1 end
  if used + k <= cap then return 0 end
  return math.ceil(reset)
end
local resetAfter = 0
if used > 0 then resetAfter = math.ceil(reset) end
return {allowed, math.max(0, cap - used), retry(math.max(n, 1)), retry(1), resetAfter, cap}
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
if n > 0 and used + n <= limit + 1e-9 then
  cur = cur + n
  used = used + n
  allowed = 1
  local ttl = math.min(start + 2 * period - now, 2 * period)
  redis.call('SET', KEYS[1], string.format('%.17g %.17g %.17g', idx, cur, prev), 'PX', math.max(1, math.ceil(ttl / 1000)))
end
local function retry(k)
  if k > limit then return -1 end
  if used + k <= limit + 1e-9 then return 0 end
  if cur + k <= limit then
    return math.max(1, math.ceil(start + (1 - (limit - cur - k) / prev) * period - now))
  end
  return math.max(1, math.ceil(start + period + (1 - (limit - k) / cur) * period - now))
end
local resetAfter = 0
if cur > 0 then resetAfter = start + 2 * period - now elseif prev > 0 then resetAfter = start + period - now end
return {allowed, math.max(0, math.floor(limit - used + 1e-9)), retry(math.max(n, 1)), retry(1), math.max(0, math.ceil(resetAfter)), limitReply}
`

// maxTTLLua is MaxPeriod in microseconds. The bucket scripts cap every TTL,
// retry and reset time at it, because a tiny rate or a burst far above the
// limit would otherwise need a TTL of centuries, beyond what PX accepts and
// what a time.Duration holds. A key with no spend for MaxPeriod
// therefore starts again with a full bucket.
const maxTTLLua = `
local MAXP = 315360000000000
local function capped(us) return math.min(math.max(0, us), MAXP) end
local function px(us) return math.max(1, math.ceil(capped(us) / 1000)) end
`

// The token bucket state is "tokens time burst": the tokens left at the
// given time in a bucket of the given size. The stored time never moves
// backwards: a caller whose clock lags computes from the stored time, so it
// gains no tokens twice. When the burst changes (an override), the tokens
// already spent stay spent, so a raised limit admits the difference at
// once. The key expires when the bucket would be full again counted from
// the caller's now, which is at most the time to refill the whole burst
// even when the stored time is ahead of the caller's clock.
const tokenBucketScript = scriptPrelude + maxTTLLua + `
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
local function untilFull()
  if rate <= 0 then return MAXP end
  return capped((burst - tokens) / rate)
end
local allowed = 0
if n > 0 and n <= tokens + 1e-9 then
  tokens = math.max(0, tokens - n)
  allowed = 1
  redis.call('SET', KEYS[1], string.format('%.17g %.17g %.17g', tokens, t, burst), 'PX', px(untilFull()))
end
local function retry(k)
  if k > burst or rate <= 0 then return -1 end
  if k <= tokens + 1e-9 then return 0 end
  return math.max(1, math.ceil(capped(t + (k - tokens) / rate - now)))
end
local resetAfter = 0
if rate > 0 then resetAfter = math.ceil(capped(t - now + untilFull())) end
return {allowed, math.floor(tokens + 1e-9), retry(math.max(n, 1)), retry(1), resetAfter, limitReply}
`

// The GCRA state is "units time T": the cost still outstanding at the given
// time, and the emission interval T = period/limit in microseconds that it
// drains at. That is the theoretical arrival time TAT = time + units*T,
// kept relative to the time of the write, because an absolute TAT near
// 2^50 µs cannot hold a step of T below a microsecond. A request of cost n
// is admitted when units + n <= burst at now. The TAT never moves
// backwards: a caller whose clock lags reads the units plus its lag, so its
// decisions are only stricter. When T changes (an override), the spent units
// stay spent, so a raised limit admits the difference at once. The key
// expires when the units have drained, at most burst*T after now, and a
// state "TAT T" of an earlier version is read as that TAT.
const gcraScript = scriptPrelude + maxTTLLua + `
local T = 0
if limit > 0 then T = period / limit end
local units = 0
if s then
  local a, b, c = string.match(s, '^(%S+) (%S+) (%S+)$')
  local su, st, sT = tonumber(a), tonumber(b), tonumber(c)
  if su and st and sT and sT > 0 then
    units = su - (now - st) / sT
  else
    a, b = string.match(s, '^(%S+) (%S+)$')
    local tat, oldT = tonumber(a), tonumber(b)
    if tat and oldT and oldT > 0 then units = (tat - now) / oldT end
  end
end
if units < 0 then units = 0 end
local allowed = 0
if n > 0 and n <= burst and units + n <= burst + 1e-9 then
  units = units + n
  allowed = 1
  redis.call('SET', KEYS[1], string.format('%.17g %.17g %.17g', units, now, T), 'PX', px(units * T))
end
local function retry(k)
  if k > burst or T <= 0 then return -1 end
  if units + k <= burst + 1e-9 then return 0 end
  return math.max(1, math.ceil(capped((units + k - burst) * T)))
end
local remaining = 0
if T > 0 then remaining = math.max(0, math.floor(burst - units + 1e-9)) end
return {allowed, remaining, retry(math.max(n, 1)), retry(1), math.ceil(capped(units * T)), limitReply}
`

const resetScript = `return redis.call('DEL', KEYS[1])`

// limitChangeScript sets (ARGV[1] = "set") or deletes (ARGV[1] = "clear")
// the override KEYS[1] and rewrites the cap of the fixed window state
// KEYS[2] to ARGV[4], keeping the units it has used, so that the change
// takes effect in the current window. ARGV[2] is the override value and
// ARGV[3] its TTL in milliseconds (0: none). The other algorithms read the
// override on every decision and need no rewrite.
const limitChangeScript = `
if ARGV[1] == 'set' then
  if tonumber(ARGV[3]) > 0 then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  else
    redis.call('SET', KEYS[1], ARGV[2])
  end
else
  redis.call('DEL', KEYS[1])
end
local st = redis.call('GET', KEYS[2])
if not st or string.len(st) < 18 then return 0 end
` + uint48Lua + `
local cap = u48(st, 13)
local used = u48(st, 7) - (MAXC - cap)
local newCap = tonumber(ARGV[4])
local counter = math.min(MAXC, MAXC - newCap + used)
redis.call('SET', KEYS[2], string.sub(st, 1, 6) .. be48(counter) .. be48(newCap), 'KEEPTTL')
return 1
`

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
// server replies NOSCRIPT, once more with EVAL, which also caches it there.
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
	resetLua       = newScript(resetScript)
	limitChangeLua = newScript(limitChangeScript)
	getOverrideLua = newScript(getOverrideScript)
)

// formatFloat prints v so that Lua's tonumber reads back the same float64.
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
