package adaptive

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/upstash-ops/sdk/ratelimit"
)

// Redis is the part of a go-redis client that the recorder calls. It is
// satisfied by *redis.Client, *redis.ClusterClient and *redis.Ring.
type Redis interface {
	Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
}

// Defaults of the recorder.
const (
	DefaultBucket    = time.Minute
	DefaultRetention = 4 * 24 * time.Hour
	DefaultMaxKeys   = 10_000
)

// Bucket is the traffic of one key in one bucket of time, summed over every
// app instance that flushed to Redis.
type Bucket struct {
	Start    time.Time
	Requests int64 // allowed and denied
	Denied   int64
}

type counts struct{ requests, denied int64 }

// Recorder aggregates each key's traffic per bucket of time in process and
// flushes it to Redis, so that every app instance reads the same history.
//
// The history of key K is the sorted set "{prefix:K}:hist", in the hash
// slot of the limiter's own keys. Each flush adds one member per key and
// bucket, "bucketUnix:instance:seq:requests:denied", scored by the bucket's
// start. It also drops members older than the retention and sets the key's
// TTL to the retention. All of it goes in one pipeline, which bills 3
// commands per key flushed and none per request.
//
// Memory: at most maxKeys keys between flushes (WithMaxKeys, 10,000 by
// default); traffic of further keys is counted in Dropped and not recorded.
// Each key holds one counter per bucket since the last successful flush,
// and a failed flush keeps only the buckets within the retention, so a key
// holds at most retention/bucket counters (5,760 by default) while Redis
// is down.
// A Recorder is safe for concurrent use.
type Recorder struct {
	rdb       Redis
	clock     ratelimit.Clock
	prefix    string
	bucket    time.Duration
	retention time.Duration
	maxKeys   int
	instance  string

	mu      sync.Mutex
	pending map[string]map[int64]*counts // key -> bucket start (Unix s) -> counts
	seq     int64
	dropped int64
}

// RecorderOption configures a Recorder.
type RecorderOption func(*Recorder)

// WithPrefix sets the key prefix; it must match the limiter's
// (ratelimit.WithPrefix), "rl" by default.
func WithPrefix(p string) RecorderOption { return func(r *Recorder) { r.prefix = p } }

// WithBucket sets the bucket length, one minute by default. Values under a
// second keep the default.
func WithBucket(d time.Duration) RecorderOption {
	return func(r *Recorder) {
		if d >= time.Second {
			r.bucket = d
		}
	}
}

// WithRetention sets how long history stays in Redis, four days by default
// (the growth rule looks three days back). Values under an hour keep the
// default.
func WithRetention(d time.Duration) RecorderOption {
	return func(r *Recorder) {
		if d >= time.Hour {
			r.retention = d
		}
	}
}

// WithMaxKeys bounds the keys held between flushes, 10,000 by default.
func WithMaxKeys(n int) RecorderOption {
	return func(r *Recorder) {
		if n > 0 {
			r.maxKeys = n
		}
	}
}

// WithRecorderClock sets the clock, the system clock by default.
func WithRecorderClock(c ratelimit.Clock) RecorderOption { return func(r *Recorder) { r.clock = c } }

