package ratelimit_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/redistest"
	"github.com/upstash-ops/sdk/ratelimit"
)

// clusterEpoch is a fake start time on a whole minute, so that no window
// boundary falls inside a test.
var clusterEpoch = time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)

// clusterAlgorithms are the four algorithms at limit per minute, with a
// burst of limit.
func clusterAlgorithms(limit float64) map[string]ratelimit.Algorithm {
	return map[string]ratelimit.Algorithm{
		"fixed_window":   ratelimit.FixedWindow(limit, time.Minute),
		"sliding_window": ratelimit.SlidingWindow(limit, time.Minute),
		"token_bucket":   ratelimit.TokenBucket(limit, time.Minute, limit),
		"gcra":           ratelimit.GCRA(limit, time.Minute, limit),
	}
}

// clusterEnv is a 3-node Redis Cluster with one client per call path of the
// limiter and one client per node for checking where keys are stored.
type clusterEnv struct {
	cluster *redistest.Cluster
	// clients has a client that honours context deadlines ("inline": the
	// limiter calls Redis on the caller's goroutine) and one that does not
	// ("workers": the limiter calls Redis on its worker goroutines).
	clients map[string]*redis.ClusterClient
	nodes   map[string]*redis.Client // by address
}

func TestLimiterOnRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	env := &clusterEnv{
		cluster: c,
		clients: map[string]*redis.ClusterClient{
			"inline":  c.Client(t, func(o *redis.ClusterOptions) { o.ContextTimeoutEnabled = true }),
			"workers": c.Client(t),
		},
		nodes: make(map[string]*redis.Client),
	}
	for _, s := range c.Nodes() {
		env.nodes[s.Addr()] = s.Client(t)
	}

	t.Run("exact_decisions", env.testExactDecisions)
	t.Run("keys_share_slot", env.testKeysShareSlot)
	t.Run("overrides_and_reset", env.testOverridesAndReset)
	t.Run("concurrent_never_exceeds", env.testConcurrentNeverExceeds)
}

// newLimiter returns a limiter on the client of mode with a fake clock that
// never advances, and a timeout long enough for a loaded test machine.
func (e *clusterEnv) newLimiter(t *testing.T, mode string, alg ratelimit.Algorithm, opts ...ratelimit.Option) *ratelimit.Limiter {
	t.Helper()
	opts = append([]ratelimit.Option{
		ratelimit.WithClock(clock.NewFake(clusterEpoch)),
		ratelimit.WithTimeout(5 * time.Second),
	}, opts...)
	l, err := ratelimit.New(e.clients[mode], alg, opts...)
	if err != nil {
		t.Fatalf("New(%v): %v", alg, err)
	}
	return l
}

// owner returns the address of the node that serves redisKey, after
// checking that the cluster client routes the key to that same node.
func (e *clusterEnv) owner(t *testing.T, redisKey string) string {
	t.Helper()
	ctx := context.Background()
	rdb := e.clients["inline"]
	slot, err := rdb.ClusterKeySlot(ctx, redisKey).Result()
	if err != nil {
		t.Fatalf("CLUSTER KEYSLOT %s: %v", redisKey, err)
	}
	addr := e.cluster.AddrForSlot(int(slot))
	node, err := rdb.MasterForKey(ctx, redisKey)
	if err != nil {
		t.Fatalf("MasterForKey(%s): %v", redisKey, err)
	}
	if got := node.Options().Addr; got != addr {
		t.Fatalf("the cluster client routes %s (slot %d) to %s, but %s serves the slot", redisKey, slot, got, addr)
	}
	return addr
}

// existsOnNode reports whether redisKey is stored on the node at addr,
// asked directly instead of through the cluster client.
func (e *clusterEnv) existsOnNode(t *testing.T, addr, redisKey string) bool {
	t.Helper()
	n, err := e.nodes[addr].Exists(context.Background(), redisKey).Result()
	if err != nil {
		t.Fatalf("EXISTS %s on %s: %v", redisKey, addr, err)
	}
	return n == 1
}

