package ratelimit

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// The sliding window, token bucket and GCRA scripts take KEYS[1] = state
// key and KEYS[2] = override key and these arguments:
//
//	ARGV[1] now in microseconds since the Unix epoch, or "" to read the Redis
//	        server's TIME (one more billed command)
//	ARGV[2] default limit per period
//	ARGV[3] period in microseconds
//	ARGV[4] default burst (bucket algorithms only)
//	ARGV[5] cost of the request, 1 when absent; 0 reads the state without
//	        writing (a peek)
//
// and return {allowed (0|1), remaining (whole units), retry after for cost
// 1 in µs (-1: never at this limit), reset after in µs}, followed, when the
// cost is above 1 or an override applies, by {retry after for the requested
// cost in µs, effective limit (an integer when it is whole, else a
// string)}. The short form leaves out the values that the caller already
// has.
//
// scriptPrelude starts the sliding window, token bucket and GCRA scripts. It
// defines MAXP, MaxPeriod in microseconds. The bucket scripts cap every TTL,
// retry and reset time at it, because a tiny rate or a burst far above the
// limit would otherwise need a TTL of centuries, which neither PX nor a
// time.Duration can hold. A key with no spend for MaxPeriod therefore
// starts again with a full bucket.
//
// Their billed commands are the EVALSHA, one MGET that reads state and
// override together, and one SET with PX when the request is allowed. A
// denial or a peek writes nothing, so it never extends a TTL and never
// stores a negative balance.
const scriptPrelude = `
local v = redis.call('MGET', KEYS[1], KEYS[2])
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local limit = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local n = tonumber(ARGV[5]) or 1
local o = v[2] and tonumber(v[2])
if o then
  if o ~= o or o < 0 then o = 0 elseif o > 1125899906842624 then o = 1125899906842624 end
  if o == 0 then burst = 0 elseif limit > 0 then burst = math.min(burst * o / limit, 1125899906842624) else burst = o end
  limit = o
end
if limit <= 0 then burst = 0 end
local s = v[1]
local MAXP = 315360000000000
`

// replyLua ends the sliding window, token bucket and GCRA scripts. It
// returns the short reply when the cost is at most 1 and no override
// applies, else the long one with retryN, the retry after for the requested
// cost, which the script computes only then.
const replyLua = `
if n <= 1 and not o then return {allowed, remaining, retry1, reset} end
local limitReply = limit
if limit ~= math.floor(limit) then limitReply = string.format('%.17g', limit) end
return {allowed, remaining, retry1, reset, retryN(math.max(n, 1)), limitReply}
`

// fixedWindowMax is the most whole units a fixed window admits, 2^28-1; a
// larger limit acts as that (268 million per window).
const fixedWindowMax = 1<<28 - 1

// fixedWindowUnit is 2^29: the fixed window state is header*fixedWindowUnit
// + used.
const fixedWindowUnit = 1 << 29

