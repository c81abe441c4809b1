package costlint

import (
	"cmp"
	"slices"
	"time"
)

// Snapshot is a copy of what a Linter recorded, the input of every Rule.
// Counts cover the window from Start to End.
type Snapshot struct {
	Start, End time.Time
	Window     time.Duration
	Pricing    Pricing
	// MinBurst is the burst length that makes an N+1 finding.
	MinBurst int

	// Commands are the per-command totals, sorted by billed calls.
	Commands []CommandTotal
	// BilledCommands is the sum of Commands' Billed.
	BilledCommands uint64
	Sites          []Site
	Patterns       []Pattern
	// HotKeys are the most used keys, as estimated by a bounded
	// space-saving table, most used first.
	HotKeys []HotKey
	// KeyedCommands is the number of billed commands that named a key.
	KeyedCommands uint64

	// Dials and DialErrors count new connections.
	Dials, DialErrors uint64
	// HandshakeCommands counts the billed commands go-redis sent while
	// opening connections: CLIENT SETINFO (unless DisableIdentity) and
	// CLIENT MAINT_NOTIFICATIONS. They are in Commands but in no Site.
	// HELLO, AUTH and SELECT are free.
	HandshakeCommands uint64

	// ArgBytes and ReplyBytes estimate the bandwidth of billed commands.
	ArgBytes, ReplyBytes uint64

	Overflow Overflow
	// TTLFloorRewrites counts TTL arguments raised by a TTL floor.
	TTLFloorRewrites uint64
	// Server holds server-side statistics when CollectServerStats or
	// AddServerInfo was called, and is nil otherwise.
	Server *ServerStats
}

// Overflow counts what the memory caps kept out of the aggregates. Such
// commands still count in Commands and BilledCommands.
type Overflow struct {
	CallSites      uint64 `json:"call_sites"`
	Patterns       uint64 `json:"patterns"`
	UnknownScripts uint64 `json:"unknown_scripts"`
}

// CommandTotal is the count of one command name.
type CommandTotal struct {
	Name   string
	Calls  uint64
	Errors uint64
	// Billed is Calls plus the redis.call invocations of Lua scripts, or 0
	// for free commands.
	Billed uint64
	Free   bool
}

// Site is the commands one call site sent with one command name, key
// pattern and mode.
type Site struct {
	CallSite string
	Command  string
	Pattern  string
	Mode     Mode

	Calls, Errors, Nils, Keys uint64
	ArgBytes, ReplyBytes      uint64
	// Repeats counts calls on the same key as the call before them.
	Repeats uint64

	// Bursts is the number of runs of at least MinBurst commands from one
	// caller: under one Scope, or else from one goroutine's frame with no
	// gap above the burst gap. BurstCalls is the commands in them,
	// BatchCalls the variadic commands that would replace them (one per
	// 1,000 keys), MaxBurst the longest.
	Bursts, BurstCalls, BatchCalls, MaxBurst uint64

	// BlockTimeout is the mean timeout of blocking commands, and
	// ScanCount the mean COUNT of SCAN.
	BlockTimeout time.Duration
	ScanCount    float64
}

// Pattern is the aggregate of the commands sent to one key pattern.
type Pattern struct {
	Pattern                      string
	Calls, Reads, Writes, Nils   uint64
	TTLWrites, Expires           uint64
	Refreshes                    uint64
	RefreshAfter                 string
	TTLMin, TTLMean              time.Duration
	Adds, Trims                  uint64
	ZAdds, ZSameScore            uint64
	ZRemRangeByScore, ZCardCount uint64
	ArgBytes, ReplyBytes         uint64
	MaxReply                     int64
	// DistinctKeys is an estimate from a 1,024-bit linear-counting
	// sketch, accurate to a few percent up to about 2,000 keys.
	DistinctKeys float64
}

// HotKey is one entry of the hot-key table.
type HotKey struct {
	Key   string
	Count uint64
	Bytes uint64
}

// PerMonth projects a count over the snapshot's window to a Month.
func (s *Snapshot) PerMonth(n float64) float64 { return PerMonth(n, s.Window) }

// Snapshot copies what the Linter recorded up to now.
func (l *Linter) Snapshot() *Snapshot {
	return l.SnapshotAt(l.clock.Now())
}

// SnapshotAt copies what the Linter recorded, with the window ending at
// end.
func (l *Linter) SnapshotAt(end time.Time) *Snapshot {
	return l.snapshotOf(l.rec.Load(), end)
}

