package upstashops

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/redistest"
)

// redisServer is one real redis-server shared by the package's tests; each
// test uses its own key prefix, so tests may run in parallel.
var redisServer *redistest.Server

func TestMain(m *testing.M) { redistest.RunMain(m, &redisServer) }

var epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// testRedis returns a client of the shared server and a key prefix unique
// to t.
func testRedis(t *testing.T) (*redis.Client, Option) {
	t.Helper()
	return redisServer.Client(t), WithKeyPrefix(fmt.Sprintf("t%d:%s:", prefixSeq.Add(1), t.Name()))
}

var prefixSeq atomic.Int64

func newTestOperator(t *testing.T, opts ...Option) *Operator {
	t.Helper()
	op, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = op.Close(ctx)
	})
	return op
}

func fakeClock() *clock.Fake { return clock.NewFake(epoch) }

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
