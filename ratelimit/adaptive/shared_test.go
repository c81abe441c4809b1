package adaptive

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/redistest"
	"github.com/upstash-ops/sdk/ratelimit"
)

// twoInstances returns two app instances on one prefix and one clock.
func twoInstances(t *testing.T, alg ratelimit.Algorithm, accts accounts) (a, b *env, fake *clock.Fake) {
	t.Helper()
	fake = clock.NewFake(epoch)
	prefix := fmt.Sprintf("pair%d", prefixSeq.Add(1))
	a = newEnvOn(t, prefix, fake, alg, accts, Policy{})
	b = newEnvOn(t, prefix, fake, alg, accts, Policy{})
	return a, b, fake
}

func TestInstancesCutOnce(t *testing.T) {
	a, b, _ := twoInstances(t, ratelimit.SlidingWindow(1000, time.Minute), accounts{})
	a.drive(t, "stranger", 20, 0, 120)
	a.drive(t, "stranger", 250, 0, 5)

	if changes := a.evaluate(t, "stranger"); len(changes) != 1 || changes[0].To != 500 {
		t.Fatalf("instance A: changes = %+v, want one cut to 500", changes)
	}
	if changes := b.evaluate(t, "stranger"); len(changes) != 0 {
		t.Errorf("instance B cut again within the cooldown: %+v", changes)
	}
	if got := b.limit(t, "stranger"); got != 500 {
		t.Errorf("effective limit = %v, want 500 after one cut", got)
	}
}

func TestInstancesCutAgainAfterCooldown(t *testing.T) {
	a, b, _ := twoInstances(t, ratelimit.SlidingWindow(1000, time.Minute), accounts{})
	a.drive(t, "stranger", 20, 0, 120)
	a.drive(t, "stranger", 250, 0, 5)
	a.evaluate(t, "stranger")

	b.drive(t, "stranger", 250, 200, 5) // the flood goes on, now mostly denied
	changes := b.evaluate(t, "stranger")
	if len(changes) != 1 || changes[0].From != 500 || changes[0].To != 250 {
		t.Errorf("instance B after the cooldown: changes = %+v, want one cut from 500 to 250", changes)
	}
}

func TestRaiseReachesOtherDenyCache(t *testing.T) {
	a, b, _ := twoInstances(t, ratelimit.GCRA(5, time.Hour, 5), trusted)
	ctx := context.Background()
	a.drive(t, "enterprise", 1, 0, 60)
	for range 6 {
		b.limiter.Allow(ctx, "enterprise")
	}
	if res, _ := b.limiter.Allow(ctx, "enterprise"); res.Allowed || res.Source != ratelimit.SourceDenyCache {
		t.Fatalf("instance B did not cache the denial: %+v", res)
	}
	b.flush(t)
	a.drive(t, "enterprise", 5, 0, 5)

	if changes := a.evaluate(t, "enterprise"); len(changes) != 1 || changes[0].Kind != KindRaise {
		t.Fatalf("instance A: changes = %+v, want one raise", changes)
	}
	if res, _ := b.limiter.Allow(ctx, "enterprise"); res.Source != ratelimit.SourceDenyCache {
		t.Fatalf("instance B's cached denial went before its own evaluation: %+v", res)
	}
	if changes := b.evaluate(t, "enterprise"); len(changes) != 0 {
		t.Errorf("instance B raised again: %+v", changes)
	}
	res, err := b.limiter.Allow(ctx, "enterprise")
	if err != nil || !res.Allowed || res.Limit != 10 {
		t.Errorf("instance B after its evaluation = %+v, %v; want allowed at limit 10", res, err)
	}
}

type notifications struct {
	mu      sync.Mutex
	changes []Change
	err     error
}

func (n *notifications) Notify(_ context.Context, c Change) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.changes = append(n.changes, c)
	return n.err
}

func TestNotifierGetsAppliedRaise(t *testing.T) {
	n := &notifications{err: errors.New("webhook down")}
	e := newEnv(t, ratelimit.GCRA(500, time.Minute, 500), trusted, Policy{}, WithNotifier(n))
	e.drive(t, "enterprise", 100, 0, 60)
	e.drive(t, "enterprise", 450, 0, 5)
	if changes := e.evaluate(t, "enterprise"); len(changes) != 1 {
		t.Fatalf("changes = %+v, want one raise despite the failing notifier", changes)
	}
	if len(n.changes) != 1 {
		t.Fatalf("notifications = %+v, want one", n.changes)
	}
	c := n.changes[0]
	if c.Kind != KindRaise || c.Stage != StageApplied || c.Account.Name != "Acme" || !strings.Contains(c.Reason, "raised to 1000") {
		t.Errorf("notification = %+v, want the applied raise of Acme with its reason", c)
	}
}

