// Package costlint finds Redis usage patterns that waste money on a
// per-command bill, such as Upstash's, and prices them.
//
// A Linter records every command a go-redis client sends through a hook:
// the command, the key pattern (user:8412:profile counts as
// user:{id}:profile), the call site, whether it was sent alone, in a
// pipeline or in MULTI/EXEC, argument and reply sizes, TTL arguments and
// errors. Report projects the observed window to a 30-day month, runs the
// rules and prices each finding with the commands a month now, after the
// fix, and the dollars saved.
//
//	linter := costlint.New(costlint.WithPricing(costlint.UpstashPayAsYouGo))
//	rdb.AddHook(linter.Hook()) // or linter := costlint.Instrument(rdb)
//	...
//	report := linter.Report()
//	report.WriteText(os.Stdout)
//
// # Billing facts the prices rest on
//
// Upstash's pay-as-you-go plan bills $0.20 per 100,000 commands and $0.03
// per GB of bandwidth beyond 200 GB a month (both are Pricing fields).
// Every command inside a pipeline or MULTI/EXEC is billed, so pipelining
// saves round trips but no money, while variadic commands (MGET, MSET,
// HMGET, DEL k1 k2 ...) do save. A Lua script is billed as the EVAL or
// EVALSHA plus each redis.call it makes. The hook learns a script's source
// from EVAL, maps it to its SHA1 and counts the redis.call sites in it;
// WithScriptCalls declares the real number. AUTH, HELLO, SELECT,
// COMMAND, CONFIG, INFO, PING, RESET and QUIT are free.
//
// # Rules
//
// DefaultRules returns the built-in rules: n-plus-one, redundant-ttl-refresh,
// ttl-thrash, missing-ttl, keys-command, small-scan-count, idle-polling,
// sorted-set-log, constant-scores, unbounded-collection, big-values,
// hot-key, connection-churn, and server-command-mix, server-hit-ratio and
// server-evictions, which read INFO (CollectServerStats) or Upstash's
// developer API (CollectUpstashStats), and plan-headroom, which compares a
// fixed plan's caps with the observed load. Add rules with WithExtraRules or
// replace them with WithRules; a Rule is one method on a Snapshot.
//
// Jobs that report on an interval call Rotate, which reports the window and
// starts the next one in one step. WithTTLFloor and SetTTLFloor make the
// hook raise TTL arguments below a floor on a key pattern; no floor is set
// by default.
//
// Severity follows the monthly savings: SeverityAlert from $50 and
// SeverityHigh, with code-level before and after, from $200 (WithSeverity
// changes both). KEYS is always SeverityHigh.
//
// # JSON report
//
// WriteJSON writes one object whose schema_version is SchemaVersion (1).
// Within a version, fields are only added, never removed or changed in
// meaning. Its fields are pricing, window_start and window_end (RFC 3339,
// UTC), window_seconds, commands_observed, commands_per_month,
// bandwidth_per_month_gb, cost_per_month_usd, commands_per_second,
// monthly_savings_usd, overflow (call_sites, patterns, unknown_scripts),
// rule_errors when a rule failed, and findings. Each finding has rule,
// title, severity ("info", "alert" or "high"), evidence, recommendation,
// commands_per_month, commands_per_month_after and monthly_savings_usd,
// and when they apply call_sites, key_patterns, commands, before, after,
// bandwidth_saved_bytes_per_month and commands_per_second_freed.
//
// # Memory and speed
//
// Aggregates are bounded: key patterns by WithMaxPatterns, (call site,
// command, pattern, mode) aggregates by WithMaxCallSites, the hot-key
// table by WithMaxHotKeys and learned Lua scripts by 256. Commands past a
// cap are still billed in the totals and counted in Report.Overflow. The
// hook does not allocate per command; BENCHMARKS.md has its cost.
//
// # Limitations
//
//   - Bursts for the N+1 rule are runs of commands from one caller of a
//     call site with gaps up to WithBurstGap (50 ms). Without a Scope, the
//     caller is the goroutine on linux/amd64, and the frame address of the
//     calling function on other amd64 systems, where a stack that grows
//     moves the frame and can split a run (the savings then err low). On
//     other architectures concurrent requests through one call site merge
//     into longer runs, which overstates the savings. Mark each request
//     with WithScope to count bursts exactly everywhere.
//   - On amd64 the call site is found by walking frame pointers; on other
//     architectures runtime.Callers is used, which is slower.
//   - The hook records one mutex-guarded update per command, so many
//     goroutines issuing commands at once contend on it.
//   - The CLIENT SETINFO and CLIENT MAINT_NOTIFICATIONS commands that
//     go-redis sends on each new connection are counted as billed. Servers
//     before Redis 7.2 reject CLIENT SETINFO, and whether Upstash bills a
//     rejected command is not known here.
package costlint
