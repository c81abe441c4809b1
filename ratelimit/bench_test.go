package ratelimit

import (
	"context"
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

// BenchmarkAllowInline measures GCRA decisions with a client that honours
// context deadlines, so that calls run on the caller's goroutine.
func BenchmarkAllowInline(b *testing.B) {
	rdb := server.Client(b, func(o *redis.Options) { o.ContextTimeoutEnabled = true })
	l, err := New(rdb, GCRA(1e9, time.Minute, 1e9), WithTimeout(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if res, err := l.Allow(ctx, "inline-"+strconv.Itoa(i%1000)); err != nil || res.Err != nil {
				b.Fatalf("Allow: %v %v", err, res.Err)
			}
		}
	})
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