func TestRulesCanBeDisabled(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		accts  accounts
		key    string
		base   int64
		spike  int64
	}{
		{"raise", Policy{DisableRaise: true}, trusted, "enterprise", 100, 450},
		{"tighten", Policy{DisableTighten: true}, accounts{}, "stranger", 20, 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, ratelimit.GCRA(500, time.Minute, 500), tt.accts, tt.policy)
			e.drive(t, tt.key, tt.base, 0, 120)
			e.drive(t, tt.key, tt.spike, 0, 5)
			if changes := e.evaluate(t, tt.key); len(changes) != 0 {
				t.Errorf("a disabled rule changed the limit: %+v", changes)
			}
		})
	}
}

func TestRecommendOnlyDoesNotRepeat(t *testing.T) {
	e := newEnv(t, ratelimit.GCRA(500, time.Minute, 500), trusted, Policy{}, WithRecommendOnly())
	e.drive(t, "enterprise", 100, 0, 60)
	e.drive(t, "enterprise", 450, 0, 5)
	if changes := e.evaluate(t, "enterprise"); len(changes) != 1 {
		t.Fatalf("changes = %+v, want one recommended raise", changes)
	}
	e.drive(t, "enterprise", 450, 0, 1)
	if changes := e.evaluate(t, "enterprise"); len(changes) != 0 {
		t.Errorf("the recommendation repeated within the cooldown: %+v", changes)
	}
}

func TestChangeStoredInHistoryWithTTL(t *testing.T) {
	e := newEnv(t, ratelimit.SlidingWindow(1000, time.Minute), accounts{}, Policy{})
	e.drive(t, "stranger", 20, 0, 120)
	e.drive(t, "stranger", 250, 0, 5)
	e.evaluate(t, "stranger")
	ctx := context.Background()
	_, adjustments, err := e.rec.read(ctx, "stranger", epoch)
	if err != nil {
		t.Fatal(err)
	}
	if len(adjustments) != 1 || adjustments[0].kind != KindTighten || adjustments[0].stage != StageApplied ||
		adjustments[0].to != 500 || !adjustments[0].at.Equal(e.clock.Now()) {
		t.Errorf("stored adjustments = %+v, want the cut to 500 at %v", adjustments, e.clock.Now())
	}
	if ttl, _ := e.rdb.PTTL(ctx, e.rec.HistoryKey("stranger")).Result(); ttl <= 0 || ttl > DefaultRetention {
		t.Errorf("history PTTL = %v after a change, want within the retention", ttl)
	}
}

// TestBilledCommandsPerEvaluation counts what evaluating a key adds to the
// bill on a real redis-server: ZRANGEBYSCORE and GET when nothing changes.
// An applied change adds the limiter's SetOverride script and the ZADD and
// PEXPIRE that store the change.
func TestBilledCommandsPerEvaluation(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnvWith(t, srv.Client(t), "eval", clock.NewFake(epoch), ratelimit.GCRA(1000, time.Minute, 1000), accounts{}, Policy{})
	e.drive(t, "steady", 20, 0, 120)
	e.drive(t, "stranger", 20, 0, 120)
	e.drive(t, "stranger", 250, 0, 5)

	before := billed(t, e.rdb)
	if changes := e.evaluate(t, "steady"); len(changes) != 0 {
		t.Fatalf("steady key changed: %+v", changes)
	}
	if got := billed(t, e.rdb) - before; got != 2 {
		t.Errorf("evaluating a key without a change billed %d commands, want 2", got)
	}

	before = billed(t, e.rdb)
	if changes := e.evaluate(t, "stranger"); len(changes) != 1 {
		t.Fatalf("changes = %+v, want one cut", changes)
	}
	// 2 to read, 4 for SetOverride (EVALSHA and the calls of its script)
	// and 2 to store the change.
	if got := billed(t, e.rdb) - before; got != 8 {
		t.Errorf("evaluating a key with an applied cut billed %d commands, want 8", got)
	}
}