func (e *clusterEnv) testExactDecisions(t *testing.T) {
	const limit, keys = 5, 24
	for _, mode := range []string{"inline", "workers"} {
		for name, alg := range clusterAlgorithms(limit) {
			t.Run(mode+"/"+name, func(t *testing.T) {
				t.Parallel()
				l := e.newLimiter(t, mode, alg)
				ctx := context.Background()
				keysPerNode := make(map[string]int)
				for k := range keys {
					key := fmt.Sprintf("decide-%s-%s-%d", mode, name, k)
					for i := range limit {
						res, err := l.Allow(ctx, key)
						if err != nil {
							t.Fatalf("key %s: Allow %d: %v", key, i+1, err)
						}
						if !res.Allowed || res.Source != ratelimit.SourceRedis || res.Remaining != int64(limit-1-i) {
							t.Fatalf("key %s: request %d = %+v, want allowed by Redis with %d remaining", key, i+1, res, limit-1-i)
						}
					}
					res, err := l.Allow(ctx, key)
					if err != nil {
						t.Fatalf("key %s: Allow %d: %v", key, limit+1, err)
					}
					if res.Allowed || res.Source != ratelimit.SourceRedis || res.Reason != ratelimit.ReasonLimitExceeded || res.RetryAfter <= 0 {
						t.Fatalf("key %s: request %d = %+v, want denied by Redis with a RetryAfter", key, limit+1, res)
					}

					addr := e.owner(t, l.StateKey(key))
					if !e.existsOnNode(t, addr, l.StateKey(key)) {
						t.Errorf("key %s: state %s is not on %s, the node that serves its slot", key, l.StateKey(key), addr)
					}
					keysPerNode[addr]++
				}
				if len(keysPerNode) < 2 {
					t.Errorf("%d keys landed on %d node(s) (%v), want at least 2", keys, len(keysPerNode), keysPerNode)
				}
			})
		}
	}
}

func (e *clusterEnv) testKeysShareSlot(t *testing.T) {
	ctx := context.Background()
	rdb := e.clients["inline"]
	keys := []string{"user:1", "", "{x}", "}odd{", "{", "}", "a{b}c", "ip:2001:db8::1", "ключ"}
	for name, alg := range clusterAlgorithms(5) {
		l := e.newLimiter(t, "inline", alg, ratelimit.WithPrefix("api"))
		for _, key := range keys {
			stateSlot, err := rdb.ClusterKeySlot(ctx, l.StateKey(key)).Result()
			if err != nil {
				t.Fatalf("CLUSTER KEYSLOT %s: %v", l.StateKey(key), err)
			}
			overrideSlot, err := rdb.ClusterKeySlot(ctx, l.OverrideKey(key)).Result()
			if err != nil {
				t.Fatalf("CLUSTER KEYSLOT %s: %v", l.OverrideKey(key), err)
			}
			if stateSlot != overrideSlot {
				t.Errorf("%s key %q: state %q in slot %d, override %q in slot %d", name, key, l.StateKey(key), stateSlot, l.OverrideKey(key), overrideSlot)
			}
		}
	}
}

func (e *clusterEnv) testOverridesAndReset(t *testing.T) {
	for _, mode := range []string{"inline", "workers"} {
		for name, alg := range clusterAlgorithms(5) {
			t.Run(mode+"/"+name, func(t *testing.T) {
				t.Parallel()
				l := e.newLimiter(t, mode, alg)
				ctx := context.Background()
				key := fmt.Sprintf("override-%s-%s", mode, name)
				addr := e.owner(t, l.StateKey(key))

				// A peek creates no key.
				res, err := l.Remaining(ctx, key)
				if err != nil {
					t.Fatalf("Remaining: %v", err)
				}
				if res.Limit != 5 || res.Remaining != 5 {
					t.Errorf("Remaining of a new key = %+v, want limit 5 and 5 remaining", res)
				}
				if e.existsOnNode(t, addr, l.StateKey(key)) {
					t.Errorf("Remaining created %s on %s", l.StateKey(key), addr)
				}

				allowN(t, l, key, 2, true)
				if err := l.SetOverride(ctx, key, 3, time.Hour); err != nil {
					t.Fatalf("SetOverride: %v", err)
				}
				if !e.existsOnNode(t, addr, l.OverrideKey(key)) {
					t.Errorf("override %s is not on %s, the node of the state key", l.OverrideKey(key), addr)
				}
				limit, ttl, ok, err := l.Override(ctx, key)
				if err != nil || !ok || limit != 3 || ttl <= 59*time.Minute || ttl > time.Hour {
					t.Errorf("Override = %v, %v, %v, %v; want 3, about 1h, true, nil", limit, ttl, ok, err)
				}
				if res := allowN(t, l, key, 1, true); res.Limit != 3 {
					t.Errorf("request under the override has limit %v, want 3", res.Limit)
				}
				if res := allowN(t, l, key, 1, false); res.Limit != 3 {
					t.Errorf("denial under the override has limit %v, want 3", res.Limit)
				}

				// The default limit applies again, and the 3 units spent
				// stay spent.
				if err := l.ClearOverride(ctx, key); err != nil {
					t.Fatalf("ClearOverride: %v", err)
				}
				if e.existsOnNode(t, addr, l.OverrideKey(key)) {
					t.Errorf("override %s still on %s after ClearOverride", l.OverrideKey(key), addr)
				}
				if got, err := l.EffectiveLimit(ctx, key); err != nil || got != 5 {
					t.Errorf("EffectiveLimit after ClearOverride = %v, %v; want 5, nil", got, err)
				}
				res, err = l.Remaining(ctx, key)
				if err != nil {
					t.Fatalf("Remaining: %v", err)
				}
				if res.Limit != 5 || res.Remaining != 2 {
					t.Errorf("Remaining after ClearOverride = %+v, want limit 5 and 2 remaining", res)
				}
				allowN(t, l, key, 2, true)
				allowN(t, l, key, 1, false)

				// Reset deletes the state on its node (a fixed window keeps
				// it with a count of 0) and clears the deny cache, so the
				// full limit is back at once.
				if err := l.Reset(ctx, key); err != nil {
					t.Fatalf("Reset: %v", err)
				}
				if name != "fixed_window" && e.existsOnNode(t, addr, l.StateKey(key)) {
					t.Errorf("state %s still on %s after Reset", l.StateKey(key), addr)
				}
				allowN(t, l, key, 5, true)
			})
		}
	}
}

