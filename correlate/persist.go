package correlate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
)

// BaselineStore keeps the Detector's learned baselines across restarts.
type BaselineStore interface {
	// SaveBaselines stores the encoded baselines by series name. They
	// replace every baseline stored before, so that series the Detector
	// no longer keeps do not pile up. An empty map may leave the store as
	// it is.
	SaveBaselines(ctx context.Context, baselines map[string][]byte) error
	// LoadBaselines returns every stored baseline by series name.
	LoadBaselines(ctx context.Context) (map[string][]byte, error)
}

// ErrCorruptBaseline reports a stored baseline that cannot be decoded; Load
// skips it and returns this error (wrapped) with the count of the others.
var ErrCorruptBaseline = errors.New("correlate: corrupt baseline")

// Save encodes every series' baseline and writes them to store.
func (d *Detector) Save(ctx context.Context, store BaselineStore) error {
	d.mu.Lock()
	out := make(map[string][]byte, len(d.series))
	for name, el := range d.series {
		out[name] = el.Value.(*series).encode()
	}
	d.mu.Unlock()
	if err := store.SaveBaselines(ctx, out); err != nil {
		return fmt.Errorf("correlate: save %d baselines: %w", len(out), err)
	}
	return nil
}

// Load reads the baselines in store and replaces the Detector's state for
// those series, up to the series limit. It returns how many were loaded.
func (d *Detector) Load(ctx context.Context, store BaselineStore) (int, error) {
	stored, err := store.LoadBaselines(ctx)
	if err != nil {
		return 0, fmt.Errorf("correlate: load baselines: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var corrupt []string
	loaded := 0
	for name, data := range stored {
		st := newSeries(name, &d.cfg)
		if err := st.decode(data, &d.cfg); err != nil {
			corrupt = append(corrupt, name)
			continue
		}
		*d.lookup(name) = *st
		loaded++
	}
	if len(corrupt) > 0 {
		return loaded, fmt.Errorf("%w: %d series, first %q", ErrCorruptBaseline, len(corrupt), corrupt[0])
	}
	return loaded, nil
}

const baselineVersion = 1

// encode writes the series state in a fixed little-endian layout, preceded
// by a version byte.
func (st *series) encode() []byte {
	values := st.win.values()
	b := make([]byte, 0, 64+len(values)*8+(24+168)*20+160)
	b = append(b, baselineVersion)
	b = binary.LittleEndian.AppendUint64(b, st.n)
	b = appendTime(b, st.first)
	b = appendTime(b, st.last)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(values)))
	for _, v := range values {
		b = appendFloat(b, v)
	}
	for _, bk := range append(st.day[:], st.week[:]...) {
		b = appendFloat(b, bk.level)
		b = appendFloat(b, bk.scale)
		b = binary.LittleEndian.AppendUint32(b, bk.n)
	}
	for _, f := range []float64{st.errLocal, st.errDay, st.errWeek, st.slow, st.cusumHi, st.cusumLo, st.peak, st.globalMean, st.globalVar, st.recentRaw, st.rawMean, st.rawVar, st.alarmRate} {
		b = appendFloat(b, f)
	}
	b = appendTime(b, st.hiSince)
	b = appendTime(b, st.loSince)
	b = appendTime(b, st.overFrom)
	for _, n := range []int{st.hiCount, st.loCount, st.over, st.overSign, st.sinceOnset, st.hold} {
		b = binary.LittleEndian.AppendUint32(b, uint32(int32(n)))
	}
	return b
}

// decode reads what encode wrote. The stored window is cut to the
// configured window size, keeping the newest values.
func (st *series) decode(data []byte, cfg *config) error {
	r := reader{b: data}
	if v := r.byte(); v != baselineVersion {
		return fmt.Errorf("unknown baseline version %d", v)
	}
	st.n = r.uint64()
	st.first, st.last = r.time(), r.time()
	values := make([]float64, r.uint16())
	for i := range values {
		values[i] = r.float()
	}
	if len(values) > cfg.window {
		values = values[len(values)-cfg.window:]
	}
	st.win = newWindow(cfg.window)
	for _, v := range values {
		st.win.push(v)
	}
	for i := range st.day {
		st.day[i] = bucket{level: r.float(), scale: r.float(), n: r.uint32()}
	}
	for i := range st.week {
		st.week[i] = bucket{level: r.float(), scale: r.float(), n: r.uint32()}
	}
	for _, f := range []*float64{&st.errLocal, &st.errDay, &st.errWeek, &st.slow, &st.cusumHi, &st.cusumLo, &st.peak, &st.globalMean, &st.globalVar, &st.recentRaw, &st.rawMean, &st.rawVar, &st.alarmRate} {
		*f = r.float()
	}
	st.hiSince, st.loSince, st.overFrom = r.time(), r.time(), r.time()
	for _, n := range []*int{&st.hiCount, &st.loCount, &st.over, &st.overSign, &st.sinceOnset, &st.hold} {
		*n = int(int32(r.uint32()))
	}
	if r.err || len(r.b) != 0 {
		return errors.New("baseline has the wrong length")
	}
	if r.nonFinite {
		return errors.New("baseline contains a NaN or infinite value")
	}
	if err := st.checkDecoded(); err != nil {
		return err
	}
	// A baseline saved with a longer cooldown holds longer than this one.
	st.hold = min(st.hold, cfg.cooldown)
	st.sinceOnset = min(st.sinceOnset, cfg.cooldown)
	return nil
}

