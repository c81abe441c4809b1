package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkAllow measures allowed decisions on the shared loopback
// redis-server, one key per goroutine iteration, for each algorithm.
func BenchmarkAllow(b *testing.B) {
	for name, alg := range algorithms(1e9) {
		b.Run(name, func(b *testing.B) {
			l, err := New(server.Client(b), alg, WithTimeout(time.Second))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if res, err := l.Allow(ctx, "bench-"+strconv.Itoa(i%1000)); err != nil || res.Err != nil {
						b.Fatalf("Allow: %v %v", err, res.Err)
					}
				}
			})
		})
	}
}

// BenchmarkAllowInline measures allowed decisions of each algorithm with a
// client that honours context deadlines, so that calls run on the caller's
// goroutine, over 100 keys. Its allocations include go-redis's own.
func BenchmarkAllowInline(b *testing.B) {
	rdb := server.Client(b, func(o *redis.Options) { o.ContextTimeoutEnabled = true })
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = "inline-" + strconv.Itoa(i)
	}
	for name, alg := range algorithms(1e8) {
		b.Run(name, func(b *testing.B) {
			l, err := New(rdb, alg, WithTimeout(time.Second))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if res, err := l.Allow(ctx, keys[i%len(keys)]); err != nil || res.Err != nil || !res.Allowed {
					b.Fatalf("Allow = %+v, %v", res, err)
				}
			}
		})
	}
}

// BenchmarkAllowDenyCache measures denials served by the deny cache.
func BenchmarkAllowDenyCache(b *testing.B) {
	l, err := New(server.Client(b), FixedWindow(0, time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, _ := l.Allow(ctx, "abusive"); res.Allowed {
				b.Fatal("allowed under limit 0")
			}
		}
	})
}

// stubScripter returns a canned allowed decision without a network round
// trip, so that a benchmark measures the limiter's own work.
type stubScripter struct{}

func (stubScripter) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetVal([]any{int64(1), int64(5), int64(0), int64(0), int64(1000), int64(10)})
	return cmd
}

func (s stubScripter) Eval(ctx context.Context, src string, keys []string, args ...any) *redis.Cmd {
	return s.EvalSha(ctx, "", keys, args...)
}

// BenchmarkAllowClientSide measures the limiter's work per decision
// without Redis: through workers, and inline as with a client that
// honours context deadlines.
func BenchmarkAllowClientSide(b *testing.B) {
	for _, inline := range []bool{false, true} {
		b.Run(fmt.Sprintf("inline=%v", inline), func(b *testing.B) {
			l, err := New(stubScripter{}, GCRA(10, time.Minute, 10), WithoutDenyCache())
			if err != nil {
				b.Fatal(err)
			}
			l.inline = inline
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if res, err := l.Allow(ctx, "k"); err != nil || !res.Allowed {
					b.Fatalf("Allow = %+v, %v", res, err)
				}
			}
		})
	}
}