// NewRecorder returns a Recorder that flushes to rdb.
func NewRecorder(rdb Redis, opts ...RecorderOption) (*Recorder, error) {
	if rdb == nil {
		return nil, fmt.Errorf("adaptive: redis client is nil")
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	r := &Recorder{
		rdb:       rdb,
		prefix:    "rl",
		bucket:    DefaultBucket,
		retention: DefaultRetention,
		maxKeys:   DefaultMaxKeys,
		instance:  hex.EncodeToString(id[:]),
		pending:   make(map[string]map[int64]*counts),
	}
	for _, opt := range opts {
		opt(r)
	}
	if r.clock == nil {
		r.clock = systemClock{}
	}
	if r.prefix == "" || strings.ContainsAny(r.prefix, "{}") {
		return nil, fmt.Errorf("adaptive: invalid key prefix %q: it must be non-empty and contain no '{' or '}'", r.prefix)
	}
	return r, nil
}

// HistoryKey returns the Redis key of key's history.
func (r *Recorder) HistoryKey(key string) string {
	return "{" + r.prefix + ":" + key + "}:hist"
}

// Observe records one decision of the limiter for key. Pass it to
// ratelimit.WithOnDecision.
func (r *Recorder) Observe(key string, res ratelimit.Result) {
	var denied int64
	if !res.Allowed {
		denied = 1
	}
	r.Record(key, 1, denied)
}

// Record adds requests (of which denied were denied) to key's current
// bucket.
func (r *Recorder) Record(key string, requests, denied int64) {
	start := r.bucketStart(r.clock.Now())
	r.mu.Lock()
	defer r.mu.Unlock()
	byBucket, ok := r.pending[key]
	if !ok {
		if len(r.pending) >= r.maxKeys {
			r.dropped += requests
			return
		}
		byBucket = make(map[int64]*counts)
		r.pending[key] = byBucket
	}
	c, ok := byBucket[start]
	if !ok {
		c = &counts{}
		byBucket[start] = c
	}
	c.requests += requests
	c.denied += denied
}

// Dropped returns the requests not recorded because the key bound was
// reached.
func (r *Recorder) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

func (r *Recorder) bucketStart(t time.Time) int64 {
	return t.Truncate(r.bucket).Unix()
}

// Flush writes the traffic recorded since the last flush to Redis in one
// pipeline and returns the keys it wrote, sorted. On failure the traffic is
// kept for the next flush, within the key bound and the retention.
func (r *Recorder) Flush(ctx context.Context) ([]string, error) {
	r.mu.Lock()
	batch := r.pending
	r.pending = make(map[string]map[int64]*counts)
	r.seq++
	seq := r.seq
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil, nil
	}
	keys := slices.Sorted(maps.Keys(batch))

	oldest := strconv.FormatInt(r.clock.Now().Add(-r.retention).Unix(), 10)
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, key := range keys {
			hist := r.HistoryKey(key)
			members := make([]redis.Z, 0, len(batch[key]))
			for start, c := range batch[key] {
				members = append(members, redis.Z{
					Score:  float64(start),
					Member: fmt.Sprintf("%d:%s:%d:%d:%d", start, r.instance, seq, c.requests, c.denied),
				})
			}
			p.ZAdd(ctx, hist, members...)
			p.ZRemRangeByScore(ctx, hist, "-inf", "("+oldest)
			p.PExpire(ctx, hist, r.retention)
		}
		return nil
	})
	if err != nil {
		r.restore(batch)
		return nil, fmt.Errorf("adaptive: flush history of %d keys: %w", len(batch), err)
	}
	return keys, nil
}

// restore puts back the traffic of a failed flush, except buckets older
// than the retention, which count in Dropped.
func (r *Recorder) restore(batch map[string]map[int64]*counts) {
	oldest := r.bucketStart(r.clock.Now().Add(-r.retention))
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, byBucket := range batch {
		for start, c := range byBucket {
			if start < oldest {
				r.dropped += c.requests
				continue
			}
			cur, ok := r.pending[key]
			if !ok {
				if len(r.pending) >= r.maxKeys {
					r.dropped += c.requests
					continue
				}
				cur = make(map[int64]*counts)
				r.pending[key] = cur
			}
			if cur[start] == nil {
				cur[start] = &counts{}
			}
			cur[start].requests += c.requests
			cur[start].denied += c.denied
		}
	}
}

// History returns key's buckets from since to now, oldest first, summed
// over every instance's flushes. Buckets without traffic are absent.
func (r *Recorder) History(ctx context.Context, key string, since time.Time) ([]Bucket, error) {
	buckets, _, err := r.read(ctx, key, since)
	return buckets, err
}

// adjustment is a change that a Tuner delivered for a key, stored in the
// key's history as "adj:unixMillis:kind:stage:to" so that every instance
// reads it.
type adjustment struct {
	at    time.Time
	kind  Kind
	stage Stage
	to    float64
}

// read returns key's buckets and adjustments from since to now, oldest
// first, with one ZRANGEBYSCORE.
func (r *Recorder) read(ctx context.Context, key string, since time.Time) ([]Bucket, []adjustment, error) {
	h, err := r.readWithOverride(ctx, key, since, "")
	return h.buckets, h.adjustments, err
}

// history is a key's history with its override limit.
type history struct {
	buckets     []Bucket
	adjustments []adjustment
	override    string // the override key's value, "" when it has none
}

