package costlint

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/redisinfo"
	"github.com/upstash-ops/sdk/internal/redistest"
)

// An EXPIRE with a TTL of zero or less, or an EXPIREAT in the past, deletes
// the key at once. A floor must not turn that delete into a new TTL.
func TestTTLFloorKeepsExpireDeletes(t *testing.T) {
	rdb, l, _ := newRealClient(t, WithTTLFloor(TTLFloor{Pattern: "cache:{id}", Min: time.Minute}))
	ctx := context.Background()

	for _, expire := range []func(key string) error{
		func(key string) error { return rdb.Expire(ctx, key, 0).Err() },
		func(key string) error { return rdb.Do(ctx, "expire", key, -1).Err() },
		func(key string) error { return rdb.Do(ctx, "pexpire", key, 0).Err() },
	} {
		mustNoErr(t, rdb.Set(ctx, "cache:9", "v", 0).Err())
		mustNoErr(t, expire("cache:9"))
		if n, _ := rdb.Exists(ctx, "cache:9").Result(); n != 0 {
			ttl, _ := rdb.TTL(ctx, "cache:9").Result()
			t.Errorf("cache:9 still exists with TTL %v after an expiring EXPIRE, want it deleted", ttl)
		}
	}
	if got := l.Snapshot().TTLFloorRewrites; got != 0 {
		t.Errorf("rewrites = %d, want 0", got)
	}
}

func TestTTLFloorKeepsPastExpireAt(t *testing.T) {
	ctx := context.Background()
	l := New(WithClock(clock.NewFake(epoch)), WithTTLFloor(TTLFloor{Pattern: "cache:{id}", Min: 30 * time.Second}))
	process := l.Hook().ProcessHook(okNext)

	past := epoch.Unix() - 10
	cmd := redis.NewBoolCmd(ctx, "expireat", "cache:1", past)
	_ = process(ctx, cmd)
	if got := cmd.Args()[2]; got != past {
		t.Errorf("EXPIREAT argument = %v, want %v unchanged (a past time deletes the key)", got, past)
	}
	pcmd := redis.NewStatusCmd(ctx, "set", "cache:2", "v", "pxat", epoch.UnixMilli()-1)
	_ = process(ctx, pcmd)
	if got := pcmd.Args()[4]; got != epoch.UnixMilli()-1 {
		t.Errorf("SET PXAT argument = %v, want it unchanged", got)
	}
}

// The value of SET sits where GETEX has its first option, so a value
// spelled like an option must not be read as one.
func TestTTLFloorSetValueNamedEX(t *testing.T) {
	ctx := context.Background()
	l := New(WithClock(clock.NewFake(epoch)), WithTTLFloor(TTLFloor{Pattern: "cache:{id}", Min: 30 * time.Second}))
	process := l.Hook().ProcessHook(okNext)

	cmd := redis.NewStatusCmd(ctx, "set", "cache:1", "ex", "ex", 1)
	_ = process(ctx, cmd)
	if got := cmd.Args()[4]; got != int64(30) {
		t.Errorf("SET EX argument = %v (%T), want 30 from the floor", got, got)
	}
}

// A few commands in a few milliseconds project to thousands of dollars a
// month, so the report must say how thin its evidence is.
func TestReportFlagsShortWindow(t *testing.T) {
	ctx := context.Background()
	fake := clock.NewFake(epoch)
	l := New(WithClock(fake))
	process := l.Hook().ProcessHook(okNext)
	for range 50 {
		_ = process(ctx, redis.NewStringCmd(ctx, "get", "k"))
	}
	fake.Advance(5 * time.Millisecond)

	rep := l.Report()
	if rep.CostPerMonth < 1000 {
		t.Fatalf("cost a month = %.2f, want the raw projection above $1,000 for this test to mean anything", rep.CostPerMonth)
	}
	if !rep.ShortWindow {
		t.Errorf("ShortWindow = false for a 5ms window, want true")
	}
	var text, md strings.Builder
	mustNoErr(t, rep.WriteText(&text))
	mustNoErr(t, rep.WriteMarkdown(&md))
	for name, out := range map[string]string{"text": text.String(), "Markdown": md.String()} {
		if !strings.Contains(out, "rough estimate") {
			t.Errorf("%s report of a 5ms window has no caution about the projection:\n%s", name, out)
		}
	}

	fake.Advance(time.Minute)
	long := l.Report()
	if long.ShortWindow {
		t.Errorf("ShortWindow = true for a window of %.0fs, want false", long.WindowSeconds)
	}
	text.Reset()
	mustNoErr(t, long.WriteText(&text))
	if strings.Contains(text.String(), "rough estimate") {
		t.Errorf("text report of a one-minute window carries the short-window caution")
	}
}

