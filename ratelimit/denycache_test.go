package ratelimit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/upstash-ops/sdk/internal/clock"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// countingScripter counts the script calls that reach Redis.
type countingScripter struct {
	Scripter
	calls atomic.Int64
}

func (c *countingScripter) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	c.calls.Add(1)
	return c.Scripter.EvalSha(ctx, sha, keys, args...)
}

func (c *countingScripter) Eval(ctx context.Context, src string, keys []string, args ...any) *redis.Cmd {
	c.calls.Add(1)
	return c.Scripter.Eval(ctx, src, keys, args...)
}

func sumCounter(t *testing.T, reader *sdkmetric.ManualReader, name string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				total += dp.Value
			}
		}
	}
	return total
}

func TestDenyCacheSkipsRedis(t *testing.T) {
	rdb := &countingScripter{Scripter: server.Client(t)}
	fake := clock.NewFake(epoch)
	reader := sdkmetric.NewManualReader()
	l, err := New(rdb, FixedWindow(1, time.Minute), WithClock(fake),
		WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := uniqueKey(t)
	fake.Advance(15 * time.Second)
	l.Allow(ctx, key)
	first, _ := l.Allow(ctx, key)
	if first.Allowed || first.Source != SourceRedis {
		t.Fatalf("second request = %+v, want a Redis denial", first)
	}

	callsBefore := rdb.calls.Load()
	for range 10 {
		fake.Advance(time.Second)
		res, err := l.Allow(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed || res.Source != SourceDenyCache {
			t.Fatalf("cached request = %+v, want a deny-cache denial", res)
		}
		if want := first.RetryAfter - time.Duration(fake.Now().Sub(epoch.Add(15*time.Second))); res.RetryAfter != want {
			t.Errorf("cached RetryAfter = %v, want %v", res.RetryAfter, want)
		}
	}
	if got := rdb.calls.Load() - callsBefore; got != 0 {
		t.Errorf("%d Redis calls while the key was in the deny cache, want 0", got)
	}
	if got := sumCounter(t, reader, "ratelimit.deny_cache.saved_commands"); got != 30 {
		t.Errorf("ratelimit.deny_cache.saved_commands = %d, want 30 (10 hits x EVALSHA and two INCRBYs)", got)
	}
	if got := sumCounter(t, reader, "ratelimit.decisions"); got != 12 {
		t.Errorf("ratelimit.decisions = %d, want 12", got)
	}

	// At the end of the window the cache lets the next request through.
	fake.Set(epoch.Add(time.Minute))
	if res, _ := l.Allow(ctx, key); !res.Allowed || res.Source != SourceRedis {
		t.Errorf("request in the next window = %+v, want allowed by Redis", res)
	}
}

func TestDenyCacheClearedByRaisedLimit(t *testing.T) {
	for name, alg := range algorithms(1) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg)
			ctx := context.Background()
			f.allowN(t, 1)
			f.allowN(t, 1)
			if res := f.allowN(t, 1); res.Source != SourceDenyCache {
				t.Fatalf("denial not cached: %+v", res)
			}
			if err := f.l.SetOverride(ctx, f.key, 3, time.Hour); err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				if res := f.allowN(t, 1); !res.Allowed || res.Limit != 3 {
					t.Fatalf("request %d after raising the limit to 3 = %+v, want allowed at limit 3", i+2, res)
				}
			}
			if res := f.allowN(t, 1); res.Allowed {
				t.Errorf("fourth request allowed under limit 3: %+v", res)
			}
		})
	}
}

func TestDenyCacheBounded(t *testing.T) {
	f := newFixture(t, FixedWindow(0, time.Minute), WithDenyCache(3))
	for i := range 10 {
		f.l.Allow(context.Background(), fmt.Sprintf("%s-%d", f.key, i))
		if got := f.l.deny.len(); got > 3 {
			t.Fatalf("deny cache holds %d keys, want at most 3", got)
		}
	}
}