// The fixed window state is one integer, header*2^29 + used, that INCRBY
// adds a request's cost to. The header is 1 + 256*(window index mod 2^15) +
// version. It names the window, and SetOverride, ClearOverride and Reset
// bump its 8-bit version so that every process rereads the limit. A new
// window's version starts at its cap mod 256. The state stays below 2^53, so
// the script's float64 arithmetic on it is exact. The script formats it with
// %.0f, because Lua's tostring keeps 14 digits. The key lives until the end
// of the next window.
//
// The script takes KEYS[1] = state key, KEYS[2] = override key and
//
//	ARGV[1] header*2^28 + cap of the window this process saw last (see
//	        windowMemory), where cap is the whole units it admits; 0 when
//	        the script must read before it writes: a peek, or a window this
//	        process has not seen
//	ARGV[2] "now period limit": the caller's time in microseconds since the
//	        Unix epoch (empty to read the Redis server's TIME, one more
//	        billed command), the window length in microseconds and the
//	        default limit. A process sends the time at which it first saw
//	        the window for every decision in it: the script needs the time
//	        only to name the window and to set the TTL of a new one, which
//	        then lasts at most two windows.
//	ARGV[3] cost of the request, 1 when absent; 0 reads the state without
//	        writing (a peek)
//
// When the state carries the expected header, the script returns the state
// after one INCRBY, and takes the cost back with a second INCRBY when it
// does not fit the cap: 2 billed commands per allowed decision, 3 per
// denied one. The caller derives the decision from the returned integer.
// Otherwise the script returns {state as if the request were counted, cap,
// microseconds from the script's time to the end of the window}, after
// one of:
//
//   - ARGV[1] 0: MGET of state and override, then INCRBY when the
//     request fits a current window, or SET ... PX when it begins a new one:
//     3 billed commands (2 for a denial or a peek);
//   - the INCRBY found another version or a newer window (a faster clock
//     began it): MGET of the override and, for a denial, the INCRBY that
//     takes the cost back: 3 or 4;
//   - the INCRBY found no current window: MGET of the override, then SET
//     ... PX, or, when even this request is denied, DEL of the key that
//     the INCRBY created or an INCRBY that takes the cost back from an
//     older window: 4. This happens when the state vanished under a
//     process that saw the window, for example when it was deleted by
//     other means than Reset.
//
// A state whose count exceeds 2^28-1, or that is ahead of the caller's
// window but has no TTL, is not one this script wrote, so it is read as no
// current window. Checking the TTL bills one PTTL, only for a state ahead
// of the caller's window.
//
// A stored window up to 2^14 windows newer than the caller's is used as the
// current one, so an app server whose clock lags cannot reopen a window that
// a faster server has left. Clocks that disagree by more than 2^14 windows
// (16 s at the 1 ms minimum window, 4.5 hours at one second) can. The cap
// of a window is the limit that a process read when it first saw the
// window. A limit change through SetOverride or ClearOverride therefore
// reaches every process on its next decision, through the version, and an
// override that expires by its TTL reaches a process at its next window. A process
// that made no decision for a key during 256 limit changes in one window
// can see the same version again and keep its old cap for that window.
const fixedWindowScript = `
local UNIT = 536870912
local hk = tonumber(ARGV[1])
local n = tonumber(ARGV[3]) or 1
local v
if hk > 0 then
  v = redis.call('INCRBY', KEYS[1], n)
  local h = math.floor(v / UNIT)
  if h == math.floor(hk / 268435456) then
    if v - h * UNIT > hk % 268435456 then redis.call('INCRBY', KEYS[1], -n) end
    return v
  end
end
local a, b, c = string.match(ARGV[2], '^(%S*) (%S+) (%S+)$')
local now, period, limit = tonumber(a), tonumber(b), tonumber(c)
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local idx = math.floor(now / period)
local tag = idx % 32768
local header = 1 + 256 * tag
-- window returns the header of state x and how many windows it is ahead
-- of the caller's (0: the same one), or nil when x is older, is not a
-- state this script writes (a count above any cap would carry into the
-- header), or is ahead without a TTL, which no state this script writes
-- is either.
local function window(x)
  if not x or x < UNIT or x ~= math.floor(x) then return nil end
  local h = math.floor(x / UNIT)
  if h > 8388608 or x - h * UNIT > 268435455 then return nil end
  local d = (math.floor((h - 1) / 256) - tag) % 32768
  if d >= 16384 then return nil end
  if d > 0 and redis.call('PTTL', KEYS[1]) < 0 then return nil end
  return h, d
end
local function capOf(ov)
  local lim = limit
  local o = tonumber(ov)
  if o then
    if o ~= o or o < 0 then o = 0 end
    lim = o
  end
  if lim <= 0 then return 0 end
  return math.min(math.floor(lim), 268435455)
end
local function reply(x, cap, d)
  return {x, cap, (idx + d + 1) * period - now}
end
-- begin writes a new window with this request's cost used. Its TTL runs to
-- the end of the next window, so that an app server whose clock lags finds
-- the state instead of beginning the window again. Its version starts at
-- cap mod 256, so that a window begun again with another cap after its
-- state vanished does not match what a process remembers of the old one,
-- unless the two caps are equal mod 256.
local function begin(cap)
  local x = (header + cap % 256) * UNIT + n
  local ttl = math.min((idx + 2) * period - now, 2 * period)
  redis.call('SET', KEYS[1], string.format('%.0f', x), 'PX', math.max(1, math.ceil(ttl / 1000)))
  return reply(x, cap, 0)
end
if v then
  local h, d = window(v - n)
  local cap = capOf(redis.call('MGET', KEYS[2])[1])
  if d then
    if v - h * UNIT > cap then redis.call('INCRBY', KEYS[1], -n) end
    return reply(v, cap, d)
  end
  if n <= cap then return begin(cap) end
  if v == n then
    redis.call('DEL', KEYS[1])
  else
    redis.call('INCRBY', KEYS[1], -n)
  end
  return reply(header * UNIT + n, cap, 0)
end
local s = redis.call('MGET', KEYS[1], KEYS[2])
local cap = capOf(s[2])
local x = tonumber(s[1])
local h, d = window(x)
if d then
  if n > 0 and x - h * UNIT + n <= cap then
    x = redis.call('INCRBY', KEYS[1], n)
  else
    x = x + n
  end
  return reply(x, cap, d)
end
if n > 0 and n <= cap then return begin(cap) end
return reply(header * UNIT + n, cap, 0)
`