// TestSecretsRealServer sends the password the ways a real application
// does: in the client's Options, in AUTH and HELLO, and as an argument of
// CONFIG SET, ACL SETUSER and MIGRATE. None of it may reach a report or a
// debug log.
func TestSecretsRealServer(t *testing.T) {
	const password = "Pw-9f2c41d7e0b3a8"
	// redistest's readiness PING cannot authenticate, so the password is
	// set once the server answers.
	srv := redistest.Start(t)
	mustNoErr(t, srv.Client(t).ConfigSet(context.Background(), "requirepass", password).Err())
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rdb := srv.Client(t, func(o *redis.Options) { o.Password = password })
	l := Instrument(rdb, WithLogger(logger))
	ctx := context.Background()

	mustNoErr(t, rdb.Set(ctx, "user:1:name", "ann", 0).Err())
	mustNoErr(t, rdb.Do(ctx, "auth", password).Err())
	mustNoErr(t, rdb.Do(ctx, "hello", 3, "auth", "default", password).Err())
	mustNoErr(t, rdb.ConfigSet(ctx, "requirepass", password).Err())
	mustNoErr(t, rdb.Do(ctx, "acl", "setuser", "app", "on", ">"+password, "~*", "+@all").Err())
	_ = rdb.Do(ctx, "migrate", "127.0.0.1", "1", "", "0", "10", "auth", password, "keys", "user:1:name").Err()
	_ = rdb.Do(ctx, "auth", "wrong-"+password).Err()

	for name, write := range map[string]func(*Report, *strings.Builder) error{
		"text":     func(r *Report, b *strings.Builder) error { return r.WriteText(b) },
		"Markdown": func(r *Report, b *strings.Builder) error { return r.WriteMarkdown(b) },
		"JSON":     func(r *Report, b *strings.Builder) error { return r.WriteJSON(b) },
	} {
		var out strings.Builder
		mustNoErr(t, write(l.Report(), &out))
		if strings.Contains(out.String(), password) {
			t.Errorf("%s report contains the password:\n%s", name, out.String())
		}
	}
	if snap := fmt.Sprintf("%+v", *l.Snapshot()); strings.Contains(snap, password) {
		t.Errorf("snapshot contains the password: %s", snap)
	}
	if strings.Contains(logs.String(), password) {
		t.Errorf("log contains the password:\n%s", logs.String())
	}
}

