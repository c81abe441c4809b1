package costlint

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/clock"
)

func okNext(context.Context, redis.Cmder) error { return nil }

func okPipeline(context.Context, []redis.Cmder) error { return nil }

func siteFor(t *testing.T, s *Snapshot, command string) Site {
	t.Helper()
	for _, site := range s.Sites {
		if site.Command == command {
			return site
		}
	}
	t.Fatalf("no site for %s in %+v", command, s.Sites)
	return Site{}
}

func siteCount(s *Snapshot, command string) int {
	n := 0
	for _, site := range s.Sites {
		if site.Command == command {
			n++
		}
	}
	return n
}

func commandTotal(s *Snapshot, name string) CommandTotal {
	for _, c := range s.Commands {
		if c.Name == name {
			return c
		}
	}
	return CommandTotal{}
}

func TestProcessHookRecordsCommand(t *testing.T) {
	ctx := context.Background()
	l := New(WithClock(clock.NewFake(epoch)))
	process := l.Hook().ProcessHook(func(ctx context.Context, cmd redis.Cmder) error {
		cmd.(*redis.StringCmd).SetVal("hello")
		return nil
	})

	cmd := redis.NewStringCmd(ctx, "get", "user:8412:profile")
	if err := process(ctx, cmd); err != nil {
		t.Fatal(err)
	}

	s := l.Snapshot()
	site := siteFor(t, s, "get")
	if site.Pattern != "user:{id}:profile" {
		t.Errorf("pattern = %q, want user:{id}:profile", site.Pattern)
	}
	if site.Mode != Single {
		t.Errorf("mode = %v, want single", site.Mode)
	}
	if site.Calls != 1 || site.Keys != 1 {
		t.Errorf("calls, keys = %d, %d; want 1, 1", site.Calls, site.Keys)
	}
	if site.ReplyBytes != 5 {
		t.Errorf("reply bytes = %d, want 5", site.ReplyBytes)
	}
	if site.ArgBytes != uint64(len("get")+len("user:8412:profile")) {
		t.Errorf("arg bytes = %d", site.ArgBytes)
	}
	if !strings.Contains(site.CallSite, "TestProcessHookRecordsCommand") {
		t.Errorf("call site = %q, want this test", site.CallSite)
	}
	if s.BilledCommands != 1 {
		t.Errorf("billed = %d, want 1", s.BilledCommands)
	}
}

func TestProcessHookCountsErrorsAndNils(t *testing.T) {
	ctx := context.Background()
	l := New()
	boom := errors.New("READONLY")
	results := []error{redis.Nil, boom, nil}
	i := 0
	process := l.Hook().ProcessHook(func(ctx context.Context, cmd redis.Cmder) error {
		err := results[i]
		i++
		return err
	})
	for range results {
		err := process(ctx, redis.NewStringCmd(ctx, "get", "k:1"))
		if err != nil && !errors.Is(err, redis.Nil) && !errors.Is(err, boom) {
			t.Fatalf("hook changed the error: %v", err)
		}
	}
	site := siteFor(t, l.Snapshot(), "get")
	if site.Nils != 1 || site.Errors != 1 || site.Calls != 3 {
		t.Errorf("nils, errors, calls = %d, %d, %d; want 1, 1, 3", site.Nils, site.Errors, site.Calls)
	}
	if got := commandTotal(l.Snapshot(), "get").Errors; got != 1 {
		t.Errorf("command errors = %d, want 1 (redis.Nil is not an error)", got)
	}
}

func TestPipelineHookModes(t *testing.T) {
	ctx := context.Background()
	l := New()
	pipeline := l.Hook().ProcessPipelineHook(okPipeline)

	plain := []redis.Cmder{redis.NewStringCmd(ctx, "get", "a:1"), redis.NewStringCmd(ctx, "get", "a:2")}
	if err := pipeline(ctx, plain); err != nil {
		t.Fatal(err)
	}
	// go-redis hands a TxPipeline to the hook wrapped in MULTI and EXEC.
	tx := []redis.Cmder{
		redis.NewStatusCmd(ctx, "multi"),
		redis.NewIntCmd(ctx, "incr", "c:1"),
		redis.NewSliceCmd(ctx, "exec"),
	}
	if err := pipeline(ctx, tx); err != nil {
		t.Fatal(err)
	}

	s := l.Snapshot()
	modes := map[string]Mode{}
	for _, site := range s.Sites {
		modes[site.Command] = site.Mode
	}
	want := map[string]Mode{"get": Pipeline, "multi": Tx, "incr": Tx, "exec": Tx}
	for cmd, mode := range want {
		if modes[cmd] != mode {
			t.Errorf("mode of %s = %v, want %v", cmd, modes[cmd], mode)
		}
	}
	// Every command in a pipeline or transaction is billed, MULTI and
	// EXEC included.
	if s.BilledCommands != 5 {
		t.Errorf("billed = %d, want 5", s.BilledCommands)
	}
}

