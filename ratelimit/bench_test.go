package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"
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