// The sliding window state is "index current previous": the counts of the
// current fixed window and the one before it, all whole numbers. The estimate is
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
  redis.call('SET', KEYS[1], string.format('%d %d %d', idx, cur, prev), 'PX', math.max(1, math.ceil(ttl / 1000)))
end
local function retryN(k)
  if k > limit then return -1 end
  if used + k <= limit + 1e-9 then return 0 end
  if cur + k <= limit then
    return math.max(1, math.ceil(start + (1 - (limit - cur - k) / prev) * period - now))
  end
  return math.max(1, math.ceil(start + period + (1 - (limit - k) / cur) * period - now))
end
local reset = 0
if cur > 0 then reset = start + 2 * period - now elseif prev > 0 then reset = start + period - now end
reset = math.max(0, math.ceil(reset))
local remaining = math.max(0, math.floor(limit - used + 1e-9))
local retry1 = retryN(1)
` + replyLua

// The token bucket state is "spent time": the tokens missing from a full
// bucket at the given time, in microseconds. Both are written without
// %.17g where they can be (the time is a whole number), because formatting
// a float exactly is the costliest step of these scripts. The stored time
// never moves backwards: a caller whose clock lags computes from the stored
// time, so it gains no tokens twice. When the burst changes (an override),
// the tokens already spent stay spent, so a raised limit admits the
// difference at once. The key expires when the bucket would be full again counted from
// the caller's now, which is at most the time to refill the whole burst
// even when the stored time is ahead of the caller's clock.
const tokenBucketScript = scriptPrelude + `
local rate = limit / period
local tokens, t = burst, now
if s then
  local a, b = string.match(s, '^(%S+) (%S+)$')
  local spent, st = tonumber(a), tonumber(b)
  if spent and st then
    tokens = math.max(0, burst - spent)
    t = st
  end
end
if t < now then
  if rate > 0 then tokens = tokens + (now - t) * rate end
  t = now
end
if tokens > burst then tokens = burst end
-- full is the time until the bucket is full again, at most MAXP.
local full = MAXP
if rate > 0 then full = math.min((burst - tokens) / rate, MAXP) end
local allowed = 0
if n > 0 and n <= tokens + 1e-9 then
  tokens = math.max(0, tokens - n)
  allowed = 1
  if rate > 0 then full = math.min((burst - tokens) / rate, MAXP) end
  redis.call('SET', KEYS[1], string.format('%.17g %d', burst - tokens, t), 'PX', math.max(1, math.ceil(full / 1000)))
end
local function retryN(k)
  if k > burst or rate <= 0 then return -1 end
  if k <= tokens + 1e-9 then return 0 end
  return math.max(1, math.ceil(math.min(math.max(0, t + (k - tokens) / rate - now), MAXP)))
end
local reset = 0
if rate > 0 then reset = math.ceil(math.min(math.max(0, t - now + full), MAXP)) end
local remaining = math.floor(tokens + 1e-9)
local retry1 = retryN(1)
` + replyLua

// The GCRA state is "units time": the cost still outstanding at the given
// time, in microseconds, which drains at one unit per emission interval
// T = period/limit. That is the theoretical arrival time TAT = time +
// units*T, kept relative to the time of the write, because an absolute TAT
// near 2^50 µs cannot hold a step of T below a microsecond. A request of
// cost n is admitted when units + n <= burst at now. The TAT never moves
// backwards: a caller whose clock lags reads the units plus its lag, so its
// decisions are only stricter. When T changes (an override), the spent
// units stay spent and drain at the new T from the last decision on. A
// raised limit therefore admits the difference at once, and after a lowered
// limit at most the new burst stays outstanding. The key expires when the
// units have drained, at most burst*T after now.
const gcraScript = scriptPrelude + `
local T = 0
if limit > 0 then T = period / limit end
local units = 0
if s then
  local a, b = string.match(s, '^(%S+) (%S+)$')
  local su, st = tonumber(a), tonumber(b)
  if su and st then
    units = su
    if T > 0 then units = su - (now - st) / T end
  end