// readWithOverride reads key's history from since and, when overrideKey is
// not empty, the override limit stored there, in one pipeline: ZRANGEBYSCORE
// and GET, 2 billed commands.
func (r *Recorder) readWithOverride(ctx context.Context, key string, since time.Time, overrideKey string) (history, error) {
	var rangeCmd *redis.StringSliceCmd
	var getCmd *redis.StringCmd
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		rangeCmd = p.ZRangeByScore(ctx, r.HistoryKey(key), &redis.ZRangeBy{
			Min: strconv.FormatInt(r.bucketStart(since), 10),
			Max: "+inf",
		})
		if overrideKey != "" {
			getCmd = p.Get(ctx, overrideKey)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return history{}, fmt.Errorf("adaptive: read history of key %q: %w", key, err)
	}
	var h history
	if getCmd != nil {
		h.override = getCmd.Val()
	}
	h.buckets, h.adjustments = parseMembers(rangeCmd.Val())
	return h, nil
}

// maxCount bounds the counts of one history member, so that sums of
// members written by anything other than a Recorder cannot overflow.
const maxCount = 1 << 40

// maxUnix is the last second of year 9999. Times in members lie in
// [0, maxUnix], within what time.Time orders correctly.
const maxUnix = 253402300799

// parseMembers sums the bucket members of a history per bucket and
// collects its adjustments, each sorted by time. Members of another shape,
// and counts that are negative, above maxCount or with more denied than
// requests, or times outside [0, maxUnix], are skipped.
func parseMembers(members []string) ([]Bucket, []adjustment) {
	sums := make(map[int64]*Bucket)
	var adjustments []adjustment
	for _, m := range members {
		parts := strings.Split(m, ":")
		if len(parts) != 5 {
			continue
		}
		if parts[0] == "adj" {
			if a, ok := parseAdjustment(parts); ok {
				adjustments = append(adjustments, a)
			}
			continue
		}
		start, err1 := strconv.ParseInt(parts[0], 10, 64)
		requests, err2 := strconv.ParseInt(parts[3], 10, 64)
		denied, err3 := strconv.ParseInt(parts[4], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || start < 0 || start > maxUnix ||
			requests < 0 || requests > maxCount || denied < 0 || denied > requests {
			continue
		}
		b, ok := sums[start]
		if !ok {
			b = &Bucket{Start: time.Unix(start, 0).UTC()}
			sums[start] = b
		}
		b.Requests += requests
		b.Denied += denied
	}
	out := make([]Bucket, 0, len(sums))
	for _, start := range slices.Sorted(maps.Keys(sums)) {
		out = append(out, *sums[start])
	}
	slices.SortFunc(adjustments, func(a, b adjustment) int { return a.at.Compare(b.at) })
	return out, adjustments
}

func parseAdjustment(parts []string) (adjustment, bool) {
	millis, err1 := strconv.ParseInt(parts[1], 10, 64)
	kind, err2 := strconv.ParseUint(parts[2], 10, 8)
	stage, err3 := strconv.ParseUint(parts[3], 10, 8)
	to, err4 := strconv.ParseFloat(parts[4], 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || math.IsNaN(to) ||
		millis < 0 || millis > maxUnix*1000 {
		return adjustment{}, false
	}
	return adjustment{at: time.UnixMilli(millis).UTC(), kind: Kind(kind), stage: Stage(stage), to: to}, true
}

// recordAdjustment adds c to key's history with ZADD and PEXPIRE in one
// pipeline (2 billed commands), so that the PEXPIRE bounds the history
// even when it had expired before the change.
func (r *Recorder) recordAdjustment(ctx context.Context, c Change) error {
	hist := r.HistoryKey(c.Key)
	member := "adj:" + strconv.FormatInt(c.At.UnixMilli(), 10) + ":" +
		strconv.FormatUint(uint64(c.Kind), 10) + ":" + strconv.FormatUint(uint64(c.Stage), 10) + ":" +
		strconv.FormatFloat(c.To, 'g', -1, 64)
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, hist, redis.Z{Score: float64(c.At.Unix()), Member: member})
		p.PExpire(ctx, hist, r.retention)
		return nil
	})
	if err != nil {
		return fmt.Errorf("adaptive: record %s of key %q in its history: %w", c.Kind, c.Key, err)
	}
	return nil
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