func TestFreeCommandsNotBilled(t *testing.T) {
	ctx := context.Background()
	l := New()
	process := l.Hook().ProcessHook(okNext)
	for _, name := range []string{"auth", "hello", "select", "command", "config", "info", "ping", "reset", "quit"} {
		_ = process(ctx, redis.NewCmd(ctx, name))
	}
	_ = process(ctx, redis.NewStringCmd(ctx, "get", "k"))
	s := l.Snapshot()
	if s.BilledCommands != 1 {
		t.Errorf("billed = %d, want 1 (only GET)", s.BilledCommands)
	}
	if c := commandTotal(s, "ping"); c.Calls != 1 || !c.Free || c.Billed != 0 {
		t.Errorf("ping total = %+v, want 1 free call", c)
	}
}

func TestSecretsNeverStored(t *testing.T) {
	const password = "s3cr3t-Pa55word"
	ctx := context.Background()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	broken := NewRule("broken", func(*Snapshot) []Finding { panic("rule bug") })
	l := New(WithClock(clock.NewFake(epoch)), WithLogger(logger), WithExtraRules(broken))
	process := l.Hook().ProcessHook(func(ctx context.Context, cmd redis.Cmder) error {
		return errors.New("WRONGPASS invalid username-password pair " + password)
	})
	_ = process(ctx, redis.NewStatusCmd(ctx, "auth", "default", password))
	_ = process(ctx, redis.NewMapStringInterfaceCmd(ctx, "hello", 3, "auth", "default", password, "setname", "app"))
	_ = process(ctx, redis.NewStatusCmd(ctx, "AUTH", password))

	rep := l.Report()
	var out bytes.Buffer
	for _, write := range []func(*bytes.Buffer) error{
		func(b *bytes.Buffer) error { return rep.WriteText(b) },
		func(b *bytes.Buffer) error { return rep.WriteMarkdown(b) },
		func(b *bytes.Buffer) error { return rep.WriteJSON(b) },
	} {
		if err := write(&out); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(out.String(), password) {
		t.Errorf("report contains the AUTH password:\n%s", out.String())
	}
	if logs.Len() == 0 {
		t.Error("the broken rule was not logged, so the log check proves nothing")
	}
	if strings.Contains(logs.String(), password) {
		t.Errorf("log contains the AUTH password:\n%s", logs.String())
	}
	s := l.Snapshot()
	for _, p := range s.Patterns {
		if strings.Contains(p.Pattern, password) || strings.Contains(p.Pattern, "default") {
			t.Errorf("pattern %q stores an AUTH argument", p.Pattern)
		}
	}
	for _, h := range s.HotKeys {
		if strings.Contains(h.Key, password) {
			t.Errorf("hot key %q stores the password", h.Key)
		}
	}
}

func TestCapsCountOverflow(t *testing.T) {
	ctx := context.Background()
	l := New(WithMaxPatterns(1), WithMaxCallSites(2))
	process := l.Hook().ProcessHook(okNext)
	for _, key := range []string{"a:1", "b:1", "c:1", "d:1"} {
		_ = process(ctx, redis.NewStringCmd(ctx, "get", key))
	}
	s := l.Snapshot()
	if s.Overflow.Patterns != 3 {
		t.Errorf("pattern overflow = %d, want 3 (b, c, d past a cap of 1)", s.Overflow.Patterns)
	}
	if s.BilledCommands != 4 {
		t.Errorf("billed = %d, want 4: overflow is still billed", s.BilledCommands)
	}
	for i := range 5 {
		_ = process(ctx, redis.NewStringCmd(ctx, "set", "a:1", i))
		_ = process(ctx, redis.NewIntCmd(ctx, "incr", "a:1"))
	}
	s = l.Snapshot()
	if len(s.Sites) != 2 {
		t.Errorf("sites = %d, want the cap of 2", len(s.Sites))
	}
	if s.Overflow.CallSites == 0 {
		t.Error("call-site overflow not counted")
	}
	rep := l.ReportFrom(s)
	var out bytes.Buffer
	_ = rep.WriteText(&out)
	if !strings.Contains(out.String(), "past the call-site cap") {
		t.Errorf("text report does not mention the overflow:\n%s", out.String())
	}
}

func TestDialHookCountsConnections(t *testing.T) {
	ctx := context.Background()
	l := New()
	fail := true
	dial := l.Hook().DialHook(func(ctx context.Context, network, addr string) (net.Conn, error) {
		if fail {
			return nil, errors.New("connection refused")
		}
		c1, c2 := net.Pipe()
		c2.Close()
		return c1, nil
	})
	if _, err := dial(ctx, "tcp", "127.0.0.1:1"); err == nil {
		t.Fatal("dial error swallowed")
	}
	fail = false
	conn, err := dial(ctx, "tcp", "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	s := l.Snapshot()
	if s.Dials != 2 || s.DialErrors != 1 {
		t.Errorf("dials, errors = %d, %d; want 2, 1", s.Dials, s.DialErrors)
	}
}

func TestLuaScriptBilling(t *testing.T) {
	ctx := context.Background()
	script := "redis.call('INCR', KEYS[1]); return redis.call('GET', KEYS[1])"
	sha := scriptSHA(script)
	l := New()
	process := l.Hook().ProcessHook(okNext)

	_ = process(ctx, redis.NewCmd(ctx, "eval", script, 1, "k"))
	_ = process(ctx, redis.NewCmd(ctx, "evalsha", sha, 1, "k"))
	_ = process(ctx, redis.NewCmd(ctx, "evalsha", strings.Repeat("a", 40), 0))

	s := l.Snapshot()
	// EVAL: 1 + 2 inner calls; EVALSHA of the learned script: 1 + 2;
	// EVALSHA of a script never seen: 1.
	if s.BilledCommands != 7 {
		t.Errorf("billed = %d, want 7", s.BilledCommands)
	}
	if s.Overflow.UnknownScripts != 1 {
		t.Errorf("unknown scripts = %d, want 1", s.Overflow.UnknownScripts)
	}

	declared := New(WithScriptCalls(script, 10))
	process = declared.Hook().ProcessHook(okNext)
	_ = process(ctx, redis.NewCmd(ctx, "evalsha", sha, 1, "k"))
	if got := declared.Snapshot().BilledCommands; got != 11 {
		t.Errorf("billed with 10 declared calls = %d, want 11", got)
	}
}

func TestTTLFloorRewritesArguments(t *testing.T) {
	ctx := context.Background()
	l := New(WithClock(clock.NewFake(epoch)), WithTTLFloor(TTLFloor{Pattern: "cache:42", Min: 30 * time.Second}))
	process := l.Hook().ProcessHook(okNext)

	tests := []struct {
		name string
		cmd  redis.Cmder
		idx  int
		want any
	}{
		{"set ex", redis.NewStatusCmd(ctx, "set", "cache:1", "v", "ex", 1), 4, int64(30)},
		{"set px", redis.NewStatusCmd(ctx, "set", "cache:2", "v", "px", 500), 4, int64(30000)},
		{"setex", redis.NewStatusCmd(ctx, "setex", "cache:3", 5, "v"), 2, int64(30)},
		{"expire", redis.NewBoolCmd(ctx, "expire", "cache:4", 2), 2, int64(30)},
		{"long ttl kept", redis.NewStatusCmd(ctx, "set", "cache:5", "v", "ex", 600), 4, 600},
		{"set exat", redis.NewStatusCmd(ctx, "set", "cache:6", "v", "exat", epoch.Unix()+5), 4, epoch.Unix() + 30},
		{"pexpireat", redis.NewBoolCmd(ctx, "pexpireat", "cache:7", epoch.UnixMilli()+10), 2, epoch.UnixMilli() + 30_000},
		{"far exat kept", redis.NewStatusCmd(ctx, "set", "cache:8", "v", "exat", epoch.Unix()+3600), 4, epoch.Unix() + 3600},
		{"other pattern kept", redis.NewStatusCmd(ctx, "set", "session:5", "v", "ex", 1), 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_ = process(ctx, tt.cmd)
			if got := tt.cmd.Args()[tt.idx]; got != tt.want {
				t.Errorf("TTL argument = %v (%T), want %v (%T)", got, got, tt.want, tt.want)
			}
		})
	}
	if got := l.Snapshot().TTLFloorRewrites; got != 6 {
		t.Errorf("rewrites = %d, want 6", got)
	}
}

func TestTTLFloorOffByDefault(t *testing.T) {
	ctx := context.Background()
	process := New().Hook().ProcessHook(okNext)
	cmd := redis.NewStatusCmd(ctx, "set", "cache:1", "v", "ex", 1)
	_ = process(ctx, cmd)
	if got := cmd.Args()[4]; got != 1 {
		t.Errorf("TTL argument = %v, want 1 unchanged", got)
	}
}

func TestResetStartsNewWindow(t *testing.T) {
	ctx := context.Background()
	fake := clock.NewFake(epoch)
	l := New(WithClock(fake))
	process := l.Hook().ProcessHook(okNext)
	_ = process(ctx, redis.NewStringCmd(ctx, "get", "k"))
	fake.Advance(time.Minute)
	l.Reset()
	fake.Advance(time.Second)
	s := l.Snapshot()
	if s.BilledCommands != 0 || s.Window != time.Second {
		t.Errorf("after Reset: billed %d, window %v; want 0, 1s", s.BilledCommands, s.Window)
	}
}

func TestClusterClientHook(t *testing.T) {
	ctx := context.Background()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, DisableIdentity: true})
	defer rdb.Close()
	l := Instrument(rdb)
	rdb.AddHook(stopHook{})

	_ = rdb.Get(ctx, "user:1:name")
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "user:2:name")
		return nil
	})
	s := l.Snapshot()
	if s.BilledCommands != 2 {
		t.Errorf("billed = %d, want 2", s.BilledCommands)
	}
}

