// Package costlint_test compares the cost of costlint's go-redis hook with
// no hook and with redisotel's tracing hook.
package costlint_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/upstash-ops/sdk/costlint"
	"github.com/upstash-ops/sdk/internal/redistest"
)

// stopHook completes every command without a server, so that the stub
// benchmarks measure go-redis and the hooks above it, not the network.
type stopHook struct{}

func (stopHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (stopHook) ProcessHook(redis.ProcessHook) redis.ProcessHook {
	return func(context.Context, redis.Cmder) error { return nil }
}
func (stopHook) ProcessPipelineHook(redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(context.Context, []redis.Cmder) error { return nil }
}

type setup struct {
	name       string
	instrument func(b *testing.B, rdb *redis.Client)
}

// setups are the compared configurations. redisotel traces with a real SDK
// tracer provider that samples every span and exports nowhere, which is
// its cheapest production configuration.
var setups = []setup{
	{"none", func(*testing.B, *redis.Client) {}},
	{"costlint", func(_ *testing.B, rdb *redis.Client) { costlint.Instrument(rdb) }},
	{"redisotel", func(b *testing.B, rdb *redis.Client) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		if err := redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(tp)); err != nil {
			b.Fatal(err)
		}
	}},
}

// BenchmarkHookStub measures one GET through a client whose last hook
// completes it without a server: the difference to "none" is the hook's cost.
func BenchmarkHookStub(b *testing.B) {
	ctx := context.Background()
	for _, s := range setups {
		b.Run(s.name, func(b *testing.B) {
			rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DisableIdentity: true})
			b.Cleanup(func() { _ = rdb.Close() })
			s.instrument(b, rdb)
			rdb.AddHook(stopHook{})
			b.ReportAllocs()
			for b.Loop() {
				_ = rdb.Get(ctx, "user:8412:profile").Err()
			}
		})
	}
}

// BenchmarkHookStubParallel is BenchmarkHookStub from GOMAXPROCS
// goroutines, which shows contention on the hook's aggregates.
func BenchmarkHookStubParallel(b *testing.B) {
	ctx := context.Background()
	for _, s := range setups {
		b.Run(s.name, func(b *testing.B) {
			rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DisableIdentity: true})
			b.Cleanup(func() { _ = rdb.Close() })
			s.instrument(b, rdb)
			rdb.AddHook(stopHook{})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = rdb.Get(ctx, "user:8412:profile").Err()
				}
			})
		})
	}
}

// BenchmarkHookRealServer measures one GET round trip to a redis-server on
// loopback, where the hook is a small share of the total.
func BenchmarkHookRealServer(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Start(b)
	for _, s := range setups {
		b.Run(s.name, func(b *testing.B) {
			rdb := srv.Client(b)
			s.instrument(b, rdb)
			if err := rdb.Set(ctx, "user:8412:profile", "{}", 0).Err(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := rdb.Get(ctx, "user:8412:profile").Err(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
