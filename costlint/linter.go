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
// Report. A Linter is safe for concurrent use. Its memory is bounded by the
// caps set with WithMaxPatterns, WithMaxCallSites, WithMaxHotKeys and
// WithMaxScripts's default; commands past a cap are still counted in the
// per-command totals and the overflow counters of the report.
type Linter struct {
	cfg    config
	clock  clock.Clock
	logger *slog.Logger
	sites  *callSites
	floors map[string]time.Duration

	rec       atomic.Pointer[recorder]
	mu        sync.Mutex // guards server
	server    serverWindow
	identity  atomic.Int32 // 0 unknown, 1 client sends CLIENT SETINFO, 2 disabled
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
		maxScripts:   DefaultMaxScripts,
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
	if len(cfg.ttlFloors) > 0 {
		l.floors = make(map[string]time.Duration, len(cfg.ttlFloors))
		for _, f := range cfg.ttlFloors {
			l.floors[keypattern.Normalize(f.Pattern)] = f.Min
		}
	}
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
// or Ring it sees every command but not the per-node connections; Instrument
// adds both.
func (l *Linter) Hook() redis.Hook {
	return &hook{l: l}
}

// Instrument adds the Linter's hook to rdb. For a *redis.ClusterClient or
// *redis.Ring it also adds a dial-only hook to every node client, so that
// connection churn is counted per node. It reads rdb's DisableIdentity
// setting so that the connection-churn rule prices handshakes exactly.
func (l *Linter) Instrument(rdb redis.UniversalClient) {
	rdb.AddHook(l.Hook())
	dialHook := &hook{l: l, dialOnly: true}
	switch c := rdb.(type) {
	case *redis.Client:
		l.setIdentity(c.Options().DisableIdentity || c.Options().DisableIndentity) //nolint:staticcheck // both spellings disable it
	case *redis.ClusterClient:
		c.OnNewNode(func(node *redis.Client) { node.AddHook(dialHook) })
		l.setIdentity(c.Options().DisableIdentity || c.Options().DisableIndentity) //nolint:staticcheck // both spellings disable it
	case *redis.Ring:
		c.OnNewNode(func(node *redis.Client) { node.AddHook(dialHook) })
		l.setIdentity(c.Options().DisableIdentity || c.Options().DisableIndentity) //nolint:staticcheck // both spellings disable it
	}
}

func (l *Linter) setIdentity(disabled bool) {
	if disabled {
		l.identity.Store(2)
	} else {
		l.identity.Store(1)
	}
}

// Instrument returns a new Linter built from opts, with its hook added to
// rdb.
func Instrument(rdb redis.UniversalClient, opts ...Option) *Linter {
	l := New(opts...)
	l.Instrument(rdb)
	return l
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