func TestRingHook(t *testing.T) {
	ctx := context.Background()
	rdb := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	defer rdb.Close()
	l := Instrument(rdb)
	rdb.AddHook(stopHook{})
	_ = rdb.Get(ctx, "user:1:name")
	s := l.Snapshot()
	if s.BilledCommands != 1 {
		t.Errorf("billed = %d, want 1", s.BilledCommands)
	}
}

func TestTTLFloorRealServer(t *testing.T) {
	rdb, l, _ := newRealClient(t, WithTTLFloor(TTLFloor{Pattern: "cache:{id}", Min: time.Minute}))
	ctx := context.Background()
	mustNoErr(t, rdb.Set(ctx, "cache:7", "v", time.Second).Err())
	mustNoErr(t, rdb.Set(ctx, "other:7", "v", time.Second).Err())

	ttl, err := rdb.TTL(ctx, "cache:7").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl < 59*time.Second || ttl > time.Minute {
		t.Errorf("server TTL of cache:7 = %v, want the 1m floor", ttl)
	}
	if ttl, _ := rdb.TTL(ctx, "other:7").Result(); ttl > time.Second {
		t.Errorf("server TTL of other:7 = %v, want 1s unchanged", ttl)
	}
	if got := l.Snapshot().TTLFloorRewrites; got != 1 {
		t.Errorf("rewrites = %d, want 1", got)
	}
}