// TestCallsMatchServerCommandStats drives singles, pipelines and
// transactions through a Client and a Ring and compares every command's
// recorded calls with the calls redis-server itself counted.
func TestCallsMatchServerCommandStats(t *testing.T) {
	ctx := context.Background()
	workload := func(t *testing.T, rdb redis.UniversalClient) {
		t.Helper()
		for i := range 5 {
			mustNoErr(t, rdb.Set(ctx, fmt.Sprintf("user:%d", i), i, 0).Err())
		}
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range 7 {
				p.Get(ctx, fmt.Sprintf("user:%d", i%5))
			}
			p.Incr(ctx, "hits")
			return nil
		})
		mustNoErr(t, err)
		for range 3 {
			_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, "hits")
				p.MGet(ctx, "user:1", "user:2")
				return nil
			})
			mustNoErr(t, err)
		}
		_, _ = rdb.Pipelined(ctx, func(redis.Pipeliner) error { return nil }) // empty: nothing sent
	}
	check := func(t *testing.T, srv *redistest.Server, s *Snapshot) {
		t.Helper()
		text, err := srv.Client(t).Info(ctx, "commandstats").Result()
		mustNoErr(t, err)
		info, err := redisinfo.Parse(text)
		mustNoErr(t, err)
		server := map[string]uint64{}
		for _, c := range info.CommandStats() {
			server[c.Name] = uint64(c.Calls)
		}
		for _, name := range []string{"set", "get", "incr", "mget", "multi", "exec"} {
			if got, want := commandTotal(s, name).Calls, server[name]; got != want {
				t.Errorf("%s calls recorded = %d, server counted %d", name, got, want)
			}
		}
		// 5 SET + 7 GET + 4 INCR + 3 MGET + 3 MULTI + 3 EXEC, plus the
		// connection handshake's CLIENT command, which a Client records
		// and a Ring's per-shard hook does not.
		if billed := s.BilledCommands - commandTotal(s, "client").Billed; billed != 25 {
			t.Errorf("billed without the handshake = %d, want 25; commands: %+v", billed, s.Commands)
		}
	}

	t.Run("client", func(t *testing.T) {
		srv := redistest.Start(t)
		rdb := srv.Client(t)
		l := Instrument(rdb, WithClock(clock.NewFake(epoch)))
		workload(t, rdb)
		check(t, srv, l.Snapshot())
	})
	t.Run("ring", func(t *testing.T) {
		srv := redistest.Start(t)
		rdb := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": srv.Addr()}, DisableIdentity: true})
		t.Cleanup(func() { _ = rdb.Close() })
		l := Instrument(rdb, WithClock(clock.NewFake(epoch)))
		workload(t, rdb)
		check(t, srv, l.Snapshot())
	})
}

// TestHookOddCommands sends malformed and empty commands through the hook,
// singly and in a pipeline, with a TTL floor on, and then builds every
// report format. None of it may panic.
func TestHookOddCommands(t *testing.T) {
	ctx := context.Background()
	l := New(WithClock(clock.NewFake(epoch)), WithTTLFloor(TTLFloor{Pattern: "", Min: time.Minute}))
	hook := l.Hook()
	process := hook.ProcessHook(okNext)
	pipeline := hook.ProcessPipelineHook(func(context.Context, []redis.Cmder) error { return nil })

	odd := func() []redis.Cmder {
		return []redis.Cmder{
			redis.NewCmd(ctx),
			redis.NewCmd(ctx, nil),
			redis.NewCmd(ctx, "get", nil),
			redis.NewCmd(ctx, "set"),
			redis.NewCmd(ctx, "set", "", "", "ex"),
			redis.NewCmd(ctx, "set", "", "v", "ex", nil),
			redis.NewCmd(ctx, "set", "k", "v", "exat", "not-a-number"),
			redis.NewCmd(ctx, "expire", "", "-9223372036854775808"),
			redis.NewCmd(ctx, "pexpireat", "", int64(9223372036854775807)),
			redis.NewCmd(ctx, "getex", ""),
			redis.NewCmd(ctx, "eval"),
			redis.NewCmd(ctx, "eval", "return 1", "x"),
			redis.NewCmd(ctx, "evalsha", "", -1),
			redis.NewCmd(ctx, "mset", "k"),
			redis.NewCmd(ctx, "xread", "block"),
			redis.NewCmd(ctx, "brpop", "q", "nan"),
			redis.NewCmd(ctx, "scan", "0", "count", "-5"),
			redis.NewCmd(ctx, "zadd", "z", "1"),
			redis.NewCmd(ctx, "hello"),
			redis.NewCmd(ctx, "auth"),
			redis.NewCmd(ctx, "", "k"),
			redis.NewCmd(ctx, []byte{0xff, 0}, []byte{}),
			redis.NewCmd(ctx, "MULTI"),
		}
	}
	for _, cmd := range odd() {
		_ = process(ctx, cmd)
	}
	_ = pipeline(ctx, odd())
	_ = pipeline(ctx, nil)

	rep := l.Report()
	var out strings.Builder
	mustNoErr(t, rep.WriteText(&out))
	mustNoErr(t, rep.WriteMarkdown(&out))
	mustNoErr(t, rep.WriteJSON(&out))
	if len(rep.RuleErrors) > 0 {
		t.Errorf("rules panicked on odd commands: %v", rep.RuleErrors)
	}
}

