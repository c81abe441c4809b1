package costlint

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Thresholds of the built-in rules.
const (
	// thrashTTL is the mean TTL below which rewritten keys count as
	// thrashing, and suggestedTTL the TTL the fix proposes.
	thrashTTL    = 10 * time.Second
	suggestedTTL = 60 * time.Second
	// smallScanCount is the SCAN COUNT below which sweeps are flagged, and
	// suggestedScanCount the COUNT proposed.
	smallScanCount     = 100
	suggestedScanCount = 1000
	// shortBlock is the blocking timeout below which polls that mostly
	// return nil are flagged, and suggestedBlock the timeout proposed.
	shortBlock     = 10 * time.Second
	suggestedBlock = 30 * time.Second
	// bigValue is the mean reply size that makes a pattern's values big.
	bigValue = 100 << 10
	// hotShare, hotRate and hotMinCount make a key hot: at least this
	// share of keyed commands, this many commands a second, and this many
	// commands seen. The count keeps a handful of commands in a short
	// window, such as the Operator's own lease renewals, from being hot.
	hotShare    = 0.10
	hotRate     = 10.0
	hotMinCount = 100
	// churnRate is the new connections a minute above which connection
	// churn is reported, once at least churnMin connections were made.
	churnRate = 1.0
	churnMin  = 5
)

// DefaultRules returns a new slice of the built-in rules, in the order
// they run. Pass a modified copy to WithRules to drop or replace some.
func DefaultRules() []Rule {
	return []Rule{
		NewRule("n-plus-one", checkNPlusOne),
		NewRule("redundant-ttl-refresh", checkRedundantExpire),
		NewRule("ttl-thrash", checkTTLThrash),
		NewRule("missing-ttl", checkMissingTTL),
		NewRule("keys-command", checkKeys),
		NewRule("small-scan-count", checkScan),
		NewRule("idle-polling", checkIdlePolling),
		NewRule("sorted-set-log", checkSortedSetLog),
		NewRule("constant-scores", checkConstantScores),
		NewRule("unbounded-collection", checkUnbounded),
		NewRule("big-values", checkBigValues),
		NewRule("hot-key", checkHotKeys),
		NewRule("connection-churn", checkChurn),
		NewRule("server-command-mix", checkServerMix),
		NewRule("server-hit-ratio", checkServerHitRatio),
		NewRule("server-evictions", checkServerEvictions),
		NewRule("plan-headroom", checkPlanHeadroom),
	}
}

func checkNPlusOne(s *Snapshot) []Finding {
	var out []Finding
	for _, site := range s.Sites {
		info := lookupCommand(site.Command)
		if info.batch == "" || site.Bursts == 0 || site.Mode == Tx {
			continue
		}
		if !info.sameKey && 2*site.Repeats >= site.Calls {
			continue // one key read again and again: a hot key, not N+1.
		}
		if site.Command == "set" && patternHasTTL(s, site.Pattern) {
			continue // MSET cannot set a TTL, so there is no variadic fix.
		}
		upper := strings.ToUpper(site.Command)
		mean := float64(site.BurstCalls) / float64(site.Bursts)
		f := Finding{
			Rule:      "n-plus-one",
			Title:     fmt.Sprintf("N+1: %s of %s in bursts of %.0f from one call site", upper, site.Pattern, mean),
			CallSites: []string{site.CallSite},
			Patterns:  []string{site.Pattern},
			Commands:  []string{upper, info.batch},
			Evidence: fmt.Sprintf("%s %s commands in %s (mean %.0f, max %d) over %s, sent %s.",
				count(float64(site.BurstCalls)), upper, plural(site.Bursts, "burst"), mean, site.MaxBurst,
				s.Window.Round(time.Millisecond), modePhrase(site.Mode)),
			CommandsPerMonth:      s.PerMonth(float64(site.BurstCalls)),
			CommandsPerMonthAfter: s.PerMonth(float64(site.BatchCalls)),
		}
		if site.Mode == Pipeline {
			f.Recommendation = fmt.Sprintf("Send one %s per burst instead of %.0f pipelined %s commands. "+
				"The pipeline already saves round trips but no money: Upstash bills every command inside a pipeline.", info.batch, mean, upper)
		} else {
			f.Recommendation = fmt.Sprintf("Send one %s per burst (up to 1,000 keys each) instead of %.0f %s commands. "+
				"A pipeline would save round trips but not money: Upstash bills every command inside a pipeline, so only %s lowers the bill.",
				info.batch, mean, upper, info.batch)
		}
		f.Before, f.After = batchSketch(site.Command, site.Pattern)
		out = append(out, f)
	}
	return out
}

