package costlint

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/keypattern"
)

// Linter records the commands a go-redis client sends and turns them into a
// priced report of wasteful usage patterns.
//
// Add Hook to a client (or call Instrument), run the application, then call
// Report. A Linter is safe for concurrent use. Its zero value is not ready
// for use: create one with New or Instrument. Its memory is bounded by
// WithMaxPatterns, WithMaxCallSites, WithMaxHotKeys and a cap of 256
// learned Lua scripts. Commands past a cap are still counted in the
// per-command totals and in the report's overflow counters.
type Linter struct {
	cfg    config
	clock  clock.Clock
	logger *slog.Logger
	sites  *callSites
	// floors maps a key pattern to its TTL floor. SetTTLFloor replaces
	// the map whole, so the hook reads it without a lock.
	floors atomic.Pointer[map[string]time.Duration]

	rec       atomic.Pointer[recorder]
	floorsMu  sync.Mutex // serialises writers of floors
	mu        sync.Mutex // guards server
	server    serverWindow
	floorHits atomic.Uint64
}

// New returns a Linter. Options with out-of-range values (a cap below 1, a
// negative gap) keep their defaults.
func New(opts ...Option) *Linter {
	cfg := config{
		pricing:      UpstashPayAsYouGo,
		maxPatterns:  DefaultMaxPatterns,
		maxCallSites: DefaultMaxCallSites,
		maxHotKeys:   DefaultMaxHotKeys,
		maxScripts:   defaultMaxScripts,
		burstGap:     DefaultBurstGap,
		minBurst:     DefaultMinBurst,
		alertAt:      DefaultAlertAt,
		detailAt:     DefaultDetailAt,
	}
	defaults := cfg
	for _, o := range opts {
		o.apply(&cfg)
	}
	cfg.sanitize(defaults)

	l := &Linter{
		cfg:    cfg,
		clock:  clock.Or(cfg.clock),
		logger: cfg.logger,
		sites:  newCallSites(cfg.skipPackages),
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	floors := make(map[string]time.Duration, len(cfg.ttlFloors))
	for _, f := range cfg.ttlFloors {
		floors[keypattern.Normalize(f.Pattern)] = f.Min
	}
	l.floors.Store(&floors)
	l.rec.Store(newRecorder(&l.cfg, l.clock.Now()))
	if err := l.registerMetrics(); err != nil {
		l.logger.Warn("costlint: register metrics failed", "error", err)
	}
	return l
}

func (c *config) sanitize(d config) {
	if c.maxPatterns < 1 {
		c.maxPatterns = d.maxPatterns
	}
	if c.maxCallSites < 1 {
		c.maxCallSites = d.maxCallSites
	}
	if c.maxHotKeys < 1 {
		c.maxHotKeys = d.maxHotKeys
	}
	if c.burstGap < 0 {
		c.burstGap = d.burstGap
	}
	if c.minBurst < 2 {
		c.minBurst = d.minBurst
	}
	if c.alertAt <= 0 || c.detailAt < c.alertAt {
		c.alertAt, c.detailAt = d.alertAt, d.detailAt
	}
	if c.rules == nil {
		c.rules = DefaultRules()
	}
}

// Hook returns the go-redis hook that records commands, pipelines,
// transactions and new connections. Add it with AddHook. On a ClusterClient
// or Ring it records every command but not the per-node connections, so use
// Instrument there, which adds both.
func (l *Linter) Hook() redis.Hook {
	return &hook{l: l}
}

// Instrument adds the Linter's hook to rdb. For a *redis.ClusterClient or
// *redis.Ring it also adds a dial-only hook to every node client, so that
// connection churn is counted per node. Instrument a ClusterClient before
// its first command: node clients it made earlier are not hooked, because
// listing them would need a round trip.
func (l *Linter) Instrument(rdb redis.UniversalClient) {
	rdb.AddHook(l.Hook())
	dialHook := &hook{l: l, dialOnly: true}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		c.OnNewNode(func(node *redis.Client) { node.AddHook(dialHook) })
	case *redis.Ring:
		// A Ring makes its shard clients up front, so the existing ones
		// get the hook here and later ones through OnNewNode.
		c.OnNewNode(func(node *redis.Client) { node.AddHook(dialHook) })
		_ = c.ForEachShard(context.Background(), func(_ context.Context, shard *redis.Client) error {
			shard.AddHook(dialHook)
			return nil
		})
	}
}

// Instrument returns a new Linter built from opts, with its hook added to
// rdb.
func Instrument(rdb redis.UniversalClient, opts ...Option) *Linter {
	l := New(opts...)
	l.Instrument(rdb)
	return l
}

// Rotate returns the report of the window so far and starts a new window
// in the same step, so that commands sent between a report and a reset
// are not lost. Jobs that report on an interval want this instead of Report
// followed by Reset.
func (l *Linter) Rotate() *Report {
	now := l.clock.Now()
	old := l.rec.Swap(newRecorder(&l.cfg, now))
	// NOTE: a hook that loaded the old recorder just before the swap may
	// update it after the snapshot, so the commands in flight at that
	// instant can be missing from both windows.
	return l.ReportFrom(l.snapshotOf(old, now))
}

// Reset drops everything recorded so far and starts a new observation
// window at the clock's current time.
func (l *Linter) Reset() {
	l.rec.Store(newRecorder(&l.cfg, l.clock.Now()))
}

var scopeSeq atomic.Uint64

type scopeKey struct{}

// WithScope returns a context that marks one unit of work, such as an HTTP
// request. Commands from one call site under one scope form one burst for
// the N+1 rule, whatever the time between them.
func WithScope(ctx context.Context) context.Context {
	return context.WithValue(ctx, scopeKey{}, nextScope())
}

func nextScope() uint64 { return scopeSeq.Add(1) }

func scopeOf(ctx context.Context) uint64 {
	if v, ok := ctx.Value(scopeKey{}).(uint64); ok {
		return v
	}
	return 0
}