func TestDenyCacheEvictsExpiredFirst(t *testing.T) {
	c := newDenyCache(2)
	now := epoch
	c.put("short", now, time.Second, Result{}, 0)
	c.put("long", now, time.Hour, Result{}, 0)
	c.put("new", now.Add(2*time.Second), time.Hour, Result{}, 0)
	if _, ok := c.get("long", now.Add(2*time.Second), time.Minute); !ok {
		t.Error("the unexpired entry was evicted while an expired one was there")
	}
	if _, ok := c.get("new", now.Add(2*time.Second), time.Minute); !ok {
		t.Error("the new entry is missing")
	}
}

func TestDenyCacheEvictsSoonestExpiry(t *testing.T) {
	c := newDenyCache(3)
	now := epoch
	c.put("hour", now, time.Hour, Result{}, 0)
	c.put("ten-minutes", now, 10*time.Minute, Result{}, 0)
	c.put("half-hour", now, 30*time.Minute, Result{}, 0)
	c.put("new", now, time.Minute, Result{}, 0)

	if _, ok := c.get("ten-minutes", now, time.Minute); ok {
		t.Error("the entry that expires first is still cached after an insert into a full cache")
	}
	for _, key := range []string{"hour", "half-hour", "new"} {
		if _, ok := c.get(key, now, time.Minute); !ok {
			t.Errorf("entry %q was evicted, want the one that expires first evicted instead", key)
		}
	}
	if got := c.len(); got != 3 {
		t.Errorf("len = %d, want 3", got)
	}
}

func TestDenyCacheRefreshMovesExpiry(t *testing.T) {
	c := newDenyCache(2)
	now := epoch
	c.put("refreshed", now, time.Second, Result{}, 0)
	c.put("other", now, time.Hour, Result{}, 0)
	c.put("refreshed", now, 2*time.Hour, Result{Limit: 7}, 0)
	c.put("new", now, time.Minute, Result{}, 0)

	res, ok := c.get("refreshed", now, time.Minute)
	if !ok {
		t.Fatal("the refreshed entry was evicted by its old expiry")
	}
	if res.RetryAfter != 2*time.Hour || res.Limit != 7 {
		t.Errorf("refreshed entry = RetryAfter %v, limit %v; want 2h and 7", res.RetryAfter, res.Limit)
	}
	if _, ok := c.get("other", now, time.Minute); ok {
		t.Error("the entry that now expires first is still cached")
	}
}

// TestDenyCacheMatchesModel runs random puts, gets and removes on a small
// cache and compares its keys with a plain map that evicts the entry that
// expires first, and checks the heap after every step.
func TestDenyCacheMatchesModel(t *testing.T) {
	const size = 8
	rng := rand.New(rand.NewPCG(1, 2))
	c := newDenyCache(size)
	model := make(map[string]time.Time) // key -> until
	now := epoch
	for step := range 5000 {
		now = now.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
		key := fmt.Sprintf("k%d", rng.IntN(3*size))
		switch op := rng.IntN(10); {
		case op < 5:
			// The step number in nanoseconds keeps every expiry distinct,
			// so that the entry to evict is never a tie.
			wait := time.Duration(1+rng.IntN(5000))*time.Millisecond + time.Duration(step)
			gen := c.generation()
			c.put(key, now, wait, Result{}, gen)
			if _, ok := model[key]; !ok && len(model) >= size {
				var first string
				for k, until := range model {
					if first == "" || until.Before(model[first]) {
						first = k
					}
				}
				delete(model, first)
			}
			model[key] = now.Add(wait)
		case op < 9:
			_, got := c.get(key, now, time.Minute)
			until, ok := model[key]
			want := ok && now.Before(until)
			if ok && !want {
				delete(model, key)
			}
			if got != want {
				t.Fatalf("step %d: get(%s) found %v, want %v", step, key, got, want)
			}
		default:
			c.remove(key)
			delete(model, key)
		}
		checkDenyCache(t, step, c, model)
	}
}

