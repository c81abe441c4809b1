package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/redistest"
)

// These tests probe the fixed window's INCRBY design: the state
// header*2^29 + used, the window each process remembers, and the version
// that limit changes bump.

// newFixedWindowLimiter returns a fixed window limiter on the shared
// redis-server with the given clock and no deny cache, so that every
// decision reaches Redis.
func newFixedWindowLimiter(t *testing.T, limit float64, period time.Duration, c clock.Clock, opts ...Option) *Limiter {
	t.Helper()
	l, err := New(server.Client(t), FixedWindow(limit, period),
		append([]Option{WithClock(c), WithoutDenyCache(), WithTimeout(time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// fixedWindowHeader returns the header of the window that contains now,
// with the given version (see fixedWindowScript).
func fixedWindowHeader(now time.Time, period time.Duration, version int64) int64 {
	idx := now.UnixMicro() / period.Microseconds()
	return 1 + 256*(idx%32768) + version
}

// countAllowed sends count cost-1 requests for key and returns how many
// Redis allowed.
func countAllowed(t *testing.T, l *Limiter, key string, count int) int {
	t.Helper()
	allowed := 0
	for range count {
		res, err := l.Allow(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if res.Source != SourceRedis {
			t.Fatalf("Allow decided by %v (err %v), want Redis", res.Source, res.Err)
		}
		if res.Allowed {
			allowed++
		}
	}
	return allowed
}

// elapseRedis advances the fake clocks by d and moves the given keys'
// TTLs along as Redis would in d of real time. A key whose PTTL is at most
// d is deleted, and the others lose d. The tests cannot sleep, so this
// models a Redis server whose clock runs with the first fake clock.
func elapseRedis(t *testing.T, rdb *redis.Client, keys []string, d time.Duration, clocks ...*clock.Fake) {
	t.Helper()
	ctx := context.Background()
	for _, c := range clocks {
		c.Advance(d)
	}
	for _, k := range keys {
		ttl, err := rdb.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case ttl == -2:
			// No such key: go-redis returns PTTL's -2 and -1 unscaled.
		case ttl < 0:
			t.Fatalf("key %q has no TTL", k)
		case ttl <= d:
			rdb.Del(ctx, k)
		default:
			rdb.PExpire(ctx, k, ttl-d)
		}
	}
}

// TestFixedWindowSkewAfterExpiry runs two servers whose clocks disagree,
// with Redis expiring keys on the true clock. Each second the server
// behind sends 10 requests, then the server ahead sends 10, at a limit of
// 10 per second. The package documentation promises that skew admits at
// most one extra window, once. The state's TTL ends with the window on the
// clock of the server that began it, so the server behind finds the key
// gone while its own window is still open, and begins that window again
// every second.
func TestFixedWindowSkewAfterExpiry(t *testing.T) {
	for name, skew := range map[string]time.Duration{
		"half_window":   500 * time.Millisecond,
		"three_windows": 3*time.Second + 500*time.Millisecond,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The server behind runs on the true clock, half a window in.
			trueClock := clock.NewFake(epoch.Add(500 * time.Millisecond))
			aheadClock := clock.NewFake(epoch.Add(500*time.Millisecond + skew))
			behind := newFixedWindowLimiter(t, 10, time.Second, trueClock)
			ahead := newFixedWindowLimiter(t, 10, time.Second, aheadClock)
			key := uniqueKey(t)
			rdb := server.Client(t)

			const seconds = 10
			allowed := 0
			for range seconds {
				allowed += countAllowed(t, behind, key, 10)
				allowed += countAllowed(t, ahead, key, 10)
				elapseRedis(t, rdb, []string{behind.StateKey(key)}, time.Second, trueClock, aheadClock)
			}
			// The rate times the time, one extra window once, and the
			// window still open at the end.
			if bound := 10*seconds + 10 + 10; allowed > bound {
				t.Errorf("two servers %v apart allowed %d in %d s at 10 per second, want at most %d", skew, allowed, seconds, bound)
			}
		})
	}
}

// checkLimitChangeReaches lets process A spend 1 unit of a window at limit
// 10, then runs change on process B, which must leave a limit of 2 with 1
// unit spent, and checks that A's next decisions use that limit.
func checkLimitChangeReaches(t *testing.T, change func(ctx context.Context, b *Limiter, key string)) {
	t.Helper()
	fake := clock.NewFake(epoch)
	a := newFixedWindowLimiter(t, 10, time.Minute, fake)
	b := newFixedWindowLimiter(t, 10, time.Minute, fake)
	key := uniqueKey(t)
	if got := countAllowed(t, a, key, 1); got != 1 {
		t.Fatalf("first request allowed %d, want 1", got)
	}
	change(context.Background(), b, key)
	if got := countAllowed(t, a, key, 3); got != 1 {
		t.Errorf("process A after the limit changed to 2 with 1 spent: allowed %d of 3, want 1", got)
	}
}

// TestFixedWindowOverrideAfterReset sets an override after a Reset, when
// there is no state whose version SetOverride could bump. Another process
// then begins the same window at version 0, which is the version that the
// first process remembers, so the first process keeps deciding with the
// limit it read before the override.
func TestFixedWindowOverrideAfterReset(t *testing.T) {
	checkLimitChangeReaches(t, func(ctx context.Context, b *Limiter, key string) {
		if err := b.Reset(ctx, key); err != nil {
			t.Fatal(err)
		}
		if err := b.SetOverride(ctx, key, 2, 0); err != nil {
			t.Fatal(err)
		}
		if got := countAllowed(t, b, key, 1); got != 1 {
			t.Fatalf("process B after the override: allowed %d of 1, want 1", got)
		}
	})
}

// TestFixedWindowSixteenLimitChanges changes the limit 16 times between two
// decisions of one process, which brought a 4-bit version back where that
// process remembered it. The version has 8 bits now.
func TestFixedWindowSixteenLimitChanges(t *testing.T) {
	checkLimitChangeReaches(t, func(ctx context.Context, b *Limiter, key string) {
		for i := range 16 {
			if err := b.SetOverride(ctx, key, float64(17-i), 0); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestFixedWindowGarbageIntegerGetsTTL stores integers without a TTL where
// the state belongs. Some of them decode as a window up to 2^14 windows
// ahead, which the script takes as a window begun by a faster clock. It
// then increments the key without ever giving it a TTL. When the decoded
// count exceeds the cap, as 10^15's does, it denies every request until
// the caller's window passes the decoded one: 10,323 one-minute windows,
// about 7 days, at this test's epoch.
func TestFixedWindowGarbageIntegerGetsTTL(t *testing.T) {
	period := time.Minute
	header := fixedWindowHeader(epoch, period, 0) + 256*100 // 100 windows ahead
	for name, value := range map[string]int64{
		"window_100_ahead": header*fixedWindowUnit + 5,
		"ten_to_the_15":    1_000_000_000_000_000,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, FixedWindow(10, period), WithoutDenyCache())
			ctx := context.Background()
			if err := f.rdb.Set(ctx, f.l.StateKey(f.key), value, 0).Err(); err != nil {
				t.Fatal(err)
			}
			f.allowN(t, 1)
			if v, ttl := f.state(t); ttl <= 0 || ttl > 2*period {
				t.Errorf("after a decision on %d without a TTL: state %q has PTTL %v, want in (0, %v]", value, v, ttl, 2*period)
			}
		})
	}
}

// TestFixedWindowGarbageCountOverflow stores a state whose count field is
// all ones. Adding the cost carries into the header, and the limiter must
// not report an allowed request that the script did not count.
func TestFixedWindowGarbageCountOverflow(t *testing.T) {
	period := time.Minute
	for _, hot := range []bool{false, true} {
		t.Run(fmt.Sprintf("remembered_%v", hot), func(t *testing.T) {
			f := newFixture(t, FixedWindow(10, period), WithoutDenyCache())
			ctx := context.Background()
			if hot {
				f.allowN(t, 1) // remember the window
			}
			header := fixedWindowHeader(epoch, period, 0)
			garbage := header*fixedWindowUnit + fixedWindowUnit - 1
			if err := f.rdb.Set(ctx, f.l.StateKey(f.key), garbage, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			res := f.allowN(t, 1)
			v, ttl := f.state(t)
			if ttl <= 0 || ttl > 2*period {
				t.Errorf("state %q has PTTL %v, want in (0, %v]", v, ttl, 2*period)
			}
			stored, _ := strconv.ParseInt(v, 10, 64)
			counted := stored != garbage && stored%fixedWindowUnit == 1
			if res.Allowed && !counted {
				t.Errorf("Allow on state %d = allowed, but the state is now %q, which does not count it", garbage, v)
			}
			// Later decisions count from a fresh window.
			got := countAllowed(t, f.l, f.key, 12)
			want := 10
			if res.Allowed {
				want = 9
			}
			if got != want {
				t.Errorf("after the garbage state: allowed %d of 12, want %d", got, want)
			}
		})
	}
}

// TestFixedWindowDenialKeepsOlderState denies a request in a remembered
// window when a server behind has meanwhile begun an older window in the
// state. The denial must leave that state as it was.
func TestFixedWindowDenialKeepsOlderState(t *testing.T) {
	aheadClock := clock.NewFake(epoch.Add(time.Minute))
	behindClock := clock.NewFake(epoch)
	ahead := newFixedWindowLimiter(t, 10, time.Minute, aheadClock)
	behind := newFixedWindowLimiter(t, 10, time.Minute, behindClock)
	key := uniqueKey(t)
	ctx := context.Background()
	rdb := server.Client(t)

	if got := countAllowed(t, ahead, key, 1); got != 1 {
		t.Fatalf("server ahead: allowed %d of 1", got)
	}
	if err := behind.Reset(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got := countAllowed(t, behind, key, 3); got != 3 {
		t.Fatalf("server behind after Reset: allowed %d of 3", got)
	}
	before, err := rdb.Get(ctx, ahead.StateKey(key)).Result()
	if err != nil {
		t.Fatal(err)
	}
	res, err := ahead.AllowN(ctx, key, 11)
	if err != nil || res.Allowed || res.Source != SourceRedis {
		t.Fatalf("server ahead AllowN(11) = %+v, %v; want a denial by Redis", res, err)
	}
	after, err := rdb.Get(ctx, ahead.StateKey(key)).Result()
	if err != nil {
		t.Errorf("state after the denial: %v, want %q unchanged", err, before)
	} else if after != before {
		t.Errorf("state after the denial = %q, want %q unchanged", after, before)
	}
}

// TestFixedWindowGarbageValues puts values of the wrong kind at the state
// and override keys. Decisions may go to the failure policy, but must not
// panic, must not leave a key without a TTL, and must work again later.
func TestFixedWindowGarbageValues(t *testing.T) {
	period := time.Minute
	type setup func(ctx context.Context, rdb *redis.Client, key string) error
	hash := func(ctx context.Context, rdb *redis.Client, key string) error {
		return rdb.HSet(ctx, key, "f", "1").Err()
	}
	str := func(v any) setup {
		return func(ctx context.Context, rdb *redis.Client, key string) error {
			return rdb.Set(ctx, key, v, 0).Err()
		}
	}
	cases := map[string]setup{
		"hash":          hash,
		"text":          str("abc"),
		"float":         str("8589934593.5"),
		"max_int64":     str("9223372036854775807"),
		"min_int64":     str("-9223372036854775808"),
		"negative":      str("-5"),
		"zero":          str("0"),
		"above_2_to_53": str("9007199254740993"),
	}
	for name, set := range cases {
		for _, at := range []string{"state", "override"} {
			for _, hot := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s_at_%s_remembered_%v", name, at, hot), func(t *testing.T) {
					t.Parallel()
					f := newFixture(t, FixedWindow(5, period), WithoutDenyCache())
					ctx := context.Background()
					if hot {
						f.allowN(t, 1)
					}
					key := f.l.StateKey(f.key)
					if at == "override" {
						key = f.l.OverrideKey(f.key)
					}
					f.rdb.Del(ctx, key)
					if err := set(ctx, f.rdb, key); err != nil {
						t.Fatal(err)
					}
					if _, err := f.l.Remaining(ctx, f.key); err != nil && at == "override" {
						t.Errorf("Remaining with garbage override: %v", err)
					}
					var last Result
					for i := range 3 {
						res, err := f.l.Allow(ctx, f.key)
						if err != nil {
							t.Fatalf("Allow %d: %v", i+1, err)
						}
						last = res
						stateKey := f.l.StateKey(f.key)
						if ttl := f.rdb.PTTL(ctx, stateKey).Val(); ttl == -1 && (at == "override" || res.Source == SourceRedis && res.Allowed) {
							t.Errorf("Allow %d: state key has no TTL (source %v)", i+1, res.Source)
						}
					}
					// Zero and negative overrides are valid limits of 0.
					wantAllowed := at == "state" || (name != "zero" && name != "negative" && name != "min_int64")
					if last.Source != SourceRedis || last.Allowed != wantAllowed {
						t.Errorf("third Allow after garbage = %+v, want Allowed %v by Redis", last, wantAllowed)
					}
				})
			}
		}
	}
}

// TestFixedWindowLimitChangesReachOthers raises and lowers the limit on one
// process mid-window and checks another process's next decision.
func TestFixedWindowLimitChangesReachOthers(t *testing.T) {
	fake := clock.NewFake(epoch)
	a := newFixedWindowLimiter(t, 5, time.Minute, fake)
	b := newFixedWindowLimiter(t, 5, time.Minute, fake)
	key := uniqueKey(t)
	ctx := context.Background()

	if got := countAllowed(t, a, key, 6); got != 5 {
		t.Fatalf("default limit 5: allowed %d of 6", got)
	}
	if err := b.SetOverride(ctx, key, 8, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := countAllowed(t, a, key, 5); got != 3 {
		t.Errorf("raised to 8 with 5 spent: process A allowed %d of 5, want 3", got)
	}
	if err := b.SetOverride(ctx, key, 10, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.ClearOverride(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got := countAllowed(t, a, key, 2); got != 0 {
		t.Errorf("cleared back to 5 with 8 spent: process A allowed %d of 2, want 0", got)
	}
	res, err := a.Remaining(ctx, key)
	if err != nil || res.Limit != 5 || res.Remaining != 0 {
		t.Errorf("Remaining = %+v, %v; want limit 5 and 0 remaining", res, err)
	}
	// Reset on B reaches A's next decision through the vanished state.
	if err := b.Reset(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got := countAllowed(t, a, key, 6); got != 5 {
		t.Errorf("after Reset on process B: process A allowed %d of 6, want 5", got)
	}
}

// TestFixedWindowOverrideExpiresByTTL lets an override lapse by its TTL and
// checks that the next window uses the default limit in every process.
func TestFixedWindowOverrideExpiresByTTL(t *testing.T) {
	fake := clock.NewFake(epoch)
	a := newFixedWindowLimiter(t, 5, time.Minute, fake)
	b := newFixedWindowLimiter(t, 5, time.Minute, fake)
	key := uniqueKey(t)
	ctx := context.Background()
	rdb := server.Client(t)

	if err := a.SetOverride(ctx, key, 8, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := countAllowed(t, a, key, 2) + countAllowed(t, b, key, 2); got != 4 {
		t.Fatalf("under the override: allowed %d of 4", got)
	}
	elapseRedis(t, rdb, []string{a.StateKey(key), a.OverrideKey(key)}, time.Minute, fake)
	for name, l := range map[string]*Limiter{"A": a, "B": b} {
		res, err := l.Remaining(ctx, key)
		if err != nil || res.Limit != 5 {
			t.Errorf("process %s in the next window: Remaining = %+v, %v; want limit 5", name, res, err)
		}
	}
	if got := countAllowed(t, a, key, 3) + countAllowed(t, b, key, 3); got != 5 {
		t.Errorf("next window after the override lapsed: allowed %d of 6, want 5", got)
	}
}

// TestFixedWindowExactAcrossProcesses runs three limiters on one Redis,
// each from 8 goroutines, with costs 1 to 3 and limit changes in between,
// and checks that the admitted cost per window is exactly what fits.
func TestFixedWindowExactAcrossProcesses(t *testing.T) {
	fake := clock.NewFake(epoch)
	var limiters []*Limiter
	for range 3 {
		limiters = append(limiters, newFixedWindowLimiter(t, 50, time.Minute, fake))
	}
	key := uniqueKey(t)
	ctx := context.Background()
	for round, limit := range []int64{50, 20, 90} {
		if round > 0 {
			fake.Advance(time.Minute)
			if err := limiters[round%3].SetOverride(ctx, key, float64(limit), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		var admitted atomic.Int64
		var wg sync.WaitGroup
		for i, l := range limiters {
			for g := range 8 {
				wg.Go(func() {
					for r := range 10 {
						cost := 1 + (i+g+r)%3
						res, err := l.AllowN(ctx, key, cost)
						if err != nil || res.Source != SourceRedis {
							t.Errorf("AllowN: %+v, %v", res, err)
							return
						}
						if res.Allowed {
							admitted.Add(int64(cost))
						}
					}
				})
			}
		}
		wg.Wait()
		if got := admitted.Load(); got > limit || got < limit-2 {
			t.Errorf("round %d: admitted cost %d at limit %d, want in [%d, %d]", round, got, limit, limit-2, limit)
		}
		res, err := limiters[0].Remaining(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if used := limit - res.Remaining; used != admitted.Load() {
			t.Errorf("round %d: state counts %d used, requests admitted %d", round, used, admitted.Load())
		}
	}
}

// TestFixedWindowCostEdges covers costs equal to the remaining units, above
// the cap, and at the 2^28-1 per-window maximum, in both the first and the
// remembered path.
func TestFixedWindowCostEdges(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, FixedWindow(10, time.Minute), WithoutDenyCache())
	if res := f.allowN(t, 4); !res.Allowed || res.Remaining != 6 {
		t.Errorf("AllowN(4) = %+v, want allowed with 6 remaining", res)
	}
	before, ttlBefore := f.state(t)
	res := f.allowN(t, 7)
	if res.Allowed || res.Reason != ReasonLimitExceeded || res.Remaining != 6 {
		t.Errorf("AllowN(7) with 6 remaining = %+v, want a limit_exceeded denial with 6 remaining", res)
	}
	if res.RetryAfter != time.Minute || res.ResetAfter != time.Minute {
		t.Errorf("AllowN(7): RetryAfter %v, ResetAfter %v, want 1m both at the window start", res.RetryAfter, res.ResetAfter)
	}
	res = f.allowN(t, 11)
	if res.Allowed || res.Reason != ReasonCostExceedsLimit || res.RetryAfter != time.Minute {
		t.Errorf("AllowN(11) at limit 10 = %+v, want cost_exceeds_limit with RetryAfter 1m", res)
	}
	if after, ttlAfter := f.state(t); after != before || ttlAfter > ttlBefore {
		t.Errorf("denials changed state %q (PTTL %v) to %q (PTTL %v)", before, ttlBefore, after, ttlAfter)
	}
	f.clock.Advance(15 * time.Second)
	if res := f.allowN(t, 6); !res.Allowed || res.Remaining != 0 {
		t.Errorf("AllowN(6) with 6 remaining = %+v, want allowed with 0 remaining", res)
	}
	res = f.allowN(t, 1)
	if res.Allowed || res.RetryAfter != 45*time.Second || res.ResetAfter != 45*time.Second {
		t.Errorf("Allow when spent 15 s in = %+v, want RetryAfter and ResetAfter 45s", res)
	}

	huge := newFixture(t, FixedWindow(1e12, time.Minute), WithoutDenyCache())
	if res := huge.allowN(t, fixedWindowMax+1); res.Allowed || res.Reason != ReasonCostExceedsLimit {
		t.Errorf("AllowN(2^28) at limit 1e12 = %+v, want cost_exceeds_limit", res)
	}
	if v, _ := huge.state(t); v != "" {
		t.Errorf("denied AllowN(2^28) wrote state %q", v)
	}
	if res := huge.allowN(t, fixedWindowMax-1); !res.Allowed || res.Remaining != 1 || res.Limit != fixedWindowMax {
		t.Errorf("AllowN(2^28-2) = %+v, want allowed with 1 remaining at limit 2^28-1", res)
	}
	if res := huge.allowN(t, 2); res.Allowed {
		t.Errorf("AllowN(2) with 1 remaining = %+v, want denied", res)
	}
	if res := huge.allowN(t, fixedWindowMax+1); res.Allowed {
		t.Errorf("remembered AllowN(2^28) = %+v, want denied", res)
	}
	if res := huge.allowN(t, 1); !res.Allowed || res.Remaining != 0 {
		t.Errorf("Allow with 1 remaining = %+v, want allowed with 0 remaining", res)
	}
	res, err := huge.l.Remaining(ctx, huge.key)
	if err != nil || res.Remaining != 0 {
		t.Errorf("Remaining at the maximum = %+v, %v", res, err)
	}

	for limit, want := range map[float64]int{0: 0, 1: 1, 2.5: 2, 0.9: 0} {
		f := newFixture(t, FixedWindow(limit, time.Minute), WithoutDenyCache())
		if got := countAllowed(t, f.l, f.key, 4); got != want {
			t.Errorf("limit %v: allowed %d of 4, want %d", limit, got, want)
		}
		if v, _ := f.state(t); want == 0 && v != "" {
			t.Errorf("limit %v wrote state %q", limit, v)
		}
	}
}

// TestFixedWindowPeekCreatesNoKey peeks on a new key, on a key whose state
// vanished under a remembered window, and under WithServerTime.
func TestFixedWindowPeekCreatesNoKey(t *testing.T) {
	for _, serverTime := range []bool{false, true} {
		t.Run(fmt.Sprintf("server_time_%v", serverTime), func(t *testing.T) {
			var opts []Option
			if serverTime {
				opts = append(opts, WithServerTime())
			}
			f := newFixture(t, FixedWindow(3, time.Hour), append(opts, WithoutDenyCache())...)
			ctx := context.Background()
			for i := range 2 {
				res, err := f.l.Remaining(ctx, f.key)
				if err != nil || res.Remaining != 3 || !res.Allowed {
					t.Errorf("peek %d = %+v, %v; want 3 remaining", i+1, res, err)
				}
				if n := f.rdb.Exists(ctx, f.l.StateKey(f.key), f.l.OverrideKey(f.key)).Val(); n != 0 {
					t.Errorf("peek %d created %d keys", i+1, n)
				}
				f.allowN(t, 1)
				f.rdb.Del(ctx, f.l.StateKey(f.key))
			}
		})
	}
}

// TestWindowMemoryBounded fills the record of windows past its size.
func TestWindowMemoryBounded(t *testing.T) {
	w := newWindowMemory(DefaultDenyCacheSize)
	for i := range DefaultDenyCacheSize + 100 {
		w.remember(strconv.Itoa(i), "s", "o", "t", window{header: 1, capacity: 1, end: 10})
	}
	if n := len(w.m); n != DefaultDenyCacheSize {
		t.Errorf("record holds %d keys, want %d", n, DefaultDenyCacheSize)
	}
	if _, ok := w.current(strconv.Itoa(DefaultDenyCacheSize+99), 5); !ok {
		t.Errorf("the key remembered last was dropped")
	}
	if _, ok := w.current(strconv.Itoa(DefaultDenyCacheSize+99), 10); ok {
		t.Errorf("a window is current at its end")
	}
}

// TestFixedWindowBilledCases counts fixed window commands with INFO
// commandstats on a server of its own. It covers the cases that the
// package documentation prices beyond TestBilledCommandsPerDecision. They
// are a denial on a process's first decision of a window, a reread after a
// limit change, a key dropped from the record of windows, and
// WithServerTime after the first decision.
func TestFixedWindowBilledCases(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	fake := clock.NewFake(epoch)
	newLimiter := func(opts ...Option) *Limiter {
		l, err := New(rdb, FixedWindow(2, time.Minute), append([]Option{WithClock(fake), WithTimeout(time.Second), WithoutDenyCache()}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, b := newLimiter(), newLimiter()
	if _, err := a.Allow(ctx, "warm-up"); err != nil {
		t.Fatal(err)
	}
	cost := func(step string, l *Limiter, key string, wantAllowed bool, want int64) {
		t.Helper()
		if res := checkBilled(t, rdb, step, l, key, wantAllowed, want); res.Source != SourceRedis {
			t.Fatalf("%s: Allow = %+v, want a decision by Redis", step, res)
		}
	}
	cost("A begins the window", a, "k", true, 3)
	cost("A again", a, "k", true, 2)
	cost("B's first decision, denied", b, "k", false, 2)
	cost("B denied again", b, "k", false, 3)
	if err := a.SetOverride(ctx, "k", 5, time.Hour); err != nil {
		t.Fatal(err)
	}
	cost("B rereads the raised limit", b, "k", true, 3)
	cost("B after the reread", b, "k", true, 2)
	a.windows.forget("k")
	cost("A after its record dropped the key", a, "k", true, 3)

	st := newLimiter(WithServerTime())
	cost("server time, first decision", st, "st", true, 4)
	cost("server time, later", st, "st", true, 2)
	cost("server time, denied", st, "st", false, 3)
}

// TestFixedWindowAfterClose closes a limiter that remembers a window: the
// failure policy decides and Redis is left alone.
func TestFixedWindowAfterClose(t *testing.T) {
	f := newFixture(t, FixedWindow(5, time.Minute), WithoutDenyCache())
	f.allowN(t, 1)
	before, _ := f.state(t)
	if err := f.l.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := f.l.AllowN(context.Background(), f.key, 2)
	if err != nil || res.Source != SourceLocal || !errors.Is(res.Err, ErrClosed) {
		t.Errorf("AllowN after Close = %+v, %v; want FailLocal with ErrClosed", res, err)
	}
	if after, _ := f.state(t); after != before {
		t.Errorf("AllowN after Close changed state %q to %q", before, after)
	}
}

// TestFixedWindowServerTimeSkewedProcess runs processes whose own clocks
// are two hours off the Redis server's under WithServerTime. A process
// must place the window's end on its own clock: otherwise one whose clock
// is ahead never finds its remembered window current and reads TIME and
// the state on every decision, and RetryAfter is off by the skew.
func TestFixedWindowServerTimeSkewedProcess(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	for name, skew := range map[string]time.Duration{"ahead": 2 * time.Hour, "behind": -2 * time.Hour} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			fake := clock.NewFake(time.Now().Add(skew))
			newLimiter := func(limit float64) *Limiter {
				l, err := New(rdb, FixedWindow(limit, time.Hour), WithClock(fake), WithTimeout(time.Second), WithServerTime(), WithoutDenyCache())
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			l := newLimiter(100)
			if _, err := l.Allow(ctx, "warm-up"); err != nil {
				t.Fatal(err)
			}
			key := uniqueKey(t)
			for i, want := range []int64{4, 2, 2} {
				before := billedCommands(t, rdb)
				if res, err := l.Allow(ctx, key); err != nil || !res.Allowed {
					t.Fatalf("Allow %d = %+v, %v", i+1, res, err)
				}
				if got := billedCommands(t, rdb) - before; got != want {
					t.Errorf("Allow %d: %d billed commands, want %d", i+1, got, want)
				}
			}

			// RetryAfter counts to the end of the hour on the Redis clock,
			// which is this machine's clock.
			limitOne := newLimiter(1)
			key = uniqueKey(t)
			for range 2 {
				if _, err := limitOne.Allow(ctx, key); err != nil {
					t.Fatal(err)
				}
			}
			now := time.Now()
			want := now.Truncate(time.Hour).Add(time.Hour).Sub(now)
			res, err := limitOne.Allow(ctx, key)
			if err != nil || res.Allowed {
				t.Fatalf("third Allow at limit 1 = %+v, %v; want denied", res, err)
			}
			if !time.Now().Truncate(time.Hour).Equal(now.Truncate(time.Hour)) {
				t.Skip("the hour ended during the test, so its window is not the one measured")
			}
			if diff := res.RetryAfter - want; diff < -5*time.Second || diff > 5*time.Second {
				t.Errorf("RetryAfter = %v, want %v to the hour's end on the Redis clock", res.RetryAfter, want)
			}
		})
	}
}

// TestFixedWindowLoweredLimitDenialKeepsState lowers the limit under a
// process that remembers the window. Its next decision goes through the
// script's reread path, and the denial there must leave the count and the
// TTL as they were.
func TestFixedWindowLoweredLimitDenialKeepsState(t *testing.T) {
	fake := clock.NewFake(epoch)
	a := newFixedWindowLimiter(t, 5, time.Minute, fake)
	b := newFixedWindowLimiter(t, 5, time.Minute, fake)
	key := uniqueKey(t)
	ctx := context.Background()
	rdb := server.Client(t)

	if got := countAllowed(t, a, key, 4); got != 4 {
		t.Fatalf("allowed %d of 4 at limit 5", got)
	}
	if err := b.SetOverride(ctx, key, 3, time.Hour); err != nil {
		t.Fatal(err)
	}
	before := rdb.Get(ctx, a.StateKey(key)).Val()
	ttlBefore := rdb.PTTL(ctx, a.StateKey(key)).Val()
	res, err := a.Allow(ctx, key)
	if err != nil || res.Allowed || res.Limit != 3 || res.Remaining != 0 {
		t.Errorf("Allow after lowering to 3 with 4 spent = %+v, %v; want denied at limit 3", res, err)
	}
	if after := rdb.Get(ctx, a.StateKey(key)).Val(); after != before {
		t.Errorf("denial changed state %q to %q", before, after)
	}
	if ttl := rdb.PTTL(ctx, a.StateKey(key)).Val(); ttl > ttlBefore || ttl <= 0 {
		t.Errorf("denial moved PTTL from %v to %v", ttlBefore, ttl)
	}
}