func TestFailedFlushDropsExpiredBuckets(t *testing.T) {
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { down.Close() })
	fake := clock.NewFake(epoch)
	rec, err := NewRecorder(down, WithRecorderClock(fake), WithRetention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rec.Record("k", 5, 0)
	if _, err := rec.Flush(ctx); err == nil {
		t.Fatal("Flush to a closed port succeeded")
	}
	fake.Advance(2 * time.Hour)
	rec.Record("k", 7, 0)
	if _, err := rec.Flush(ctx); err == nil {
		t.Fatal("Flush to a closed port succeeded")
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got := len(rec.pending["k"]); got != 1 {
		t.Errorf("pending buckets of k = %d after the first fell out of the retention, want 1", got)
	}
	if got := rec.dropped; got != 5 {
		t.Errorf("dropped = %d, want the 5 requests of the expired bucket", got)
	}
}

// TestDeniedFloodKeepsCutting sends a flood through the limiter, whose
// deny cache decides most of it without Redis. The recorder must still
// count every denial, so the cuts go on to the floor while no request of
// the key is allowed.
func TestDeniedFloodKeepsCutting(t *testing.T) {
	// A day's window that the test never leaves: once the flood spends
	// the 100 in the first round, every later request is denied.
	e := newEnv(t, ratelimit.FixedWindow(100, 24*time.Hour), accounts{}, Policy{Floor: 10})
	ctx := context.Background()
	e.drive(t, "flood", 10, 0, 120)

	var limits []float64
	allowedPerRound := []int{}
	for range 6 {
		allowed := 0
		for range 5 {
			for range 1000 {
				if res, _ := e.limiter.Allow(ctx, "flood"); res.Allowed {
					allowed++
				}
			}
			e.clock.Advance(time.Minute)
		}
		allowedPerRound = append(allowedPerRound, allowed)
		e.flush(t)
		for _, c := range e.evaluate(t, "flood") {
			limits = append(limits, c.To)
		}
	}
	if want := []float64{50, 25, 12.5, 10}; !cmp.Equal(limits, want) {
		t.Errorf("limits set during the flood = %v, want %v", limits, want)
	}
	if want := []int{100, 0, 0, 0, 0, 0}; !cmp.Equal(allowedPerRound, want) {
		t.Errorf("allowed per round = %v, want %v", allowedPerRound, want)
	}
	hist, err := e.rec.History(ctx, "flood", e.clock.Now().Add(-5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range hist {
		if b.Requests != 1000 {
			t.Errorf("bucket %v recorded %d requests, want all 1000 sent", b.Start, b.Requests)
		}
	}
}

func TestRaisesStopAtMaxRaise(t *testing.T) {
	e := newEnv(t, ratelimit.GCRA(100, time.Minute, 100), trusted, Policy{SpikeFactor: 1.01})
	e.drive(t, "enterprise", 10, 0, 60)
	var limits []float64
	for _, demand := range []int64{90, 180, 360, 720, 1440} {
		e.drive(t, "enterprise", demand, 0, 5)
		for _, c := range e.evaluate(t, "enterprise") {
			limits = append(limits, c.To)
		}
	}
	if want := []float64{200, 400}; !cmp.Equal(limits, want) {
		t.Errorf("raises = %v, want %v: doubling up to 4 times the default limit 100", limits, want)
	}
}

func TestRunRejectsZeroInterval(t *testing.T) {
	e := newEnv(t, ratelimit.GCRA(10, time.Minute, 10), accounts{}, Policy{})
	if err := e.tuner.Run(context.Background(), 0); err == nil || !strings.Contains(err.Error(), "invalid run interval") {
		t.Errorf("Run(0) = %v, want an invalid interval error", err)
	}
}

// failingLimits fails SetOverride for one key.
type failingLimits struct {
	*ratelimit.Limiter
	failKey string
}

func (f failingLimits) SetOverride(ctx context.Context, key string, limit float64, ttl time.Duration) error {
	if key == f.failKey {
		return errors.New("override write failed")
	}
	return f.Limiter.SetOverride(ctx, key, limit, ttl)
}

func TestEvaluateKeysGoesOnAfterFailure(t *testing.T) {
	e := newEnv(t, ratelimit.SlidingWindow(1000, time.Minute), accounts{}, Policy{})
	tuner, err := NewTuner(failingLimits{e.limiter, "a"}, e.rec, accounts{})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "b"} {
		for range 120 {
			e.rec.Record(key, 20, 0)
			e.clock.Advance(time.Minute)
		}
	}
	e.flush(t)
	for range 5 {
		e.rec.Record("a", 250, 0)
		e.rec.Record("b", 250, 0)
		e.clock.Advance(time.Minute)
	}
	e.flush(t)

	changes, err := tuner.EvaluateKeys(context.Background(), []string{"a", "b"})
	if err == nil || !strings.Contains(err.Error(), `key "a"`) {
		t.Errorf("error = %v, want the failure of key a", err)
	}
	if len(changes) != 1 || changes[0].Key != "b" {
		t.Errorf("changes = %+v, want the cut of b after a failed", changes)
	}
}

func TestNewTunerRejectsShortRetention(t *testing.T) {
	rdb := server.Client(t)
	rec, err := NewRecorder(rdb, WithRetention(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	limiter, err := ratelimit.New(rdb, ratelimit.GCRA(10, time.Minute, 10))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTuner(limiter, rec, nil); err == nil || !strings.Contains(err.Error(), "retention 48h0m0s") {
		t.Errorf("NewTuner with 2 days of retention = %v, want an error naming the retention", err)
	}
	if _, err := NewTuner(limiter, rec, nil, WithPolicy(Policy{DisableRecommend: true})); err != nil {
		t.Errorf("NewTuner without the growth rule = %v, want no error", err)
	}
}

func TestFailedLookupIsUntrusted(t *testing.T) {
	lookup := AccountLookupFunc(func(context.Context, string) (Account, error) {
		return Account{}, errors.New("account store timed out")
	})
	e := newEnv(t, ratelimit.GCRA(500, time.Minute, 500), nil, Policy{})
	tuner, err := NewTuner(e.limiter, e.rec, lookup)
	if err != nil {
		t.Fatal(err)
	}
	e.drive(t, "enterprise", 100, 0, 60)
	e.drive(t, "enterprise", 450, 0, 5)
	changes, err := tuner.Evaluate(context.Background(), "enterprise")
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 0 {
		t.Errorf("changes = %+v, want no raise for a key whose lookup failed", changes)
	}
}