func (l *Linter) snapshotOf(r *recorder, end time.Time) *Snapshot {
	s := &Snapshot{
		Start:            r.start,
		End:              end,
		Window:           end.Sub(r.start),
		Pricing:          l.cfg.pricing,
		MinBurst:         l.cfg.minBurst,
		TTLFloorRewrites: l.floorHits.Load(),
	}

	type rawSite struct {
		pc   uintptr
		site Site
	}
	var raw []rawSite

	r.mu.Lock()
	r.entries(func(c *cmdEntry) {
		s.Commands = append(s.Commands, c.total())
	})
	if r.otherCmd.calls > 0 {
		s.Commands = append(s.Commands, r.otherCmd.total())
	}
	for k, v := range r.sites {
		raw = append(raw, rawSite{pc: k.pc, site: v.export(k, r.patterns[k.pattern].name, l.cfg.minBurst)})
	}
	for _, p := range r.patterns {
		if p.calls > 0 {
			s.Patterns = append(s.Patterns, p.export())
		}
	}
	for _, h := range r.hot {
		s.HotKeys = append(s.HotKeys, HotKey{Key: h.key, Count: h.count, Bytes: h.bytes})
	}
	s.KeyedCommands = r.keyedCalls
	s.Dials, s.DialErrors, s.HandshakeCommands = r.dials, r.dialErrs, r.handshake
	s.ArgBytes, s.ReplyBytes = r.argBytes, r.replyBytes
	s.Overflow = Overflow{CallSites: r.siteOverflow, Patterns: r.patternOverflow, UnknownScripts: r.scripts.unknown}
	r.mu.Unlock()

	// Resolve call sites outside the lock: it reads symbol tables.
	for _, rs := range raw {
		rs.site.CallSite = l.sites.describe(rs.pc)
		s.Sites = append(s.Sites, rs.site)
	}
	for _, c := range s.Commands {
		s.BilledCommands += c.Billed
	}
	slices.SortFunc(s.Commands, func(a, b CommandTotal) int {
		return cmp.Or(cmp.Compare(b.Billed, a.Billed), cmp.Compare(a.Name, b.Name))
	})
	slices.SortFunc(s.Sites, func(a, b Site) int {
		return cmp.Or(cmp.Compare(b.Calls, a.Calls), cmp.Compare(a.CallSite, b.CallSite),
			cmp.Compare(a.Command, b.Command), cmp.Compare(a.Pattern, b.Pattern), cmp.Compare(a.Mode, b.Mode))
	})
	slices.SortFunc(s.Patterns, func(a, b Pattern) int {
		return cmp.Or(cmp.Compare(b.Calls, a.Calls), cmp.Compare(a.Pattern, b.Pattern))
	})
	slices.SortFunc(s.HotKeys, func(a, b HotKey) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Key, b.Key))
	})
	s.Server = l.serverStats()
	return s
}

func (c *cmdEntry) total() CommandTotal {
	t := CommandTotal{Name: c.name, Calls: c.calls, Errors: c.errs, Free: c.info.free}
	if !c.info.free {
		t.Billed = c.calls + c.extra
	}
	return t
}

func (v *siteStats) export(k siteKey, pattern string, minBurst int) Site {
	s := Site{
		Command: k.cmd.name, Pattern: pattern, Mode: k.mode,
		Calls: v.calls, Errors: v.errs, Nils: v.nils, Keys: v.keys,
		ArgBytes: v.argBytes, ReplyBytes: v.replyBytes, Repeats: v.repeats,
	}
	s.Bursts, s.BurstCalls, s.BatchCalls, s.MaxBurst = v.burstTotals(minBurst)
	if v.calls > 0 {
		s.BlockTimeout = v.blockTimeout / time.Duration(v.calls)
		s.ScanCount = float64(v.scanCount) / float64(v.calls)
	}
	return s
}

func (p *patternStats) export() Pattern {
	out := Pattern{
		Pattern: p.name, Calls: p.calls, Reads: p.reads, Writes: p.writes, Nils: p.nils,
		TTLWrites: p.ttlWrites, Expires: p.expires, Refreshes: p.refreshes, RefreshAfter: p.refreshAfter,
		TTLMin: p.ttlMin, Adds: p.adds, Trims: p.trims, ZAdds: p.zadds, ZSameScore: p.zsameScore,
		ZRemRangeByScore: p.zremByScore, ZCardCount: p.zcards,
		ArgBytes: p.argBytes, ReplyBytes: p.replyBytes, MaxReply: p.maxReply,
		DistinctKeys: p.distinctKeys(),
	}
	if p.ttlCount > 0 {
		out.TTLMean = p.ttlSum / time.Duration(p.ttlCount)
	}
	return out
}
