package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func BenchmarkZZFixedInline(b *testing.B) {
	rdb := server.Client(b, func(o *redis.Options) { o.ContextTimeoutEnabled = true })
	l, _ := New(rdb, FixedWindow(1e9, time.Minute), WithTimeout(time.Second))
	ctx := context.Background()
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = "zz-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.Allow(ctx, keys[i%100])
	}
}
