package costlint

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
)

// BenchmarkProcessHook measures the hook around a stub next function, so
// the number is the hook's own cost per command.
func BenchmarkProcessHook(b *testing.B) {
	ctx := context.Background()
	stub := func(ctx context.Context, cmd redis.Cmder) error { return nil }
	cmd := redis.NewStringCmd(ctx, "get", "user:8412:profile")

	b.Run("none", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = stub(ctx, cmd)
		}
	})
	b.Run("costlint", func(b *testing.B) {
		process := New().Hook().ProcessHook(stub)
		b.ReportAllocs()
		for b.Loop() {
			_ = process(ctx, cmd)
		}
	})
	b.Run("costlint-scoped", func(b *testing.B) {
		// Under a Scope the hook does not read the clock for GET.
		process := New().Hook().ProcessHook(stub)
		scoped := WithScope(ctx)
		b.ReportAllocs()
		for b.Loop() {
			_ = process(scoped, cmd)
		}
	})
	b.Run("costlint-many-keys", func(b *testing.B) {
		// 100,000 distinct keys overflow the key-pattern cache, so most
		// commands pay for normalising their key.
		process := New().Hook().ProcessHook(stub)
		cmds := make([]redis.Cmder, 100_000)
		for i := range cmds {
			cmds[i] = redis.NewStringCmd(ctx, "get", fmt.Sprintf("user:%d:profile", i))
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = process(ctx, cmds[i%len(cmds)])
			i++
		}
	})
	b.Run("costlint-parallel", func(b *testing.B) {
		process := New().Hook().ProcessHook(stub)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = process(ctx, cmd)
			}
		})
	})
}

// stopHook completes every command without a server, so that a benchmark of a
// real client measures go-redis and the hooks above it.
type stopHook struct{}

func (stopHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (stopHook) ProcessHook(redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { return nil }
}
func (stopHook) ProcessPipelineHook(redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { return nil }
}

// BenchmarkClientGet measures rdb.Get through a real *redis.Client whose
// last hook completes it without a server, with and without costlint.
func BenchmarkClientGet(b *testing.B) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		hooks func(*redis.Client)
	}{
		{"none", func(*redis.Client) {}},
		{"costlint", func(rdb *redis.Client) { Instrument(rdb) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
			defer rdb.Close()
			tc.hooks(rdb)
			rdb.AddHook(stopHook{})
			b.ReportAllocs()
			for b.Loop() {
				_ = rdb.Get(ctx, "user:8412:profile")
			}
		})
	}
}
