package costlint

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/internal/redisinfo"
)

// ServerStats is what the server counted between the first and the last
// INFO read: the command mix, keyspace hits and misses, and evictions.
// Counters that went down in between (a restart, CONFIG RESETSTAT) are
// taken from zero and Reset is set.
type ServerStats struct {
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
}

type serverWindow struct {
	first, last *redisinfo.Info
	samples     int
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
		return nil
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
	return out
}
