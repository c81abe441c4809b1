package adaptive

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/redisinfo"
	"github.com/upstash-ops/sdk/internal/redistest"
	"github.com/upstash-ops/sdk/ratelimit"
)

var server *redistest.Server

func TestMain(m *testing.M) { redistest.RunMain(m, &server) }

var epoch = time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)

var prefixSeq atomic.Int64

// env is one app instance: a limiter, a recorder and a tuner on the shared
// redis-server, with a prefix of its own test.
type env struct {
	rdb     *redis.Client
	clock   *clock.Fake
	limiter *ratelimit.Limiter
	rec     *Recorder
	tuner   *Tuner

	mu      sync.Mutex
	changes []Change // every hook call
}

type accounts map[string]Account

func (a accounts) LookupAccount(_ context.Context, key string) (Account, error) {
	return a[key], nil
}

func newEnv(t *testing.T, alg ratelimit.Algorithm, accts accounts, policy Policy, opts ...TunerOption) *env {
	t.Helper()
	prefix := fmt.Sprintf("ad%d", prefixSeq.Add(1))
	return newEnvOn(t, prefix, clock.NewFake(epoch), alg, accts, policy, opts...)
}

func newEnvOn(t *testing.T, prefix string, fake *clock.Fake, alg ratelimit.Algorithm, accts accounts, policy Policy, opts ...TunerOption) *env {
	t.Helper()
	return newEnvWith(t, server.Client(t), prefix, fake, alg, accts, policy, opts...)
}