// checkDenyCache fails t unless c contains exactly the keys of model with
// their expiries, and its heap is ordered with up-to-date indexes.
func checkDenyCache(t *testing.T, step int, c *denyCache, model map[string]time.Time) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) != len(model) || len(c.byUntil) != len(model) {
		t.Fatalf("step %d: cache has %d entries and %d in the heap, model has %d", step, len(c.entries), len(c.byUntil), len(model))
	}
	for key, until := range model {
		e, ok := c.entries[key]
		if !ok {
			t.Fatalf("step %d: key %s missing from the cache", step, key)
		}
		if !e.until.Equal(until) {
			t.Fatalf("step %d: key %s until %v, model has %v", step, key, e.until, until)
		}
	}
	for i, e := range c.byUntil {
		if e.index != i {
			t.Fatalf("step %d: heap entry %d (%s) has index %d", step, i, e.key, e.index)
		}
		if parent := (i - 1) / 2; i > 0 && e.until.Before(c.byUntil[parent].until) {
			t.Fatalf("step %d: heap entry %d expires before its parent %d", step, i, parent)
		}
	}
}

func TestOverrideSharedAcrossServers(t *testing.T) {
	ctx := context.Background()
	a := newFixture(t, TokenBucket(5, time.Minute, 5))
	b, err := New(server.Client(t), TokenBucket(5, time.Minute, 5), WithClock(a.clock))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.l.SetOverride(ctx, a.key, 10, time.Hour); err != nil {
		t.Fatal(err)
	}
	limit, ttl, ok, err := b.Override(ctx, a.key)
	if err != nil || !ok || limit != 10 || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("Override on the other server = %v, %v, %v, %v; want 10, ~1h, true, nil", limit, ttl, ok, err)
	}
	// The burst scales with the limit: 10 tokens at once.
	res, err := b.AllowN(ctx, a.key, 10)
	if err != nil || !res.Allowed || res.Limit != 10 {
		t.Fatalf("AllowN(10) under the override = %+v, %v; want allowed at limit 10", res, err)
	}
	if err := a.l.ClearOverride(ctx, a.key); err != nil {
		t.Fatal(err)
	}
	if got, err := b.EffectiveLimit(ctx, a.key); err != nil || got != 5 {
		t.Errorf("EffectiveLimit after ClearOverride = %v, %v; want 5", got, err)
	}
}

func TestOverrideLowersLimit(t *testing.T) {
	for name, alg := range algorithms(100) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg)
			ctx := context.Background()
			f.allowN(t, 1)
			if err := f.l.SetOverride(ctx, f.key, 3, 0); err != nil {
				t.Fatal(err)
			}
			if ttl, _ := f.rdb.PTTL(ctx, f.l.OverrideKey(f.key)).Result(); ttl != -1 {
				t.Errorf("override without TTL has PTTL %v, want none", ttl)
			}
			allowed := 0
			for range 5 {
				if f.allowN(t, 1).Allowed {
					allowed++
				}
			}
			if allowed != 2 {
				t.Errorf("allowed %d after 1 of an override of 3, want 2", allowed)
			}
			if got, _ := f.l.EffectiveLimit(ctx, f.key); got != 3 {
				t.Errorf("EffectiveLimit = %v, want 3", got)
			}

			// Back to the default: the units spent stay spent.
			if err := f.l.ClearOverride(ctx, f.key); err != nil {
				t.Fatal(err)
			}
			res, err := f.l.Remaining(ctx, f.key)
			if err != nil {
				t.Fatal(err)
			}
			if res.Limit != 100 || res.Remaining != 97 {
				t.Errorf("after ClearOverride: limit %v, remaining %d; want 100 and 97", res.Limit, res.Remaining)
			}
		})
	}
}

func TestOverrideOddValues(t *testing.T) {
	f := newFixture(t, GCRA(5, time.Minute, 5))
	ctx := context.Background()
	for _, v := range []string{"abc", "nan", "-4", "inf"} {
		f.rdb.Set(ctx, f.l.OverrideKey(f.key), v, time.Hour)
		if _, err := f.l.Remaining(ctx, f.key); err != nil {
			t.Errorf("override %q: Remaining: %v", v, err)
		}
	}
	f.rdb.Set(ctx, f.l.OverrideKey(f.key), "abc", time.Hour)
	if res, _ := f.l.Remaining(ctx, f.key); res.Limit != 5 {
		t.Errorf("an unparsable override gave limit %v, want the default 5", res.Limit)
	}
}

