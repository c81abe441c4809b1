// Package redisinfo parses the text that the Redis INFO command returns, as
// served by Redis 6 to 8, Valkey, Dragonfly and Upstash, into typed views of
// the stats, commandstats, keyspace and memory sections.
//
// The parser is lenient because servers differ. Unknown sections and fields
// are kept as raw strings, and lines that are not "name:value" pairs are
// skipped. A section may be present with no fields: Upstash serves
// "# Commandstats" as a bare heading. Counters that went down between two reads,
// after a server restart or CONFIG RESETSTAT, are detected by Delta.
package redisinfo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Section is the raw "name:value" fields of one INFO section, keyed by field
// name exactly as the server wrote it.
type Section map[string]string

// Info is a parsed INFO reply. Section names are lower-cased ("stats",
// "commandstats", "keyspace"); fields keep the server's spelling. The zero
// value is an empty reply. An Info is not modified by its methods, so it is
// safe for concurrent reads.
type Info struct {
	sections map[string]Section
	order    []string
}

// ErrEmpty reports a reply that contains no section heading and no field.
var ErrEmpty = errors.New("redisinfo: INFO reply is empty")

// Parse parses an INFO reply. Lines before the first "# Heading" are put in a
// section named "" so that a reply to "INFO stats" from a server that omits
// headings still parses. Parse returns ErrEmpty when the text holds neither a
// heading nor a field; every other input parses.
func Parse(text string) (*Info, error) {
	info := &Info{sections: make(map[string]Section)}
	current := ""
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			current = strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
			info.section(current)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			continue
		}
		info.section(current)[name] = value
	}
	if len(info.order) == 0 {
		return nil, ErrEmpty
	}
	return info, nil
}

func (i *Info) section(name string) Section {
	s, ok := i.sections[name]
	if !ok {
		s = make(Section)
		i.sections[name] = s
		i.order = append(i.order, name)
	}
	return s
}

// Sections returns the section names in the order the server sent them.
func (i *Info) Sections() []string {
	if i == nil {
		return nil
	}
	return append([]string(nil), i.order...)
}

// Section returns the raw fields of the named section (case-insensitive) and
// whether the reply contained that heading. A present but empty section
// returns an empty, non-nil Section and true.
func (i *Info) Section(name string) (Section, bool) {
	if i == nil {
		return nil, false
	}
	s, ok := i.sections[strings.ToLower(name)]
	return s, ok
}

// Field returns the raw value of a field, searching the named section first
// and then every section, so that a server that files a field under another
// heading still matches.
func (i *Info) Field(section, name string) (string, bool) {
	if i == nil {
		return "", false
	}
	if s, ok := i.sections[strings.ToLower(section)]; ok {
		if v, ok := s[name]; ok {
			return v, true
		}
	}
	for _, sec := range i.order {
		if v, ok := i.sections[sec][name]; ok {
			return v, true
		}
	}
	return "", false
}

// Int returns a field parsed as a base-10 integer. A value written as a float
// ("12.0") is truncated. It returns false when the field is missing or not a
// number.
func (i *Info) Int(section, name string) (int64, bool) {
	v, ok := i.Field(section, name)
	if !ok {
		return 0, false
	}
	return parseInt(v)
}

// Float returns a field parsed as a float, or false when it is missing or not
// a number.
func (i *Info) Float(section, name string) (float64, bool) {
	v, ok := i.Field(section, name)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	return f, err == nil
}

func parseInt(v string) (int64, bool) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f != f || f > 9.2e18 || f < -9.2e18 {
		return 0, false
	}
	return int64(f), true
}

// Stats is the counters of the stats section that cost analysis uses. A
// counter the server did not report is zero, and Has lists which were present.
type Stats struct {
	TotalConnectionsReceived int64
	TotalCommandsProcessed   int64
	TotalNetInputBytes       int64
	TotalNetOutputBytes      int64
	RejectedConnections      int64
	ExpiredKeys              int64
	EvictedKeys              int64
	KeyspaceHits             int64
	KeyspaceMisses           int64
	InstantaneousOpsPerSec   int64

	// Has contains the names of the fields the reply contained.
	Has map[string]bool
}