func TestSetTTLFloorAtRuntime(t *testing.T) {
	ctx := context.Background()
	l := New()
	process := l.Hook().ProcessHook(okNext)

	before := redis.NewStatusCmd(ctx, "set", "cache:1", "v", "ex", 1)
	_ = process(ctx, before)
	l.SetTTLFloor(TTLFloor{Pattern: "cache:{id}", Min: 10 * time.Second})
	after := redis.NewStatusCmd(ctx, "set", "cache:2", "v", "ex", 1)
	_ = process(ctx, after)
	l.SetTTLFloor(TTLFloor{Pattern: "cache:{id}"}) // Min 0 removes it
	removed := redis.NewStatusCmd(ctx, "set", "cache:3", "v", "ex", 1)
	_ = process(ctx, removed)

	if got := before.Args()[4]; got != 1 {
		t.Errorf("TTL before the floor = %v, want 1", got)
	}
	if got := after.Args()[4]; got != int64(10) {
		t.Errorf("TTL under the floor = %v, want 10", got)
	}
	if got := removed.Args()[4]; got != 1 {
		t.Errorf("TTL after removal = %v, want 1", got)
	}
	if got := l.TTLFloors(); len(got) != 0 {
		t.Errorf("floors after removal = %v, want none", got)
	}
}

func TestRotateKeepsEveryCommand(t *testing.T) {
	ctx := context.Background()
	fake := clock.NewFake(epoch)
	l := New(WithClock(fake))
	process := l.Hook().ProcessHook(okNext)

	_ = process(ctx, redis.NewStringCmd(ctx, "get", "a"))
	fake.Advance(time.Second)
	first := l.Rotate()
	_ = process(ctx, redis.NewStringCmd(ctx, "get", "b"))
	_ = process(ctx, redis.NewStringCmd(ctx, "get", "c"))
	fake.Advance(time.Second)
	second := l.Rotate()

	if first.CommandsObserved != 1 || second.CommandsObserved != 2 {
		t.Errorf("windows observed %d and %d commands, want 1 and 2", first.CommandsObserved, second.CommandsObserved)
	}
	if !second.Start.Equal(first.End) {
		t.Errorf("second window starts %v, want the first's end %v", second.Start, first.End)
	}
}
