package costlint

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/redistest"
)

// TestRingRealServers checks that a Ring's commands are recorded once, at
// the ring level, while each shard's connections are counted by the
// per-node dial hook.
func TestRingRealServers(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	rdb := redis.NewRing(&redis.RingOptions{
		Addrs:           map[string]string{"a": a.Addr(), "b": b.Addr()},
		DisableIdentity: true,
	})
	t.Cleanup(func() { _ = rdb.Close() })
	l := Instrument(rdb, WithClock(clock.NewFake(epoch)))
	ctx := context.Background()

	for i := range 40 {
		mustNoErr(t, rdb.Set(ctx, fmt.Sprintf("item:%d", i), i, time.Hour).Err())
	}
	s := l.Snapshot()
	if got := commandTotal(s, "set").Calls; got != 40 {
		t.Errorf("SET calls = %d, want 40 (recorded once per command)", got)
	}
	if s.Dials < 2 {
		t.Errorf("dials = %d, want at least one per shard", s.Dials)
	}
	if got := siteCount(s, "client"); got != 0 {
		t.Errorf("%d handshake CLIENT commands attributed to call sites, want 0", got)
	}
}

// TestScopeGroupsBurst checks that commands under one WithScope context
// form one burst even when the gaps between them exceed the burst gap.
func TestScopeGroupsBurst(t *testing.T) {
	rdb, l, fake := newRealClient(t, WithBurstGap(time.Millisecond))
	ctx := context.Background()

	for range 3 {
		reqCtx := WithScope(ctx)
		for id := range 10 {
			mustNoErr(t, rdb.Get(reqCtx, fmt.Sprintf("user:%d", id)).Err())
			fake.Advance(10 * time.Millisecond) // 10x the burst gap
		}
	}
	// Without a scope the same gaps split every command into its own run.
	for id := range 10 {
		mustNoErr(t, rdb.Get(ctx, fmt.Sprintf("user:%d", id)).Err())
		fake.Advance(10 * time.Millisecond)
	}

	var scoped, unscoped Site
	for _, site := range l.Snapshot().Sites {
		if site.Command != "get" {
			continue
		}
		if site.Calls == 30 {
			scoped = site
		} else {
			unscoped = site
		}
	}
	if scoped.Bursts != 3 || scoped.BurstCalls != 30 || scoped.MaxBurst != 10 {
		t.Errorf("scoped site bursts = %d, calls %d, max %d; want 3, 30, 10", scoped.Bursts, scoped.BurstCalls, scoped.MaxBurst)
	}
	if unscoped.Calls != 10 || unscoped.Bursts != 0 {
		t.Errorf("unscoped site calls %d, bursts %d; want 10, 0", unscoped.Calls, unscoped.Bursts)
	}
}