var statsFields = []struct {
	name string
	dst  func(*Stats) *int64
}{
	{"total_connections_received", func(s *Stats) *int64 { return &s.TotalConnectionsReceived }},
	{"total_commands_processed", func(s *Stats) *int64 { return &s.TotalCommandsProcessed }},
	{"total_net_input_bytes", func(s *Stats) *int64 { return &s.TotalNetInputBytes }},
	{"total_net_output_bytes", func(s *Stats) *int64 { return &s.TotalNetOutputBytes }},
	{"rejected_connections", func(s *Stats) *int64 { return &s.RejectedConnections }},
	{"expired_keys", func(s *Stats) *int64 { return &s.ExpiredKeys }},
	{"evicted_keys", func(s *Stats) *int64 { return &s.EvictedKeys }},
	{"keyspace_hits", func(s *Stats) *int64 { return &s.KeyspaceHits }},
	{"keyspace_misses", func(s *Stats) *int64 { return &s.KeyspaceMisses }},
	{"instantaneous_ops_per_sec", func(s *Stats) *int64 { return &s.InstantaneousOpsPerSec }},
}

// Stats returns the stats section's counters.
func (i *Info) Stats() Stats {
	st := Stats{Has: make(map[string]bool)}
	for _, f := range statsFields {
		if n, ok := i.Int("stats", f.name); ok {
			*f.dst(&st) = n
			st.Has[f.name] = true
		}
	}
	return st
}

// HitRatio returns hits/(hits+misses), or false when the server reported no
// lookups.
func (s Stats) HitRatio() (float64, bool) {
	total := s.KeyspaceHits + s.KeyspaceMisses
	if total <= 0 {
		return 0, false
	}
	return float64(s.KeyspaceHits) / float64(total), true
}

// CommandStat is one line of the commandstats section. Name is lower-case
// and keeps a subcommand after "|" as Redis 7 writes it ("client|setinfo").
type CommandStat struct {
	Name          string
	Calls         int64
	Usec          int64
	UsecPerCall   float64
	RejectedCalls int64
	FailedCalls   int64
}

// CommandStats returns the commandstats section sorted by name. Redis and
// Valkey prefix each field with "cmdstat_"; Dragonfly's "cmd_" prefix and
// upper-case names are accepted too. An absent or empty section returns nil.
func (i *Info) CommandStats() []CommandStat {
	sec, ok := i.Section("commandstats")
	if !ok {
		return nil
	}
	var out []CommandStat
	for field, value := range sec {
		name, ok := strings.CutPrefix(field, "cmdstat_")
		if !ok {
			if name, ok = strings.CutPrefix(field, "cmd_"); !ok {
				continue
			}
		}
		if name == "" {
			continue
		}
		cs := CommandStat{Name: strings.ToLower(name)}
		for kv := range strings.SplitSeq(value, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				cs.Calls, _ = parseInt(v)
			case "usec":
				cs.Usec, _ = parseInt(v)
			case "usec_per_call":
				cs.UsecPerCall, _ = strconv.ParseFloat(v, 64)
			case "rejected_calls":
				cs.RejectedCalls, _ = parseInt(v)
			case "failed_calls":
				cs.FailedCalls, _ = parseInt(v)
			}
		}
		out = append(out, cs)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// KeyspaceDB is one "dbN:keys=...,expires=...,avg_ttl=..." line.
type KeyspaceDB struct {
	DB      int
	Keys    int64
	Expires int64
	// AvgTTL is in milliseconds, as the server reports it.
	AvgTTL int64
}

// Keyspace returns the keyspace section sorted by database number.
func (i *Info) Keyspace() []KeyspaceDB {
	sec, ok := i.Section("keyspace")
	if !ok {
		return nil
	}
	var out []KeyspaceDB
	for field, value := range sec {
		num, ok := strings.CutPrefix(field, "db")
		if !ok {
			continue
		}
		db, err := strconv.Atoi(num)
		if err != nil {
			continue
		}
		k := KeyspaceDB{DB: db}
		for kv := range strings.SplitSeq(value, ",") {
			name, v, _ := strings.Cut(kv, "=")
			switch name {
			case "keys":
				k.Keys, _ = parseInt(v)
			case "expires":
				k.Expires, _ = parseInt(v)
			case "avg_ttl":
				k.AvgTTL, _ = parseInt(v)
			}
		}
		out = append(out, k)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].DB < out[b].DB })
	return out
}