func TestKeyLayoutSharesHashTag(t *testing.T) {
	f := newFixture(t, GCRA(5, time.Minute, 5), WithPrefix("api"))
	for _, key := range []string{"user:1", "}odd{", "{x}", ""} {
		state, override := f.l.StateKey(key), f.l.OverrideKey(key)
		if hashTag(state) != hashTag(override) || hashTag(state) == "" {
			t.Errorf("key %q: state %q and override %q have hash tags %q and %q", key, state, override, hashTag(state), hashTag(override))
		}
	}
	if got, want := f.l.StateKey("user:1"), "{api:user:1}:gc"; got != want {
		t.Errorf("StateKey = %q, want %q", got, want)
	}
}

// hashTag returns the part of key that Redis Cluster hashes when it has a
// non-empty {...} section, or "" when the whole key is hashed.
func hashTag(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				return key[i+1 : j]
			}
		}
		return ""
	}
	return ""
}

// gatedScripter holds the reply of every decision script until release is
// closed, so that a test can run another call while a decision is in
// flight.
type gatedScripter struct {
	Scripter
	decision string // SHA1 of the decision script
	started  chan struct{}
	release  chan struct{}
	once     sync.Once
}

func (g *gatedScripter) gate(sha string) {
	if sha != g.decision {
		return
	}
	g.once.Do(func() { close(g.started) })
	<-g.release
}

func TestDenyCacheResetDuringDecision(t *testing.T) {
	for name, alg := range algorithms(1) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb := server.Client(t)
			ctx := context.Background()
			g := &gatedScripter{
				Scripter: rdb,
				decision: decisionScripts[alg.kind].sha,
				started:  make(chan struct{}),
				release:  make(chan struct{}),
			}
			close(g.release) // the first decision passes
			l, err := New(gatedEval{g}, alg, WithClock(clock.NewFake(epoch)), WithTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			key := uniqueKey(t)
			if res, _ := l.Allow(ctx, key); !res.Allowed {
				t.Fatalf("first request denied: %+v", res)
			}

			// The second decision is denied in Redis, and its reply is
			// held back until Reset has run.
			g.started = make(chan struct{})
			g.release = make(chan struct{})
			g.once = sync.Once{}
			done := make(chan Result, 1)
			go func() {
				res, _ := l.Allow(ctx, key)
				done <- res
			}()
			<-g.started
			if err := l.Reset(ctx, key); err != nil {
				t.Fatal(err)
			}
			close(g.release)
			if res := <-done; res.Allowed {
				t.Fatalf("second request allowed: %+v", res)
			}

			res, err := l.Allow(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Allowed {
				t.Errorf("request after Reset = %+v, want allowed: a denial made before Reset stayed cached", res)
			}
		})
	}
}

// gatedEval runs the script and then waits at the gate, so the decision
// has happened in Redis before Reset runs.
type gatedEval struct{ g *gatedScripter }

func (e gatedEval) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	cmd := e.g.Scripter.EvalSha(ctx, sha, keys, args...)
	e.g.gate(sha)
	return cmd
}

func (e gatedEval) Eval(ctx context.Context, src string, keys []string, args ...any) *redis.Cmd {
	cmd := e.g.Scripter.Eval(ctx, src, keys, args...)
	e.g.gate(newScript(src).sha)
	return cmd
}

// BenchmarkDenyCachePutFull inserts new keys into a full cache whose
// entries have not expired, so that every put evicts one entry.
func BenchmarkDenyCachePutFull(b *testing.B) {
	for _, size := range []int{1_000, DefaultDenyCacheSize, 100_000} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			// Four times as many keys as the cache holds, so that a key
			// comes back only long after its entry was evicted.
			keys := make([]string, 4*size)
			for i := range keys {
				keys[i] = fmt.Sprintf("key-%d", i)
			}
			c := newDenyCache(size)
			now := epoch
			for i := range size {
				c.put(keys[i], now, time.Hour, Result{}, 0)
			}

			b.ReportAllocs()
			i := size
			for b.Loop() {
				now = now.Add(time.Microsecond)
				c.put(keys[i%len(keys)], now, time.Hour, Result{}, 0)
				i++
			}
		})
	}
}
