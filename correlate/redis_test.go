package correlate

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/redistest"
)

func samplesByName(samples []Sample) map[string]float64 {
	out := map[string]float64{}
	for _, s := range samples {
		out[s.Series] = s.Value
	}
	return out
}

func TestRedisCollectorRatesAndRatios(t *testing.T) {
	srv := redistest.Start(t, redistest.WithConfig("maxmemory", "64mb", "maxmemory-policy", "noeviction"))
	rdb := srv.Client(t)
	ctx := context.Background()
	fake := clock.NewFake(start)
	rc, err := NewRedisCollector(rdb, WithRedisClock(fake))
	if err != nil {
		t.Fatal(err)
	}

	first, err := rc.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := samplesByName(first)[SignalRedisCommands]; ok {
		t.Error("first read reports a command rate, want only gauges")
	}

	for i := range 30 {
		rdb.Set(ctx, fmt.Sprintf("k%d", i), "v", 0)
	}
	for i := range 40 {
		rdb.Get(ctx, fmt.Sprintf("k%d", i)) // 30 hits, 10 misses
	}
	fake.Advance(10 * time.Second)
	got, err := rc.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := samplesByName(got)
	if s[SignalRedisHitRatio] != 0.75 {
		t.Errorf("hit ratio = %v, want 0.75", s[SignalRedisHitRatio])
	}
	if s[SignalRedisMisses] != 1 {
		t.Errorf("misses = %v/s, want 1", s[SignalRedisMisses])
	}
	// 70 commands plus the first INFO, over 10 seconds.
	if c := s[SignalRedisCommands]; c < 7 || c > 7.5 {
		t.Errorf("command rate = %v/s, want about 7.1", c)
	}
	if s[SignalRedisKeys] != 30 {
		t.Errorf("keys = %v, want 30", s[SignalRedisKeys])
	}
	if r := s[SignalRedisMemoryRatio]; r <= 0 || r >= 1 {
		t.Errorf("memory ratio = %v, want in (0, 1)", r)
	}
	if s[SignalRedisClients] < 1 {
		t.Errorf("connected clients = %v, want at least 1", s[SignalRedisClients])
	}
}

func TestRedisCollectorCountsRejectedWrites(t *testing.T) {
	srv := redistest.Start(t, redistest.WithConfig("maxmemory-policy", "noeviction"))
	rdb := srv.Client(t)
	ctx := context.Background()
	fake := clock.NewFake(start)
	rc, err := NewRedisCollector(rdb, WithRedisClock(fake), WithRedisLabel("db=cache"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	// A maxmemory below current use makes every write fail with OOM.
	if err := rdb.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := rdb.Set(ctx, fmt.Sprintf("k%d", i), "v", 0).Err(); err == nil {
			t.Fatal("write succeeded above maxmemory")
		}
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	fake.Advance(5 * time.Second)
	got, err := rc.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := samplesByName(got)[SignalRedisRejected+"{db=cache}"]; r != 1 {
		t.Errorf("rejected writes = %v/s, want 1", r)
	}
}

func TestRedisCollectorSurvivesReset(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	fake := clock.NewFake(start)
	rc, _ := NewRedisCollector(rdb, WithRedisClock(fake))
	for range 50 {
		rdb.Get(ctx, "missing")
	}
	if _, err := rc.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.Get(ctx, "missing")
	fake.Advance(time.Second)
	got, err := rc.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m := samplesByName(got)[SignalRedisMisses]; m != 1 {
		t.Errorf("misses after reset = %v/s, want 1 (counted from zero)", m)
	}
}

type failingInfoer struct{}

func (failingInfoer) Info(ctx context.Context, _ ...string) *redis.StringCmd {
	cmd := redis.NewStringCmd(ctx, "info")
	cmd.SetErr(errors.New("connection refused"))
	return cmd
}

func TestRedisCollectorError(t *testing.T) {
	rc, _ := NewRedisCollector(failingInfoer{})
	if _, err := rc.Collect(context.Background()); err == nil {
		t.Error("Collect succeeded with a failing client")
	}
}

// lockProbe is a RedisInfoer that checks, on every INFO, that the
// collector holds its lock while reading.
type lockProbe struct {
	t  *testing.T
	rc *RedisCollector
	n  int
}

func (p *lockProbe) Info(ctx context.Context, _ ...string) *redis.StringCmd {
	if p.rc.mu.TryLock() {
		p.rc.mu.Unlock()
		p.t.Error("INFO was read outside the collector's lock")
	}
	p.n++
	cmd := redis.NewStringCmd(ctx, "info")
	cmd.SetVal(fmt.Sprintf("# Stats\r\ntotal_commands_processed:%d\r\nkeyspace_hits:%d\r\nkeyspace_misses:0\r\n", 100*p.n, 10*p.n))
	return cmd
}

// Two Collects that read INFO concurrently can apply the results out of
// order: the older counters then look lower than the newer ones, which
// the collector takes for a counter reset and turns into a false spike.
// So the read must happen under the lock that orders the deltas.
func TestRedisCollectorSerialisesReads(t *testing.T) {
	probe := &lockProbe{t: t}
	fake := clock.NewFake(start)
	rc, err := NewRedisCollector(probe, WithRedisClock(fake))
	if err != nil {
		t.Fatal(err)
	}
	probe.rc = rc
	for range 2 {
		if _, err := rc.Collect(context.Background()); err != nil {
			t.Fatal(err)
		}
		fake.Advance(time.Second)
	}
}

// oldInfoServer answers INFO as Redis 6 does: one section at most, and a
// syntax error for more.
type oldInfoServer struct {
	multi, plain int
}

func (s *oldInfoServer) Info(ctx context.Context, sections ...string) *redis.StringCmd {
	cmd := redis.NewStringCmd(ctx, "info")
	if len(sections) > 1 {
		s.multi++
		cmd.SetErr(redisProtoError("ERR syntax error"))
		return cmd
	}
	s.plain++
	cmd.SetVal("# Memory\r\nused_memory:1000\r\n# Stats\r\ntotal_commands_processed:10\r\nkeyspace_hits:1\r\nkeyspace_misses:1\r\n# Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\n")
	return cmd
}

// redisProtoError is an error reply of the server, as go-redis returns it.
type redisProtoError string

func (e redisProtoError) Error() string { return string(e) }
func (redisProtoError) RedisError()     {}

// Servers before Redis 7.0 reject INFO with several sections; the
// collector falls back to plain INFO once and keeps using it.
func TestRedisCollectorOldServer(t *testing.T) {
	srv := &oldInfoServer{}
	rc, err := NewRedisCollector(srv, WithRedisClock(clock.NewFake(start)))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		got, err := rc.Collect(context.Background())
		if err != nil {
			t.Fatalf("Collect() error = %v, want a fallback to plain INFO", err)
		}
		if keys := samplesByName(got)[SignalRedisKeys]; keys != 5 {
			t.Errorf("keys = %v, want 5", keys)
		}
	}
	if srv.multi != 1 || srv.plain != 3 {
		t.Errorf("server got %d multi-section and %d plain INFO calls, want 1 and 3", srv.multi, srv.plain)
	}
}