// TestClusterClientRealServer runs a one-node cluster that owns every
// slot and checks that a ClusterClient's singles, pipelines and
// transactions are recorded once each, as the node itself counts them.
func TestClusterClientRealServer(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.WithConfig("cluster-enabled", "yes"))
	mustNoErr(t, srv.Client(t).Do(ctx, "cluster", "addslotsrange", 0, 16383).Err())

	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr()}, DisableIdentity: true})
	t.Cleanup(func() { _ = rdb.Close() })
	// The cluster answers writes only once its state is ok.
	for i := 0; ; i++ {
		if err := rdb.Set(ctx, "warmup", 1, 0).Err(); err == nil {
			break
		} else if i == 200 {
			t.Fatalf("cluster did not accept writes: %v", err)
		}
		_ = clock.Sleep(ctx, clock.Real, 10*time.Millisecond)
	}
	mustNoErr(t, srv.Client(t).ConfigResetStat(ctx).Err())
	l := Instrument(rdb, WithClock(clock.NewFake(epoch)))

	for i := range 5 {
		mustNoErr(t, rdb.Get(ctx, fmt.Sprintf("{u}:%d", i)).Err())
	}
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 4 {
			p.Incr(ctx, fmt.Sprintf("{u}:%d", i))
		}
		return nil
	})
	mustNoErr(t, err)
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "{u}:c")
		p.Expire(ctx, "{u}:c", time.Minute)
		return nil
	})
	mustNoErr(t, err)

	s := l.Snapshot()
	text, err := srv.Client(t).Info(ctx, "commandstats").Result()
	mustNoErr(t, err)
	info, err := redisinfo.Parse(text)
	mustNoErr(t, err)
	server := map[string]uint64{}
	for _, c := range info.CommandStats() {
		server[c.Name] = uint64(c.Calls)
	}
	if server["get"] != 5 || server["incr"] != 5 {
		t.Errorf("server counted GET %d, INCR %d; want 5 and 5", server["get"], server["incr"])
	}
	for _, name := range []string{"get", "incr", "expire", "multi", "exec"} {
		if got, want := commandTotal(s, name).Calls, server[name]; got != want {
			t.Errorf("%s calls recorded = %d, server counted %d", name, got, want)
		}
	}
}

// An EXPIRE with a negative TTL deletes the key. It is not a TTL the app
// chose, so it must not drag the pattern's TTL statistics down.
func TestTTLStatsIgnoreDeletes(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()
	for i := range 20 {
		key := fmt.Sprintf("cache:%d", i)
		mustNoErr(t, rdb.Set(ctx, key, "v", 2*time.Second).Err())
		mustNoErr(t, rdb.Do(ctx, "expire", key, -1).Err())
		fake.Advance(time.Second)
	}
	for _, p := range l.Snapshot().Patterns {
		if p.Pattern != "cache:{id}" {
			continue
		}
		if p.TTLMin != 2*time.Second || p.TTLMean != 2*time.Second {
			t.Errorf("TTL min %v, mean %v; want 2s and 2s from the SET EX calls", p.TTLMin, p.TTLMean)
		}
		return
	}
	t.Fatal("no cache:{id} pattern in the snapshot")
}

// Findings overlap: the GETs an MGET removes are the same GETs a hot-key
// cache removes. The report's total must never claim more than the bill.
func TestSavingsNeverExceedCost(t *testing.T) {
	rdb, l, fake := newRealClient(t)
	ctx := context.Background()
	for i := range 200 {
		key := fmt.Sprintf("cache:%d", i%5)
		_ = rdb.Get(ctx, key).Err()
		mustNoErr(t, rdb.Set(ctx, key, "v", 2*time.Second).Err())
		mustNoErr(t, rdb.Do(ctx, "expire", key, -1).Err())
		fake.Advance(50 * time.Millisecond)
	}
	rep := l.Report()
	if rep.MonthlySavings > rep.CostPerMonth {
		t.Errorf("savings %.2f a month exceed the whole bill of %.2f", rep.MonthlySavings, rep.CostPerMonth)
	}
}
