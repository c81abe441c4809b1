// Package adaptive changes per-key rate limits to follow each key's real
// traffic, through the overrides of a ratelimit.Limiter, with a reason for
// every change.
//
// A Recorder counts each key's requests and denials per bucket of time
// (one minute by default) in process, fed by ratelimit.WithOnDecision.
// Flush writes them to one Redis sorted set per key in one pipeline, so
// every app instance reads the same history. The layer bills no Redis
// command per request and 3 per key per flush (ZADD, ZREMRANGEBYSCORE,
// PEXPIRE). Evaluating a key reads its history and its override limit in
// one pipeline (ZRANGEBYSCORE and GET, 2 billed commands). A change that is
// applied also costs the limiter's SetOverride (4), and every delivered
// change a ZADD and PEXPIRE that store it in the key's history.
//
// A Tuner applies the Policy to a key's history:
//
//   - a trusted key whose recent demand is near its limit (80%) during a
//     spike (twice its baseline) gets a temporary raise (x2, up to four
//     times its default limit). The raise is an override with a TTL (one
//     hour), so it reverts by itself;
//   - an untrusted or unknown key at 10 times its baseline gets its limit
//     cut multiplicatively (x0.5) for an hour, flagged for review. Demand
//     counts denied requests and the baseline is the median bucket, so the
//     cuts go on while a flood is denied;
//   - a key whose daily peak reached 90% of its limit on each of the last 3
//     days gets a recommendation (x1.5) and no change, at most once a day;
//   - no limit leaves [Floor, Ceiling];
//   - after a raise or cut, the key gets no other one for a cooldown (the
//     recent window, five minutes by default) on any instance, because
//     each change is stored in the key's shared history.
//
// Each rule's thresholds and factors are fields of Policy, and each rule
// can be turned off.
//
// The hook set with WithOnAdjust receives every change as proposed (an
// error rejects it) and then as applied, or once as recommended; with
// WithRecommendOnly nothing is applied. A Notifier set with WithNotifier
// receives each applied or recommended change, such as a raise. Account
// data comes from the application's AccountLookup. Keys it does not know,
// and keys whose lookup fails, are untrusted.
//
// # Memory
//
// A Recorder holds at most WithMaxKeys keys (10,000 by default) between
// flushes, each with one counter per bucket since its last successful
// flush and never more than the retention's worth. Traffic past the key
// bound is counted in Dropped. A Tuner keeps no per-key state in process.
//
// # Limitations
//
//   - Demand is counted in requests, not in cost units.
//   - A raise applied on another instance reaches this process's deny
//     cache at this instance's next evaluation of the key.
//   - Evaluate reads up to three days of buckets per key (about 4,300
//     members per instance at one-minute buckets); run it every few
//     minutes, not per request.
//   - The baseline needs history before the recent window: a key seen for
//     the first time has no baseline and is never tightened at once.
package adaptive