func patternHasTTL(s *Snapshot, pattern string) bool {
	for _, p := range s.Patterns {
		if p.Pattern == pattern {
			return p.TTLWrites > 0
		}
	}
	return false
}

func batchSketch(command, pattern string) (before, after string) {
	key := strings.ReplaceAll(pattern, "{id}", "%d")
	switch command {
	case "get":
		return fmt.Sprintf("for _, id := range ids {\n\tv, err := rdb.Get(ctx, fmt.Sprintf(%q, id)).Result()\n\t...\n}", key),
			fmt.Sprintf("keys := make([]string, len(ids))\nfor i, id := range ids {\n\tkeys[i] = fmt.Sprintf(%q, id)\n}\nvals, err := rdb.MGet(ctx, keys...).Result()", key)
	case "set":
		return fmt.Sprintf("for id, v := range values {\n\trdb.Set(ctx, fmt.Sprintf(%q, id), v, 0)\n}", key),
			fmt.Sprintf("pairs := make([]any, 0, 2*len(values))\nfor id, v := range values {\n\tpairs = append(pairs, fmt.Sprintf(%q, id), v)\n}\nrdb.MSet(ctx, pairs...)", key)
	case "hget":
		return "for _, f := range fields {\n\trdb.HGet(ctx, key, f)\n}", "vals, err := rdb.HMGet(ctx, key, fields...).Result()"
	case "del", "unlink":
		return "for _, k := range keys {\n\trdb.Del(ctx, k)\n}", "rdb.Del(ctx, keys...)"
	}
	return "", ""
}

func checkRedundantExpire(s *Snapshot) []Finding {
	var out []Finding
	for _, p := range s.Patterns {
		if p.Refreshes == 0 {
			continue
		}
		f := Finding{
			Rule:     "redundant-ttl-refresh",
			Title:    fmt.Sprintf("EXPIRE after every %s on %s", strings.ToUpper(p.RefreshAfter), p.Pattern),
			Patterns: []string{p.Pattern},
			Commands: []string{strings.ToUpper(p.RefreshAfter), "EXPIRE"},
			Evidence: fmt.Sprintf("%s of %s EXPIRE commands followed a write of a key that already had its TTL, over %s.",
				count(float64(p.Refreshes)), count(float64(p.Expires)), s.Window.Round(time.Millisecond)),
			CommandsPerMonth:      s.PerMonth(float64(p.Refreshes)),
			CommandsPerMonthAfter: 0,
		}
		if p.RefreshAfter == "set" {
			f.Recommendation = "Set the TTL in the write itself with SET key value EX seconds: one command instead of two."
			f.Before = "rdb.Set(ctx, key, v, 0)\nrdb.Expire(ctx, key, ttl)"
			f.After = "rdb.Set(ctx, key, v, ttl)"
		} else {
			f.Recommendation = "Set the TTL only on the first write: send EXPIRE only when INCR returns 1. " +
				"EXPIRE ... NX would still be one billed command per write."
			f.Before = "n, _ := rdb.Incr(ctx, key).Result()\nrdb.Expire(ctx, key, ttl)"
			f.After = "n, _ := rdb.Incr(ctx, key).Result()\nif n == 1 {\n\trdb.Expire(ctx, key, ttl)\n}"
		}
		out = append(out, f)
	}
	return out
}

