package upstashops

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// sharedRecordTTL is how long Redis keeps an alert record or a job's open
// findings without an update. It only collects what a removed job or
// channel left behind, so it is far longer than any cadence.
const sharedRecordTTL = 30 * 24 * time.Hour

// sharedDelivery keeps, in Redis, when each channel last got each finding
// and which channels got it, so that instances sharing the Redis send an
// alert once per cooldown and one resolution, whichever instance runs the
// job. Keys of one finding share a Redis Cluster hash tag.
type sharedDelivery struct {
	rdb      redis.UniversalClient
	keys     keys
	cooldown time.Duration
}

// claimScript records an alert unless the channel got the finding within
// the cooldown at the same or a higher severity. The time comes from the
// caller's clock. KEYS: sent, alerted. ARGV: severity, now in ms, cooldown
// in ms, channel, record TTL in ms.
var claimScript = redis.NewScript(`
local cur = redis.call("GET", KEYS[1])
if cur then
  local sev, at = string.match(cur, "^(%d+):(%d+)$")
  if sev and tonumber(ARGV[2]) - tonumber(at) < tonumber(ARGV[3]) and tonumber(ARGV[1]) <= tonumber(sev) then
    return 0
  end
end
redis.call("SET", KEYS[1], ARGV[1] .. ":" .. ARGV[2], "PX", ARGV[5])
redis.call("SADD", KEYS[2], ARGV[4])
redis.call("PEXPIRE", KEYS[2], ARGV[5])
return 1`)

// takeScript returns and deletes the channels that got a finding's alert,
// with their cooldown records, so that only one caller resolves it. KEYS:
// alerted. ARGV: the prefix of the sent keys.
var takeScript = redis.NewScript(`
local names = redis.call("SMEMBERS", KEYS[1])
redis.call("DEL", KEYS[1])
for _, name in ipairs(names) do
  redis.call("DEL", ARGV[1] .. name)
end
return names`)

func (s *sharedDelivery) claim(ctx context.Context, channel string, f Finding, now time.Time) (bool, error) {
	n, err := claimScript.Run(ctx, s.rdb, []string{s.keys.sent(f.ID, channel), s.keys.alerted(f.ID)},
		int(f.Severity), now.UnixMilli(), s.cooldown.Milliseconds(), channel, sharedRecordTTL.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("upstashops: record alert of %s: %w", f.ID, err)
	}
	return n == 1, nil
}

func (s *sharedDelivery) takeAlerted(ctx context.Context, id string) ([]string, error) {
	names, err := takeScript.Run(ctx, s.rdb, []string{s.keys.alerted(id)}, s.keys.sent(id, "")).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("upstashops: read alert record of %s: %w", id, err)
	}
	return names, nil
}

// loadOpen returns a job's open findings as the last run of any instance
// left them.
func (op *Operator) loadOpen(ctx context.Context, name JobName) (map[string]Finding, error) {
	vals, err := op.cfg.rdb.HGetAll(ctx, op.keys.findings(name)).Result()
	if err != nil {
		return nil, fmt.Errorf("upstashops: read open findings of %s: %w", name, err)
	}
	out := make(map[string]Finding, len(vals))
	for id, v := range vals {
		var f Finding
		if json.Unmarshal([]byte(v), &f) == nil {
			out[id] = f
		}
	}
	return out, nil
}

// storeOpen replaces a job's open findings in Redis.
func (op *Operator) storeOpen(ctx context.Context, name JobName, fs []Finding) error {
	key := op.keys.findings(name)
	pipe := op.cfg.rdb.TxPipeline()
	pipe.Del(ctx, key)
	if len(fs) > 0 {
		fields := make([]any, 0, 2*len(fs))
		for _, f := range fs {
			b, err := json.Marshal(f)
			if err != nil {
				return fmt.Errorf("upstashops: encode finding %s: %w", f.ID, err)
			}
			fields = append(fields, f.ID, b)
		}
		pipe.HSet(ctx, key, fields...)
		pipe.PExpire(ctx, key, sharedRecordTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("upstashops: store open findings of %s: %w", name, err)
	}
	return nil
}

// sharedFindings returns the open findings of every job as stored in
// Redis, so that any instance's dashboard shows what every instance found.
// Without Redis, or when it fails, it returns the local findings.
func (op *Operator) sharedFindings(ctx context.Context) []Finding {
	if op.cfg.rdb == nil {
		return op.Findings()
	}
	var out []Finding
	for _, name := range op.jobOrder {
		open, err := op.loadOpen(ctx, name)
		if err != nil {
			op.log.LogAttrs(ctx, slog.LevelWarn, "upstashops: shared findings unavailable, showing local ones", slog.String("error", err.Error()))
			return op.Findings()
		}
		for _, f := range open {
			out = append(out, f)
		}
	}
	sortFindings(out)
	return out
}

func (k keys) sent(id, channel string) string {
	return k.prefix + "notify:{" + id + "}:sent:" + channel
}
func (k keys) alerted(id string) string     { return k.prefix + "notify:{" + id + "}:alerted" }
func (k keys) findings(name JobName) string { return k.prefix + "findings:" + string(name) }