func newEnvWith(t *testing.T, rdb *redis.Client, prefix string, fake *clock.Fake, alg ratelimit.Algorithm, accts accounts, policy Policy, opts ...TunerOption) *env {
	t.Helper()
	e := &env{rdb: rdb, clock: fake}
	var err error
	e.rec, err = NewRecorder(e.rdb, WithPrefix(prefix), WithRecorderClock(fake))
	if err != nil {
		t.Fatal(err)
	}
	// A generous timeout keeps a loaded test machine from turning slow Redis
	// calls into fallback decisions, which these scenarios do not test.
	e.limiter, err = ratelimit.New(e.rdb, alg, ratelimit.WithPrefix(prefix), ratelimit.WithClock(fake),
		ratelimit.WithOnDecision(e.rec.Observe), ratelimit.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	hook := WithOnAdjust(func(_ context.Context, c Change) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.changes = append(e.changes, c)
		return nil
	})
	e.tuner, err = NewTuner(e.limiter, e.rec, accts, append([]TunerOption{WithPolicy(policy), hook}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// drive records perMinute requests (denied of them denied) for key in each
// of the next minutes, flushing every hour and at the end.
func (e *env) drive(t *testing.T, key string, perMinute, denied int64, minutes int) {
	t.Helper()
	for i := range minutes {
		e.rec.Record(key, perMinute, denied)
		e.clock.Advance(time.Minute)
		if i%60 == 59 {
			e.flush(t)
		}
	}
	e.flush(t)
}

func (e *env) flush(t *testing.T) {
	t.Helper()
	if _, err := e.rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (e *env) evaluate(t *testing.T, key string) []Change {
	t.Helper()
	changes, err := e.tuner.Evaluate(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return changes
}

func (e *env) limit(t *testing.T, key string) float64 {
	t.Helper()
	l, err := e.limiter.EffectiveLimit(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (e *env) hookStages() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, c := range e.changes {
		out = append(out, c.Kind.String()+"/"+c.Stage.String())
	}
	return out
}

var trusted = accounts{"enterprise": {Known: true, Trusted: true, Tier: "enterprise", Name: "Acme"}}

func TestTrustedMigrationRaisedThenReverts(t *testing.T) {
	e := newEnv(t, ratelimit.GCRA(500, time.Minute, 500), trusted, Policy{})
	e.drive(t, "enterprise", 100, 0, 180)
	e.drive(t, "enterprise", 450, 0, 5) // a data migration: 90% of the limit, 4.5x the baseline

	changes := e.evaluate(t, "enterprise")
	if len(changes) != 1 {
		t.Fatalf("changes = %+v, want one raise", changes)
	}
	c := changes[0]
	if c.Kind != KindRaise || c.Stage != StageApplied || c.From != 500 || c.To != 1000 || c.TTL != time.Hour {
		t.Errorf("change = %+v, want an applied raise from 500 to 1000 for 1h", c)
	}
	if !strings.Contains(c.Reason, "trusted key") || !strings.Contains(c.Reason, "4.5x") {
		t.Errorf("reason %q does not explain the raise", c.Reason)
	}
	if got, want := e.hookStages(), []string{"raise/proposed", "raise/applied"}; !cmp.Equal(got, want) {
		t.Errorf("hook saw %v, want %v", got, want)
	}
	if got := e.limit(t, "enterprise"); got != 1000 {
		t.Errorf("effective limit = %v, want 1000", got)
	}

	// The raise is an override with a TTL, so Redis reverts it by itself.
	ttl, err := e.rdb.PTTL(context.Background(), e.limiter.OverrideKey("enterprise")).Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("override PTTL = %v, %v; want about 1h", ttl, err)
	}
	e.rdb.Del(context.Background(), e.limiter.OverrideKey("enterprise")) // what the TTL does in an hour
	if got := e.limit(t, "enterprise"); got != 500 {
		t.Errorf("effective limit after the override expired = %v, want 500", got)
	}
}

func TestUnknownKeySpikeTightenedAndFlagged(t *testing.T) {
	e := newEnv(t, ratelimit.SlidingWindow(1000, time.Minute), accounts{}, Policy{})
	e.drive(t, "stranger", 20, 0, 120)
	e.drive(t, "stranger", 250, 0, 5) // 12.5x its baseline

	changes := e.evaluate(t, "stranger")
	if len(changes) != 1 {
		t.Fatalf("changes = %+v, want one tightening", changes)
	}
	c := changes[0]
	if c.Kind != KindTighten || c.Stage != StageApplied || !c.Flagged || c.To != 500 {
		t.Errorf("change = %+v, want an applied, flagged cut from 1000 to 500", c)
	}
	if !strings.Contains(c.Reason, "unknown key") || !strings.Contains(c.Reason, "review") {
		t.Errorf("reason %q does not explain the cut", c.Reason)
	}
	if got := e.limit(t, "stranger"); got != 500 {
		t.Errorf("effective limit = %v, want 500", got)
	}
}

func TestOrganicGrowthRecommendsOnly(t *testing.T) {
	growing := accounts{"growing": {Known: true, Name: "Beta"}}
	e := newEnv(t, ratelimit.FixedWindow(1000, time.Minute), growing, Policy{})
	// 300 a minute with a busy hour whose rate grows each day; from the
	// second day on it passes 90% of the limit, and it never reaches it.
	busyHour := []int64{860, 910, 940, 970, 990}
	var got []Change
	var recommendedDay int
	for day, busy := range busyHour {
		for hour := range 24 {
			rate := int64(300)
			if hour == 14 {
				rate = busy
			}
			e.drive(t, "growing", rate, 0, 60)
		}
		changes := e.evaluate(t, "growing")
		if len(changes) > 0 && got == nil {
			recommendedDay = day
		}
		got = append(got, changes...)
	}

	// One recommendation a day while the growth goes on.
	if len(got) != 2 {
		t.Fatalf("changes = %+v, want a recommendation on each of the last two days", got)
	}
	if again := e.evaluate(t, "growing"); len(again) != 0 {
		t.Errorf("the recommendation repeated within a day: %+v", again)
	}
	c := got[0]
	if c.Kind != KindRecommend || c.Stage != StageRecommended || c.To != 1500 {
		t.Errorf("change = %+v, want a recommendation of 1500", c)
	}
	if recommendedDay != 3 {
		t.Errorf("recommended on day %d, want day 3, the third day above 90%%", recommendedDay)
	}
	if busyHour[recommendedDay] >= 1000 {
		t.Errorf("recommended only when the busy hour reached %d, the limit", busyHour[recommendedDay])
	}
	if !strings.Contains(c.Reason, "before requests are denied") {
		t.Errorf("reason %q does not explain the recommendation", c.Reason)
	}
	if got := e.limit(t, "growing"); got != 1000 {
		t.Errorf("a recommendation changed the limit to %v", got)
	}
}

func TestAllDeniedKeyKeepsTightening(t *testing.T) {
	e := newEnv(t, ratelimit.TokenBucket(100, time.Minute, 100), accounts{}, Policy{Floor: 10})
	e.drive(t, "flood", 10, 0, 120)

	var limits []float64
	for range 6 {
		e.drive(t, "flood", 2000, 2000, 5) // every request denied
		for _, c := range e.evaluate(t, "flood") {
			limits = append(limits, c.To)
		}
	}
	if want := []float64{50, 25, 12.5, 10}; !cmp.Equal(limits, want) {
		t.Errorf("limits set while every request was denied = %v, want %v", limits, want)
	}
	if got := e.limit(t, "flood"); got != 10 {
		t.Errorf("effective limit = %v, want the floor 10", got)
	}
}

func TestCeilingCapsRaises(t *testing.T) {
	e := newEnv(t, ratelimit.GCRA(800, time.Minute, 800), trusted, Policy{Ceiling: 1000})
	e.drive(t, "enterprise", 100, 0, 60)
	e.drive(t, "enterprise", 700, 0, 5)
	changes := e.evaluate(t, "enterprise")
	if len(changes) != 1 || changes[0].To != 1000 {
		t.Fatalf("changes = %+v, want one raise to the ceiling 1000", changes)
	}
	e.drive(t, "enterprise", 950, 0, 5)
	if changes := e.evaluate(t, "enterprise"); len(changes) != 0 {
		t.Errorf("a raise above the ceiling was proposed: %+v", changes)
	}
	if got := e.limit(t, "enterprise"); got > 1000 {
		t.Errorf("effective limit %v above the ceiling", got)
	}
}

func TestInstancesShareHistory(t *testing.T) {
	fake := clock.NewFake(epoch)
	alg := ratelimit.SlidingWindow(1000, time.Minute)
	prefix := fmt.Sprintf("shared%d", prefixSeq.Add(1))
	a := newEnvOn(t, prefix, fake, alg, accounts{}, Policy{})
	b := newEnvOn(t, prefix, fake, alg, accounts{}, Policy{})
	for range 120 {
		a.rec.Record("stranger", 10, 0)
		b.rec.Record("stranger", 10, 0)
		fake.Advance(time.Minute)
	}
	for range 5 {
		a.rec.Record("stranger", 130, 0)
		b.rec.Record("stranger", 120, 0)
		fake.Advance(time.Minute)
	}
	a.flush(t)
	b.flush(t)

	ctx := context.Background()
	fromA, err := a.tuner.Propose(ctx, "stranger")
	if err != nil {
		t.Fatal(err)
	}
	fromB, err := b.tuner.Propose(ctx, "stranger")
	if err != nil {
		t.Fatal(err)
	}
	if len(fromA) != 1 || fromA[0].Kind != KindTighten {
		t.Fatalf("instance A proposed %+v, want one tightening of the combined 12.5x spike", fromA)
	}
	if diff := cmp.Diff(fromA, fromB); diff != "" {
		t.Errorf("instances disagree (-A +B):\n%s", diff)
	}
}

func TestRaiseClearsDenyCache(t *testing.T) {
	e := newEnv(t, ratelimit.FixedWindow(5, time.Hour), trusted, Policy{})
	ctx := context.Background()
	e.drive(t, "enterprise", 1, 0, 60)
	for range 5 {
		e.limiter.Allow(ctx, "enterprise")
	}
	e.limiter.Allow(ctx, "enterprise")
	if res, _ := e.limiter.Allow(ctx, "enterprise"); res.Allowed || res.Source != ratelimit.SourceDenyCache {
		t.Fatalf("denial not cached: %+v", res)
	}
	e.drive(t, "enterprise", 5, 0, 5)

	changes := e.evaluate(t, "enterprise")
	if len(changes) != 1 || changes[0].Kind != KindRaise {
		t.Fatalf("changes = %+v, want one raise", changes)
	}
	res, err := e.limiter.Allow(ctx, "enterprise")
	if err != nil || !res.Allowed || res.Limit != 10 {
		t.Errorf("request after the raise = %+v, %v; want allowed at limit 10 at once", res, err)
	}
}

func TestHookRejectsChange(t *testing.T) {
	e := newEnv(t, ratelimit.GCRA(500, time.Minute, 500), trusted, Policy{},
		WithOnAdjust(func(_ context.Context, c Change) error {
			if c.Stage == StageProposed {
				return ErrRejected
			}
			return nil
		}))
	e.drive(t, "enterprise", 100, 0, 60)
	e.drive(t, "enterprise", 450, 0, 5)
	if changes := e.evaluate(t, "enterprise"); len(changes) != 0 {
		t.Errorf("changes = %+v, want none after the hook rejected", changes)
	}
	if got := e.limit(t, "enterprise"); got != 500 {
		t.Errorf("effective limit = %v after a rejected raise, want 500", got)
	}
}

func TestRecommendOnlyAppliesNothing(t *testing.T) {
	e := newEnv(t, ratelimit.GCRA(500, time.Minute, 500), trusted, Policy{}, WithRecommendOnly())
	e.drive(t, "enterprise", 100, 0, 60)
	e.drive(t, "enterprise", 450, 0, 5)
	changes := e.evaluate(t, "enterprise")
	if len(changes) != 1 || changes[0].Stage != StageRecommended || changes[0].Kind != KindRaise {
		t.Fatalf("changes = %+v, want one raise reported as recommended", changes)
	}
	if got := e.limit(t, "enterprise"); got != 500 {
		t.Errorf("effective limit = %v in recommend-only mode, want 500", got)
	}
}

func TestObserveCountsDecisions(t *testing.T) {
	e := newEnv(t, ratelimit.FixedWindow(3, time.Hour), accounts{}, Policy{})
	ctx := context.Background()
	for range 5 {
		e.limiter.Allow(ctx, "k")
	}
	e.flush(t)
	hist, err := e.rec.History(ctx, "k", epoch)
	if err != nil {
		t.Fatal(err)
	}
	want := []Bucket{{Start: epoch, Requests: 5, Denied: 2}}
	if diff := cmp.Diff(want, hist); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	ttl, _ := e.rdb.PTTL(ctx, e.rec.HistoryKey("k")).Result()
	if ttl <= 0 || ttl > DefaultRetention {
		t.Errorf("history PTTL = %v, want within the retention", ttl)
	}
}

func TestRecorderBoundsKeys(t *testing.T) {
	rec, err := NewRecorder(server.Client(t), WithMaxKeys(2), WithPrefix("bound"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		rec.Record("k"+strconv.Itoa(i), 3, 0)
	}
	if got := rec.Dropped(); got != 9 {
		t.Errorf("Dropped = %d, want 9 (3 requests of each of 3 keys over the bound)", got)
	}
}

// TestBilledCommandsPerFlush counts what the layer adds to the bill: no
// command per request, 3 per key per flush.
func TestBilledCommandsPerFlush(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	rec, err := NewRecorder(rdb, WithPrefix("cost"))
	if err != nil {
		t.Fatal(err)
	}
	before := billed(t, rdb)
	for i := range 1000 {
		rec.Record("key"+strconv.Itoa(i%10), 1, 0)
	}
	if got := billed(t, rdb) - before; got != 0 {
		t.Errorf("recording 1000 requests billed %d commands, want 0", got)
	}
	before = billed(t, rdb)
	if _, err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := billed(t, rdb) - before; got != 30 {
		t.Errorf("flushing 10 keys billed %d commands, want 30", got)
	}
}

func billed(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	text, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	info, err := redisinfo.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, cs := range info.CommandStats() {
		if cs.Name != "info" && !strings.HasPrefix(cs.Name, "config") && !strings.HasPrefix(cs.Name, "client") && cs.Name != "hello" {
			total += cs.Calls
		}
	}
	return total
}

func TestRunFlushesAndEvaluates(t *testing.T) {
	e := newEnv(t, ratelimit.GCRA(500, time.Minute, 500), trusted, Policy{})
	e.drive(t, "enterprise", 100, 0, 60)
	for range 5 {
		e.rec.Record("enterprise", 450, 0)
		e.clock.Advance(time.Minute)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.tuner.Run(ctx, time.Minute) }()
	if err := e.clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	e.rec.Record("enterprise", 450, 0)
	e.clock.Advance(time.Minute)
	// The next wait starts once the first round has flushed and evaluated.
	if err := e.clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
	if got, want := e.hookStages(), []string{"raise/proposed", "raise/applied"}; !cmp.Equal(got, want) {
		t.Errorf("hook saw %v, want %v", got, want)
	}
}

func TestSparseKeyUsesMeanBaseline(t *testing.T) {
	e := newEnv(t, ratelimit.SlidingWindow(1000, time.Minute), accounts{}, Policy{})
	// Traffic in one minute of every four: a median of 0, a mean of 10.
	for range 30 {
		e.drive(t, "sparse", 40, 0, 1)
		e.drive(t, "sparse", 0, 0, 3)
	}
	e.drive(t, "sparse", 200, 0, 5) // 20x the mean
	changes := e.evaluate(t, "sparse")
	if len(changes) != 1 || changes[0].Kind != KindTighten {
		t.Errorf("changes = %+v, want one tightening", changes)
	}
}

func TestTrustedZeroLimitStays(t *testing.T) {
	e := newEnv(t, ratelimit.GCRA(0, time.Minute, 0), trusted, Policy{})
	e.drive(t, "enterprise", 5, 5, 60)
	if changes := e.evaluate(t, "enterprise"); len(changes) != 0 {
		t.Errorf("a key blocked with limit 0 was changed: %+v", changes)
	}
}