func checkTTLThrash(s *Snapshot) []Finding {
	var out []Finding
	for _, p := range s.Patterns {
		if p.TTLWrites == 0 || p.TTLMean <= 0 || p.TTLMean >= thrashTTL || p.DistinctKeys == 0 {
			continue
		}
		rewrites := float64(p.TTLWrites) / p.DistinctKeys
		if rewrites < 2 {
			continue
		}
		// Writes and the misses that precede them scale with 1/TTL, so a
		// longer TTL divides them by suggestedTTL/TTLMean.
		now := s.PerMonth(float64(p.TTLWrites + p.Nils))
		after := now * float64(p.TTLMean) / float64(suggestedTTL)
		out = append(out, Finding{
			Rule:     "ttl-thrash",
			Title:    fmt.Sprintf("TTL of %s on %s makes keys expire and be rewritten constantly", p.TTLMean.Round(time.Millisecond), p.Pattern),
			Patterns: []string{p.Pattern},
			Evidence: fmt.Sprintf("%s writes with TTL to about %.0f distinct keys (%.1f writes per key) and %s misses over %s.",
				count(float64(p.TTLWrites)), p.DistinctKeys, rewrites, count(float64(p.Nils)), s.Window.Round(time.Millisecond)),
			Recommendation: fmt.Sprintf("Raise the TTL to %.0f seconds or more if the data allows, or set a TTL floor for %s; the refill writes and misses fall with it.",
				suggestedTTL.Seconds(), p.Pattern),
			Before:                fmt.Sprintf("rdb.Set(ctx, key, v, %s)", goDuration(p.TTLMean)),
			After:                 fmt.Sprintf("rdb.Set(ctx, key, v, %s)", goDuration(suggestedTTL)),
			CommandsPerMonth:      now,
			CommandsPerMonthAfter: after,
		})
	}
	return out
}

func checkMissingTTL(s *Snapshot) []Finding {
	var out []Finding
	for _, p := range s.Patterns {
		if p.Writes == 0 || p.TTLWrites > 0 || p.Expires > 0 || p.Trims > 0 || !cacheLike(p.Pattern) {
			continue
		}
		out = append(out, Finding{
			Rule:     "missing-ttl",
			Title:    fmt.Sprintf("Cache-like keys %s are written without a TTL", p.Pattern),
			Patterns: []string{p.Pattern},
			Evidence: fmt.Sprintf("%s writes to about %.0f distinct keys, none with a TTL or EXPIRE, none deleted.",
				count(float64(p.Writes)), p.DistinctKeys),
			Recommendation: "Give these keys a TTL so the data set stops growing; storage, not commands, is what this costs.",
		})
	}
	return out
}