end
if units < 0 then units = 0 end
-- After a lowered limit the units outstanding can exceed the new burst;
-- they count as a spent bucket, so the key waits one refill, not the time
-- that the old units would take at the new rate.
if units > burst then units = burst end
local allowed = 0
if n > 0 and n <= burst and units + n <= burst + 1e-9 then
  units = units + n
  allowed = 1
  redis.call('SET', KEYS[1], string.format('%.17g %d', units, now), 'PX', math.max(1, math.ceil(math.min(units * T, MAXP) / 1000)))
end
local function retryN(k)
  if k > burst or T <= 0 then return -1 end
  if units + k <= burst + 1e-9 then return 0 end
  return math.max(1, math.ceil(math.min((units + k - burst) * T, MAXP)))
end
local remaining = 0
if T > 0 then remaining = math.max(0, math.floor(burst - units + 1e-9)) end
local reset = math.ceil(math.min(units * T, MAXP))
local retry1 = retryN(1)
` + replyLua

const resetScript = `return redis.call('DEL', KEYS[1])`

// limitChangeScript sets (ARGV[1] = "set") or deletes (ARGV[1] = "clear")
// the override KEYS[1] and bumps the version in the header of the fixed
// window state KEYS[2], keeping its count and TTL, so that every process
// rereads the limit on its next decision (see fixedWindowScript). ARGV[2]
// is the override value and ARGV[3] its TTL in milliseconds (0: none). The
// other algorithms read the override on every decision and need no bump.
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
` + bumpVersionLua + `
return bump(KEYS[2], false)
`

// fixedWindowResetScript zeroes the count of the fixed window state
// KEYS[1] and bumps its version, keeping its TTL, so that a process that
// remembers the window rereads the limit and finds the full window. It
// deletes a state that is not a fixed window's.
const fixedWindowResetScript = bumpVersionLua + `
if bump(KEYS[1], true) == 0 then redis.call('DEL', KEYS[1]) end
return 1
`

// bumpVersionLua defines bump(key, zero), which adds 1 (mod 256) to the
// version in the header of the fixed window state at key, and sets its
// count to 0 when zero is true, keeping the TTL. It returns 0 when key
// holds no fixed window state. MGET, unlike GET, reads a value of another
// type as nil instead of failing.
const bumpVersionLua = `
local function bump(key, zero)
  local UNIT = 536870912
  local x = tonumber(redis.call('MGET', key)[1])
  if not x or x < UNIT or x ~= math.floor(x) then return 0 end
  local h = math.floor(x / UNIT)
  if h > 8388608 then return 0 end
  local used = x - h * UNIT
  if zero then used = 0 end
  local version = (h - 1) % 256
  h = h - version + (version + 1) % 256
  redis.call('SET', key, string.format('%.0f', h * UNIT + used), 'KEEPTTL')
  return 1
end
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
	// The same, converted to interface values once, so that building a
	// command allocates nothing for them.
	srcArg, shaArg any
}

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src))
	sha := hex.EncodeToString(sum[:])
	return &script{src: src, sha: sha, srcArg: src, shaArg: sha}
}

// doer is the Do method of the go-redis clients, which sends a command
// built by the caller without copying its arguments.
type doer interface {
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// commandArgs returns the arguments of an EVALSHA of keys and args, with
// the first two left for run to fill in: [command, script, number of keys,
// keys..., args...].
func commandArgs(keys []string, args ...any) []any {
	argv := make([]any, 3, 3+len(keys)+len(args))
	argv[2] = len(keys)
	for _, k := range keys {
		argv = append(argv, k)
	}
	return append(argv, args...)
}

// run runs s with argv built by commandArgs (or laid out the same way).
func (s *script) run(ctx context.Context, c Scripter, argv []any) (any, error) {
	if d, ok := c.(doer); ok {
		argv[0], argv[1] = "evalsha", s.shaArg
		v, err := d.Do(ctx, argv...).Result()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			argv[0], argv[1] = "eval", s.srcArg
			v, err = d.Do(ctx, argv...).Result()
		}
		return v, err
	}
	n := argv[2].(int)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = argv[3+i].(string)
	}
	args := argv[3+n:]
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
	fixedResetLua  = newScript(fixedWindowResetScript)
	limitChangeLua = newScript(limitChangeScript)
	getOverrideLua = newScript(getOverrideScript)
)

// formatFloat prints v so that Lua's tonumber reads back the same float64.
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
