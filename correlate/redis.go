package correlate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/redisinfo"
)

// RedisInfoer is the part of a go-redis client that the Redis collector
// calls; *redis.Client and *redis.Ring satisfy it. For a cluster, pass the
// client of one node, because INFO describes only the node that runs it.
type RedisInfoer interface {
	Info(ctx context.Context, section ...string) *redis.StringCmd
}

// RedisOption configures a RedisCollector.
type RedisOption interface{ applyRedis(*RedisCollector) }

type redisOptionFunc func(*RedisCollector)

func (f redisOptionFunc) applyRedis(r *RedisCollector) { f(r) }

// WithRedisClock sets the clock that stamps samples and measures the
// interval between reads for rates. Default the system clock.
func WithRedisClock(c clock.Clock) RedisOption {
	return redisOptionFunc(func(r *RedisCollector) { r.clock = c })
}

// WithRedisLabel adds a label to every series, for example "db=cache" gives
// "redis.hit_ratio{db=cache}", so that the series of several databases stay separate.
func WithRedisLabel(label string) RedisOption {
	return redisOptionFunc(func(r *RedisCollector) { r.label = label })
}

// RedisCollector reads Redis INFO and turns it into samples. The gauges are
// used memory, its ratio to maxmemory, key count and connected clients. The
// rates are commands, keyspace misses, expired keys, evicted keys and writes
// rejected for lack of memory, all per second, plus the keyspace hit ratio. Rates and the hit ratio are
// taken over the interval since the previous read, so the first read
// returns only the gauges; a counter that went down (a restart or CONFIG
// RESETSTAT) restarts the deltas from zero. Each read costs one INFO command.
// A server that rejects several sections in one INFO, as Redis before 7.0
// does, costs one more on the first read; plain INFO is used from then on.
// It is safe for concurrent use; reads are serialised.
type RedisCollector struct {
	rdb   RedisInfoer
	clock clock.Clock
	label string

	mu        sync.Mutex
	plainInfo bool // the server rejected INFO with several sections
	prev      *redisinfo.Stats
	prevOOM   int64
	prevTime  time.Time
}

// NewRedisCollector returns a collector that reads INFO through rdb.
func NewRedisCollector(rdb RedisInfoer, opts ...RedisOption) (*RedisCollector, error) {
	if rdb == nil {
		return nil, errors.New("correlate: Redis client is missing")
	}
	r := &RedisCollector{rdb: rdb, clock: clock.Real}
	for _, o := range opts {
		o.applyRedis(r)
	}
	return r, nil
}

// Collect reads INFO once and returns the samples.
func (r *RedisCollector) Collect(ctx context.Context) ([]Sample, error) {
	// The read happens under the lock: two reads applied out of order would
	// make the counters seem to go down, which looks like a reset.
	r.mu.Lock()
	defer r.mu.Unlock()
	text, err := r.readInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("correlate: redis INFO: %w", err)
	}
	info, err := redisinfo.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("correlate: redis INFO: %w", err)
	}
	now := r.clock.Now()
	var out []Sample
	add := func(signal string, v float64) {
		name := signal
		if r.label != "" {
			name += "{" + r.label + "}"
		}
		out = append(out, Sample{Series: name, Time: now, Value: v})
	}

	mem := info.Memory()
	add(SignalRedisMemory, float64(mem.UsedMemory))
	if mem.MaxMemory > 0 {
		add(SignalRedisMemoryRatio, float64(mem.UsedMemory)/float64(mem.MaxMemory))
	}
	var keys int64
	for _, db := range info.Keyspace() {
		keys += db.Keys
	}
	add(SignalRedisKeys, float64(keys))
	if clients, ok := info.Int("clients", "connected_clients"); ok {
		add(SignalRedisClients, float64(clients))
	}

	stats := info.Stats()
	oom := oomErrors(info)
	if r.prev != nil {
		if elapsed := now.Sub(r.prevTime).Seconds(); elapsed > 0 {
			d, _ := stats.Sub(*r.prev)
			add(SignalRedisCommands, float64(d.TotalCommandsProcessed)/elapsed)
			add(SignalRedisMisses, float64(d.KeyspaceMisses)/elapsed)
			add(SignalRedisExpired, float64(d.ExpiredKeys)/elapsed)
			add(SignalRedisEvicted, float64(d.EvictedKeys)/elapsed)
			if ratio, ok := d.HitRatio(); ok {
				add(SignalRedisHitRatio, ratio)
			}
			rejected, _ := redisinfo.Delta(r.prevOOM, oom)
			add(SignalRedisRejected, float64(rejected)/elapsed)
		}
	}
	r.prev, r.prevOOM, r.prevTime = &stats, oom, now
	return out, nil
}

// readInfo reads the sections the collector uses in one INFO, or the
// default sections with plain INFO once the server has rejected several
// sections with an error reply. The caller holds r.mu.
func (r *RedisCollector) readInfo(ctx context.Context) (string, error) {
	if !r.plainInfo {
		text, err := r.rdb.Info(ctx, "stats", "memory", "keyspace", "clients", "errorstats").Result()
		var reply redis.Error
		if err == nil || !errors.As(err, &reply) {
			return text, err
		}
		r.plainInfo = true
	}
	return r.rdb.Info(ctx).Result()
}

// oomErrors returns the count of commands rejected with OOM from the
// errorstats section (Redis 6.2 and later), or 0 when it is absent.
func oomErrors(info *redisinfo.Info) int64 {
	v, ok := info.Field("errorstats", "errorstat_OOM")
	if !ok {
		return 0
	}
	var n int64
	if _, err := fmt.Sscanf(v, "count=%d", &n); err != nil {
		return 0
	}
	return n
}

// Name returns "redis", the collector's name in Monitor logs and errors.
func (*RedisCollector) Name() string { return "redis" }