func cacheLike(pattern string) bool {
	lower := strings.ToLower(pattern)
	for _, w := range []string{"cache", "session", "tmp", "temp", "otp", "token"} {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

func checkKeys(s *Snapshot) []Finding {
	var out []Finding
	keys := keyspaceSize(s)
	for _, site := range s.Sites {
		if site.Command != "keys" {
			continue
		}
		now := s.PerMonth(float64(site.Calls))
		sweep := math.Max(1, math.Ceil(keys/100))
		out = append(out, Finding{
			Rule:      "keys-command",
			Title:     "KEYS in production",
			Severity:  SeverityHigh,
			CallSites: []string{site.CallSite},
			Commands:  []string{"KEYS"},
			Evidence: fmt.Sprintf("%s KEYS calls over %s. KEYS walks the whole keyspace (about %.0f keys) and blocks the server while it does.",
				count(float64(site.Calls)), s.Window.Round(time.Millisecond), keys),
			Recommendation: fmt.Sprintf("Keep an index set: SADD the key to a set when it is created and read the set with SMEMBERS or SSCAN, "+
				"one billed command per lookup. The naive fix, a SCAN sweep with COUNT 100, would take about %s per call, "+
				"%s commands a month (%s).", plural(uint64(sweep), "command"), count(now*sweep), money(s.Pricing.CommandCost(now*sweep))),
			Before:                "keys, _ := rdb.Keys(ctx, pattern).Result()",
			After:                 "// when a key is created:\nrdb.SAdd(ctx, indexKey, key)\n\n// instead of KEYS:\nkeys, _ := rdb.SMembers(ctx, indexKey).Result()",
			CommandsPerMonth:      now,
			CommandsPerMonthAfter: now,
		})
	}
	return out
}

// keyspaceSize returns the server's key count when known, or the sum of the
// distinct keys seen.
func keyspaceSize(s *Snapshot) float64 {
	if s.Server != nil && s.Server.Keys > 0 {
		return float64(s.Server.Keys)
	}
	var n float64
	for _, p := range s.Patterns {
		n += p.DistinctKeys
	}
	return n
}

func checkScan(s *Snapshot) []Finding {
	var out []Finding
	for _, site := range s.Sites {
		if site.Command != "scan" || site.ScanCount >= smallScanCount || site.Calls < 10 {
			continue
		}
		now := s.PerMonth(float64(site.Calls))
		out = append(out, Finding{
			Rule:      "small-scan-count",
			Title:     fmt.Sprintf("SCAN sweeps with COUNT %.0f", site.ScanCount),
			CallSites: []string{site.CallSite},
			Commands:  []string{"SCAN"},
			Evidence: fmt.Sprintf("%s SCAN calls with a mean COUNT of %.0f over %s; each sweep costs one command per COUNT keys.",
				count(float64(site.Calls)), site.ScanCount, s.Window.Round(time.Millisecond)),
			Recommendation: fmt.Sprintf("Pass COUNT %d so each call walks more of the keyspace, or keep an index set and avoid sweeps.", suggestedScanCount),
			Before:         fmt.Sprintf("iter := rdb.Scan(ctx, 0, match, %.0f).Iterator()", site.ScanCount),
			After:          fmt.Sprintf("iter := rdb.Scan(ctx, 0, match, %d).Iterator()", suggestedScanCount),

			CommandsPerMonth:      now,
			CommandsPerMonthAfter: now * site.ScanCount / suggestedScanCount,
		})
	}
	return out
}

func checkIdlePolling(s *Snapshot) []Finding {
	var out []Finding
	for _, site := range s.Sites {
		info := lookupCommand(site.Command)
		if !info.blocking && site.Command != "xread" {
			continue
		}
		if site.Calls < 10 || float64(site.Nils) < 0.9*float64(site.Calls) ||
			site.BlockTimeout <= 0 || site.BlockTimeout >= shortBlock {
			continue
		}
		now := s.PerMonth(float64(site.Calls))
		useful := s.PerMonth(float64(site.Calls - site.Nils))
		after := math.Max(useful, now*float64(site.BlockTimeout)/float64(suggestedBlock))
		upper := strings.ToUpper(site.Command)
		out = append(out, Finding{
			Rule:      "idle-polling",
			Title:     fmt.Sprintf("%s polls an idle queue every %s", upper, site.BlockTimeout.Round(time.Millisecond)),
			CallSites: []string{site.CallSite},
			Patterns:  []string{site.Pattern},
			Commands:  []string{upper},
			Evidence: fmt.Sprintf("%s of %s %s calls returned nothing; the mean timeout is %s.",
				count(float64(site.Nils)), count(float64(site.Calls)), upper, site.BlockTimeout.Round(time.Millisecond)),
			Recommendation: fmt.Sprintf("Block for %.0f seconds per call: an empty queue then costs one command per %.0f seconds instead of one per %s.",
				suggestedBlock.Seconds(), suggestedBlock.Seconds(), site.BlockTimeout.Round(time.Millisecond)),
			CommandsPerMonth:      now,
			CommandsPerMonthAfter: after,
		})
	}
	return out
}

func checkSortedSetLog(s *Snapshot) []Finding {
	var out []Finding
	for _, p := range s.Patterns {
		if p.ZAdds < 10 || float64(p.ZRemRangeByScore) < 0.5*float64(p.ZAdds) {
			continue
		}
		now := s.PerMonth(float64(p.ZAdds + p.ZRemRangeByScore + p.ZCardCount + p.Expires))
		after := s.PerMonth(float64(2 * p.ZAdds))
		out = append(out, Finding{
			Rule:     "sorted-set-log",
			Title:    fmt.Sprintf("Sorted set %s used as a sliding log", p.Pattern),
			Patterns: []string{p.Pattern},
			Commands: []string{"ZADD", "ZREMRANGEBYSCORE", "ZCARD"},
			Evidence: fmt.Sprintf("%s ZADD, %s ZREMRANGEBYSCORE and %s ZCARD/ZCOUNT: every event is stored, trimmed and counted.",
				count(float64(p.ZAdds)), count(float64(p.ZRemRangeByScore)), count(float64(p.ZCardCount))),
			Recommendation: "Count events with two fixed-window counters (INCR with a TTL on the current and previous window) " +
				"and weight them: two commands per event, memory per window instead of per event.",
			CommandsPerMonth:      now,
			CommandsPerMonthAfter: min(now, after),
		})
	}
	return out
}

func checkConstantScores(s *Snapshot) []Finding {
	var out []Finding
	for _, p := range s.Patterns {
		if p.ZAdds < 10 || float64(p.ZSameScore) < 0.9*float64(p.ZAdds) {
			continue
		}
		out = append(out, Finding{
			Rule:     "constant-scores",
			Title:    fmt.Sprintf("Sorted set %s is written with one constant score", p.Pattern),
			Patterns: []string{p.Pattern},
			Evidence: fmt.Sprintf("%s of %s ZADD calls repeated the previous score.", count(float64(p.ZSameScore)), count(float64(p.ZAdds))),
			Recommendation: "A sorted set whose scores never differ is a set with extra memory per member: " +
				"use SADD/SISMEMBER, or give the score a meaning such as a timestamp.",
		})
	}
	return out
}

func checkUnbounded(s *Snapshot) []Finding {
	var out []Finding
	for _, p := range s.Patterns {
		if p.Adds < 10 || p.Trims > 0 || p.TTLWrites > 0 || p.Expires > 0 {
			continue
		}
		out = append(out, Finding{
			Rule:     "unbounded-collection",
			Title:    fmt.Sprintf("Collection %s only grows", p.Pattern),
			Patterns: []string{p.Pattern},
			Evidence: fmt.Sprintf("%s adds, no trim, no removal and no TTL over %s.", count(float64(p.Adds)), s.Window.Round(time.Millisecond)),
			Recommendation: "Bound it: LTRIM after LPUSH, XADD with MAXLEN, ZREMRANGEBYRANK after ZADD, or a TTL. " +
				"On a fixed plan it fills the data cap; on pay-as-you-go it raises storage cost.",
		})
	}
	return out
}

func checkBigValues(s *Snapshot) []Finding {
	var out []Finding
	for _, p := range s.Patterns {
		if p.Reads == 0 || p.ReplyBytes/p.Reads < bigValue {
			continue
		}
		bytes := s.PerMonth(float64(p.ReplyBytes + p.ArgBytes))
		out = append(out, Finding{
			Rule:     "big-values",
			Title:    fmt.Sprintf("Big values read often from %s", p.Pattern),
			Patterns: []string{p.Pattern},
			Evidence: fmt.Sprintf("%s reads with a mean reply of %s (max %s): %.1f GB a month of bandwidth.",
				count(float64(p.Reads)), byteSize(float64(p.ReplyBytes/p.Reads)), byteSize(float64(p.MaxReply)), bytes/1e9),
			Recommendation: "Cache these values in process for a short time, compress them, or split them into fields read with HMGET. " +
				fmt.Sprintf("Bandwidth beyond %.0f GB a month is billed.", s.Pricing.FreeBandwidthGB),
			BandwidthSavedPerMonth: bytes,
		})
	}
	return out
}

func checkHotKeys(s *Snapshot) []Finding {
	var out []Finding
	if s.KeyedCommands == 0 || s.Window <= 0 {
		return nil
	}
	for _, h := range s.HotKeys {
		share := float64(h.Count) / float64(s.KeyedCommands)
		rate := float64(h.Count) / s.Window.Seconds()
		if share < hotShare || rate < hotRate || h.Count < hotMinCount {
			continue
		}
		now := s.PerMonth(float64(h.Count))
		after := Month.Seconds() // one refresh a second per process
		out = append(out, Finding{
			Rule:     "hot-key",
			Title:    fmt.Sprintf("Hot key %s", h.Key),
			Patterns: []string{h.Key},
			Evidence: fmt.Sprintf("About %s commands (%.0f%% of keyed commands, %.0f a second) went to this one key.",
				count(float64(h.Count)), 100*share, rate),
			Recommendation:        "Cache the value in process for a second (or use client-side caching) so each process reads it at most once a second.",
			CommandsPerMonth:      now,
			CommandsPerMonthAfter: math.Min(now, after),
		})
	}
	return out
}

func checkChurn(s *Snapshot) []Finding {
	if s.Window <= 0 || s.Dials < churnMin {
		return nil
	}
	perMinute := float64(s.Dials) / s.Window.Minutes()
	if perMinute <= churnRate {
		return nil
	}
	now := s.PerMonth(float64(s.HandshakeCommands))
	rec := "Reuse connections: create one client per process, keep MinIdleConns above zero and ConnMaxIdleTime long enough for your traffic gaps."
	if s.HandshakeCommands > 0 {
		rec = "Set DisableIdentity: true in redis.Options, which drops the two CLIENT SETINFO commands of every new connection, " +
			"and MaintNotificationsConfig's Mode to disabled, which drops CLIENT MAINT_NOTIFICATIONS. " + rec
	}
	return []Finding{{
		Rule:     "connection-churn",
		Title:    fmt.Sprintf("%.0f new connections a minute", perMinute),
		Commands: []string{"HELLO", "CLIENT SETINFO"},
		Evidence: fmt.Sprintf("%s new connections over %s sent HELLO and %s billed handshake commands.",
			count(float64(s.Dials)), s.Window.Round(time.Millisecond), count(float64(s.HandshakeCommands))),
		Recommendation:        rec,
		CommandsPerMonth:      now,
		CommandsPerMonthAfter: 0,
	}}
}

func checkServerMix(s *Snapshot) []Finding {
	if s.Server == nil || len(s.Server.Commands) == 0 {
		return nil
	}
	var total int64
	for _, n := range s.Server.Commands {
		total += n
	}
	if total < 100 {
		return nil
	}
	get, mget := float64(s.Server.Commands["get"])/float64(total), float64(s.Server.Commands["mget"])/float64(total)
	if get <= 0.70 || mget >= 0.05 {
		return nil
	}
	return []Finding{{
		Rule:     "server-command-mix",
		Title:    "Server command mix: GET-heavy with almost no MGET",
		Commands: []string{"GET", "MGET"},
		Evidence: fmt.Sprintf("GET is %.0f%% and MGET %.1f%% of %s commands the server counted.", 100*get, 100*mget, count(float64(total))),
		Recommendation: "Look for loops of GET over related keys and batch them with MGET; the n-plus-one findings, when present, " +
			"name the call sites and price them.",
	}}
}

func checkServerHitRatio(s *Snapshot) []Finding {
	if s.Server == nil {
		return nil
	}
	lookups := s.Server.KeyspaceHits + s.Server.KeyspaceMisses
	if lookups < 1000 {
		return nil
	}
	ratio := float64(s.Server.KeyspaceHits) / float64(lookups)
	if ratio >= 0.5 {
		return nil
	}
	return []Finding{{
		Rule:  "server-hit-ratio",
		Title: fmt.Sprintf("Keyspace hit ratio %.0f%%", 100*ratio),
		Evidence: fmt.Sprintf("%s of %s key lookups missed. Each miss is a billed read that returns nothing, usually followed by a billed write.",
			count(float64(s.Server.KeyspaceMisses)), count(float64(lookups))),
		Recommendation: "Check TTLs that are shorter than the reuse interval and reads of keys that are never written.",
	}}
}

func checkServerEvictions(s *Snapshot) []Finding {
	if s.Server == nil || s.Server.EvictedKeys == 0 {
		return nil
	}
	return []Finding{{
		Rule:           "server-evictions",
		Title:          fmt.Sprintf("%s keys evicted", count(float64(s.Server.EvictedKeys))),
		Evidence:       fmt.Sprintf("The server evicted %s keys in the window because it reached maxmemory.", count(float64(s.Server.EvictedKeys))),
		Recommendation: "Evicted keys are refilled with billed writes: add TTLs to data that grows, or move to a plan with more memory.",
	}}
}

// plural returns "1 burst" or "3 bursts".
func plural(n uint64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return count(float64(n)) + " " + word + "s"
}

func modePhrase(m Mode) string {
	switch m {
	case Pipeline:
		return "in pipelines"
	case Tx:
		return "in transactions"
	}
	return "one at a time"
}

// money formats dollars with thousands separators and cents.
func money(x float64) string {
	cents := math.Round(x * 100)
	whole := math.Trunc(cents / 100)
	return fmt.Sprintf("$%s.%02.0f", count(whole), math.Abs(cents-whole*100))
}

// planHeadroomShare is the share of a fixed plan's cap above which the
// plan-headroom rule reports.
const planHeadroomShare = 0.8

// checkPlanHeadroom compares a fixed plan's caps with the observed command
// rate and, when server statistics are present, the used memory.
func checkPlanHeadroom(s *Snapshot) []Finding {
	p := s.Pricing
	if !p.Fixed() || s.Window <= 0 {
		return nil
	}
	var out []Finding
	rate := float64(s.BilledCommands) / s.Window.Seconds()
	if p.MaxCommandsPerSecond > 0 && rate >= planHeadroomShare*p.MaxCommandsPerSecond {
		out = append(out, Finding{
			Rule:  "plan-headroom",
			Title: fmt.Sprintf("%.0f%% of the plan's %s commands a second in use", 100*rate/p.MaxCommandsPerSecond, count(p.MaxCommandsPerSecond)),
			Evidence: fmt.Sprintf("%.1f billed commands a second on average over %s; the plan allows %s.",
				rate, s.Window.Round(time.Millisecond), count(p.MaxCommandsPerSecond)),
			Recommendation: "Apply the findings that free commands a second before the plan throttles, or move to a larger plan.",
		})
	}
	if p.MaxDataGB > 0 && s.Server != nil && s.Server.UsedMemory > 0 {
		used := float64(s.Server.UsedMemory) / 1e9
		if used >= planHeadroomShare*p.MaxDataGB {
			out = append(out, Finding{
				Rule:           "plan-headroom",
				Title:          fmt.Sprintf("%.0f%% of the plan's %g GB of data in use", 100*used/p.MaxDataGB, p.MaxDataGB),
				Evidence:       fmt.Sprintf("The server reports %.3f GB used; the plan allows %g GB.", used, p.MaxDataGB),
				Recommendation: "Give growing keys a TTL and bound collections (see missing-ttl and unbounded-collection), or move to a larger plan.",
			})
		}
	}
	return out
}

// count formats n with thousands separators.
func count(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func byteSize(n float64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}

func goDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%d*time.Second", d/time.Second)
	}
	return fmt.Sprintf("%d*time.Millisecond", d/time.Millisecond)
}