// allowN sends count requests of cost 1 for key and fails t unless each is
// decided by Redis or the deny cache with the given outcome. It returns the
// last result.
func allowN(t *testing.T, l *ratelimit.Limiter, key string, count int, allowed bool) ratelimit.Result {
	t.Helper()
	var res ratelimit.Result
	for i := range count {
		var err error
		res, err = l.Allow(context.Background(), key)
		if err != nil {
			t.Fatalf("key %s: Allow: %v", key, err)
		}
		if res.Source != ratelimit.SourceRedis && res.Source != ratelimit.SourceDenyCache {
			t.Fatalf("key %s: request %d decided by %v (err %v), want Redis", key, i+1, res.Source, res.Err)
		}
		if res.Allowed != allowed {
			t.Fatalf("key %s: request %d = %+v, want allowed=%v", key, i+1, res, allowed)
		}
	}
	return res
}

func (e *clusterEnv) testConcurrentNeverExceeds(t *testing.T) {
	const (
		limit      = 50
		goroutines = 40
		requests   = 10 // per goroutine
	)
	for _, mode := range []string{"inline", "workers"} {
		for name, alg := range clusterAlgorithms(limit) {
			t.Run(mode+"/"+name, func(t *testing.T) {
				t.Parallel()
				l := e.newLimiter(t, mode, alg)
				keys := e.keysOnEveryNode(t, l, fmt.Sprintf("concurrent-%s-%s", mode, name))

				allowed := make([]atomic.Int64, len(keys))
				var wg sync.WaitGroup
				for g := range goroutines {
					wg.Go(func() {
						k := g % len(keys)
						for range requests {
							res, err := l.Allow(context.Background(), keys[k])
							if err != nil || (res.Source != ratelimit.SourceRedis && res.Source != ratelimit.SourceDenyCache) {
								t.Errorf("key %s: Allow = %+v, %v; want a decision by Redis", keys[k], res, err)
								return
							}
							if res.Allowed {
								allowed[k].Add(1)
							}
						}
					})
				}
				wg.Wait()

				perKey := goroutines / len(keys) * requests
				for k, key := range keys {
					if got := allowed[k].Load(); got != limit {
						t.Errorf("key %s: %d concurrent requests under limit %d: %d allowed, want exactly %d", key, perKey, limit, got, limit)
					}
				}
			})
		}
	}
}

// keysOnEveryNode returns keys named prefix-N whose states are on every
// node: two on the first node and one on each other node.
func (e *clusterEnv) keysOnEveryNode(t *testing.T, l *ratelimit.Limiter, prefix string) []string {
	t.Helper()
	addrs := e.cluster.Addrs()
	byNode := make(map[string][]string)
	for i := 0; len(byNode) < len(addrs) || len(byNode[addrs[0]]) < 2; i++ {
		if i == 1000 {
			t.Fatalf("1000 keys named %s-N did not cover every node: %v", prefix, byNode)
		}
		key := fmt.Sprintf("%s-%d", prefix, i)
		addr := e.owner(t, l.StateKey(key))
		if len(byNode[addr]) < 2 {
			byNode[addr] = append(byNode[addr], key)
		}
	}
	keys := append([]string(nil), byNode[addrs[0]]...)
	for _, addr := range addrs[1:] {
		keys = append(keys, byNode[addr][0])
	}
	return keys
}
