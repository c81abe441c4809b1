package costlint

import (
	"context"
	"fmt"
	"net/http"

	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/redisinfo"
	"github.com/upstash-ops/sdk/internal/upstashapi"
)

// ServerStats is the server's own counts between the first and the last
// INFO read: the command mix, keyspace hits and misses, and evictions.
// Counters that went down in between (a restart, CONFIG RESETSTAT) are
// taken from zero and Reset is set.
type ServerStats struct {
	// Source is "info" when the counts come from INFO, or "upstash-api"
	// when they come from Upstash's developer API.
	Source  string
	Samples int
	// Commands is the calls per command name from commandstats. It is
	// empty when the server serves commandstats as a bare heading, as
	// Upstash does.
	Commands       map[string]int64
	TotalCommands  int64
	KeyspaceHits   int64
	KeyspaceMisses int64
	EvictedKeys    int64
	ExpiredKeys    int64
	Keys           int64
	UsedMemory     int64
	Reset          bool
	// MonthlyBilling is Upstash's bill for the month so far in dollars,
	// and MonthlyRequests its billed commands; both are zero for INFO.
	MonthlyBilling  float64
	MonthlyRequests int64
}

type serverWindow struct {
	first, last *redisinfo.Info
	samples     int
	upstash     *upstashapi.RedisStats
}

// Errors that CollectUpstashStats wraps, for errors.Is.
var (
	// ErrUpstashUnauthorized reports a rejected email or API key.
	ErrUpstashUnauthorized = upstashapi.ErrUnauthorized
	// ErrUpstashNotFound reports an unknown database id.
	ErrUpstashNotFound = upstashapi.ErrNotFound
)

// UpstashAccount names a database for Upstash's developer API. APIKey is a
// secret: it is sent only in the Authorization header and never appears in
// errors, logs or reports.
type UpstashAccount struct {
	Email      string
	APIKey     string
	DatabaseID string
	// BaseURL defaults to https://api.upstash.com.
	BaseURL string
	// HTTPClient defaults to a client with a 30-second timeout.
	HTTPClient *http.Client
}

// CollectUpstashStats reads the database's statistics from Upstash's
// developer API (GET /v2/redis/stats/{id}). Their command counts, hits and
// misses feed the server-side rules when INFO has none, which is the case
// on Upstash, whose INFO commandstats section is empty.
func (l *Linter) CollectUpstashStats(ctx context.Context, acct UpstashAccount) error {
	var opts []upstashapi.Option
	if acct.BaseURL != "" {
		opts = append(opts, upstashapi.WithBaseURL(acct.BaseURL))
	}
	if acct.HTTPClient != nil {
		opts = append(opts, upstashapi.WithHTTPClient(acct.HTTPClient))
	}
	client, err := upstashapi.New(acct.Email, acct.APIKey, opts...)
	if err != nil {
		return fmt.Errorf("costlint: collect Upstash stats: %w", err)
	}
	stats, err := client.RedisStats(ctx, acct.DatabaseID)
	if err != nil {
		return fmt.Errorf("costlint: collect Upstash stats of database %q: %w", acct.DatabaseID, err)
	}
	l.mu.Lock()
	l.server.upstash = stats
	l.mu.Unlock()
	return nil
}

// CollectServerStats runs INFO stats, commandstats, keyspace and memory on
// rdb and adds the reply to the server statistics that server-side rules
// read. Call it at least twice, at the start and end of a window, so that
// the counters can be subtracted.
func (l *Linter) CollectServerStats(ctx context.Context, rdb redis.UniversalClient) error {
	text, err := rdb.Info(ctx, "stats", "commandstats", "keyspace", "memory").Result()
	if err != nil {
		return fmt.Errorf("costlint: collect server stats: INFO: %w", err)
	}
	return l.AddServerInfo(text)
}

// AddServerInfo adds the text of an INFO reply to the server statistics.
func (l *Linter) AddServerInfo(text string) error {
	info, err := redisinfo.Parse(text)
	if err != nil {
		return fmt.Errorf("costlint: add server info: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.server.first == nil {
		l.server.first = info
	}
	l.server.last = info
	l.server.samples++
	return nil
}

func (l *Linter) serverStats() *ServerStats {
	l.mu.Lock()
	w := l.server
	l.mu.Unlock()
	if w.samples < 2 {
		return upstashServerStats(w.upstash)
	}
	first, last := w.first.Stats(), w.last.Stats()
	d, reset := last.Sub(first)
	out := &ServerStats{
		Samples:        w.samples,
		Commands:       redisinfo.SubCommandStats(w.first.CommandStats(), w.last.CommandStats()),
		TotalCommands:  d.TotalCommandsProcessed,
		KeyspaceHits:   d.KeyspaceHits,
		KeyspaceMisses: d.KeyspaceMisses,
		EvictedKeys:    d.EvictedKeys,
		ExpiredKeys:    d.ExpiredKeys,
		UsedMemory:     w.last.Memory().UsedMemory,
		Reset:          reset,
	}
	for _, db := range w.last.Keyspace() {
		out.Keys += db.Keys
	}
	out.Source = "info"
	if up := upstashServerStats(w.upstash); up != nil && len(out.Commands) == 0 {
		out.Commands = up.Commands
		out.MonthlyBilling, out.MonthlyRequests = up.MonthlyBilling, up.MonthlyRequests
	}
	return out
}

// upstashServerStats converts developer API statistics, or returns nil.
func upstashServerStats(s *upstashapi.RedisStats) *ServerStats {
	if s == nil {
		return nil
	}
	out := &ServerStats{
		Source:          "upstash-api",
		Samples:         1,
		Commands:        make(map[string]int64),
		TotalCommands:   s.TotalMonthlyRequests,
		KeyspaceHits:    int64(upstashapi.Sum(s.Hits)),
		KeyspaceMisses:  int64(upstashapi.Sum(s.Misses)),
		Keys:            int64(upstashapi.Last(s.Keyspace)),
		UsedMemory:      s.CurrentStorage,
		MonthlyBilling:  s.TotalMonthlyBilling,
		MonthlyRequests: s.TotalMonthlyRequests,
	}
	for name, n := range s.CommandTotals() {
		out.Commands[name] = int64(n)
	}
	return out
}