// checkDecoded rejects state that the detector never writes: a negative
// spread, variance, CUSUM sum, peak, rate or count, or a side other than
// -1, 0 or 1. A negative variance would make its square root NaN.
func (st *series) checkDecoded() error {
	nonNegative := []float64{st.errLocal, st.errDay, st.errWeek, st.cusumHi, st.cusumLo, st.peak, st.globalVar, st.rawVar, st.alarmRate}
	for _, b := range append(st.day[:], st.week[:]...) {
		nonNegative = append(nonNegative, b.scale)
	}
	for _, f := range nonNegative {
		if f < 0 {
			return fmt.Errorf("baseline contains a negative spread, variance or rate (%v)", f)
		}
	}
	for _, n := range []int{st.hiCount, st.loCount, st.over, st.sinceOnset, st.hold} {
		if n < 0 {
			return fmt.Errorf("baseline contains a negative count (%d)", n)
		}
	}
	if st.overSign < -1 || st.overSign > 1 {
		return fmt.Errorf("baseline contains an invalid side %d: want -1, 0 or 1", st.overSign)
	}
	return nil
}

func appendFloat(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.LittleEndian.AppendUint64(b, 0)
	}
	return binary.LittleEndian.AppendUint64(b, uint64(t.UnixNano()))
}

// reader decodes fixed-size fields. It records a short read in err and a
// NaN or infinite float in nonFinite, because the detector never stores
// one and would stop scoring a series that held one.
type reader struct {
	b         []byte
	err       bool
	nonFinite bool
}

func (r *reader) take(n int) []byte {
	if len(r.b) < n {
		r.err = true
		r.b = nil
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) byte() byte     { return r.take(1)[0] }
func (r *reader) uint16() uint16 { return binary.LittleEndian.Uint16(r.take(2)) }
func (r *reader) uint32() uint32 { return binary.LittleEndian.Uint32(r.take(4)) }
func (r *reader) uint64() uint64 { return binary.LittleEndian.Uint64(r.take(8)) }
func (r *reader) float() float64 {
	f := math.Float64frombits(r.uint64())
	if math.IsNaN(f) || math.IsInf(f, 0) {
		r.nonFinite = true
	}
	return f
}
func (r *reader) time() time.Time {
	ns := int64(r.uint64())
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// RedisHashClient is the part of a go-redis client that RedisBaselineStore
// calls; *redis.Client, *redis.ClusterClient and *redis.Ring satisfy it.
type RedisHashClient interface {
	HGetAll(ctx context.Context, key string) *redis.MapStringStringCmd
	TxPipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
}

// RedisBaselineStore keeps baselines in one Redis hash, one field per
// series. A save replaces the hash in one transaction (MULTI, DEL, HSET,
// EXPIRE, EXEC) and a load is one HGETALL, whatever the number of series,
// so the hash holds at most the Detector's series limit.
type RedisBaselineStore struct {
	rdb RedisHashClient
	key string
	ttl time.Duration
}

// DefaultBaselineKey is the hash key RedisBaselineStore uses by default.
const DefaultBaselineKey = "upstashops:correlate:baselines"

// NewRedisBaselineStore returns a store in the hash at key (DefaultBaselineKey
// when empty) that expires ttl after the last save (30 days when zero), so
// that baselines of a retired app do not stay billed forever.
func NewRedisBaselineStore(rdb RedisHashClient, key string, ttl time.Duration) *RedisBaselineStore {
	if key == "" {
		key = DefaultBaselineKey
	}
	if ttl <= 0 {
		ttl = 30 * 24 * time.Hour
	}
	return &RedisBaselineStore{rdb: rdb, key: key, ttl: ttl}
}

// SaveBaselines replaces the hash with the baselines and refreshes its TTL,
// in one MULTI/EXEC transaction. An empty map leaves the hash as it is.
func (s *RedisBaselineStore) SaveBaselines(ctx context.Context, baselines map[string][]byte) error {
	if len(baselines) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(baselines))
	for name, data := range baselines {
		args = append(args, name, data)
	}
	_, err := s.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Del(ctx, s.key)
		pipe.HSet(ctx, s.key, args...)
		pipe.Expire(ctx, s.key, s.ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("replace baselines in %s: %w", s.key, err)
	}
	return nil
}

// LoadBaselines reads every baseline with one HGETALL.
func (s *RedisBaselineStore) LoadBaselines(ctx context.Context) (map[string][]byte, error) {
	fields, err := s.rdb.HGetAll(ctx, s.key).Result()
	if err != nil {
		return nil, fmt.Errorf("HGETALL %s: %w", s.key, err)
	}
	out := make(map[string][]byte, len(fields))
	for name, data := range fields {
		out[name] = []byte(data)
	}
	return out, nil
}
