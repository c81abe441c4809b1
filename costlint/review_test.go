package costlint

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/clock"
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