// Memory is the memory section's fields that cost analysis uses, in bytes.
type Memory struct {
	UsedMemory      int64
	UsedMemoryPeak  int64
	MaxMemory       int64
	MaxMemoryPolicy string
}

// Memory returns the memory section.
func (i *Info) Memory() Memory {
	var m Memory
	m.UsedMemory, _ = i.Int("memory", "used_memory")
	m.UsedMemoryPeak, _ = i.Int("memory", "used_memory_peak")
	m.MaxMemory, _ = i.Int("memory", "maxmemory")
	m.MaxMemoryPolicy, _ = i.Field("memory", "maxmemory_policy")
	return m
}

// Delta returns cur minus prev for a monotonic counter. When cur is smaller,
// the server restarted or its stats were reset between the reads, so the
// delta is cur (everything counted since the reset) and reset is true.
func Delta(prev, cur int64) (delta int64, reset bool) {
	if cur < prev {
		return cur, true
	}
	return cur - prev, false
}

// Sub returns the counter deltas from prev to s. Reset is true when any
// counter went down, in which case every delta is taken from zero, because a
// restart resets all counters together. InstantaneousOpsPerSec is a gauge and
// is copied from s.
func (s Stats) Sub(prev Stats) (d Stats, reset bool) {
	d = Stats{Has: s.Has}
	for _, f := range statsFields {
		if f.name == "instantaneous_ops_per_sec" {
			continue
		}
		if _, r := Delta(*f.dst(&prev), *f.dst(&s)); r {
			reset = true
		}
	}
	for _, f := range statsFields {
		cur := *f.dst(&s)
		if !reset && f.name != "instantaneous_ops_per_sec" {
			cur -= *f.dst(&prev)
		}
		*f.dst(&d) = cur
	}
	return d, reset
}

// SubCommandStats returns per-command call deltas from prev to cur, keyed by
// command name. A command whose count went down is taken as reset and
// contributes its current count.
func SubCommandStats(prev, cur []CommandStat) map[string]int64 {
	before := make(map[string]int64, len(prev))
	for _, c := range prev {
		before[c.Name] = c.Calls
	}
	out := make(map[string]int64, len(cur))
	for _, c := range cur {
		d, _ := Delta(before[c.Name], c.Calls)
		out[c.Name] = d
	}
	return out
}

// Infoer runs INFO and returns the reply text. Wrap a go-redis client with
// InfoFunc to get one.
type Infoer interface {
	InfoText(ctx context.Context, sections ...string) (string, error)
}

// InfoFunc adapts a function to Infoer, for example
// InfoFunc(func(ctx context.Context, s ...string) (string, error) { return rdb.Info(ctx, s...).Result() }).
type InfoFunc func(ctx context.Context, sections ...string) (string, error)

// InfoText calls f.
func (f InfoFunc) InfoText(ctx context.Context, sections ...string) (string, error) {
	return f(ctx, sections...)
}

// Fetch runs INFO for the given sections (all default sections when none)
// and parses the reply.
func Fetch(ctx context.Context, src Infoer, sections ...string) (*Info, error) {
	text, err := src.InfoText(ctx, sections...)
	if err != nil {
		return nil, fmt.Errorf("redisinfo: INFO %s: %w", strings.Join(sections, " "), err)
	}
	return Parse(text)
}
