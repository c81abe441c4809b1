package correlate

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"

	"github.com/upstash-ops/sdk/correlate/synth"
	"github.com/upstash-ops/sdk/internal/redistest"
)

func TestBaselineSurvivesRestart(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	store := NewRedisBaselineStore(rdb, "", 0)

	points := diurnal(21, 5)
	cut := 4 * 288
	before := newTestDetector(t)
	feed(t, before, "traffic", points[:cut])
	feed(t, before, "other", points[:100])
	if err := before.Save(ctx, store); err != nil {
		t.Fatal(err)
	}

	after := newTestDetector(t)
	n, err := after.Load(ctx, store)
	if err != nil || n != 2 {
		t.Fatalf("Load() = %d, %v, want 2 series", n, err)
	}
	if phase, _ := after.Phase("traffic"); phase != PhaseSeasonal {
		t.Errorf("restored phase = %v, want seasonal", phase)
	}
	// The restored detector scores the next day exactly as the original.
	for _, p := range points[cut:] {
		s := Sample{Series: "traffic", Time: p.Time, Value: p.Value}
		want, _ := before.Observe(s)
		got, _ := after.Observe(s)
		if got.Z != want.Z || got.Anomaly != want.Anomaly || got.Expected != want.Expected {
			t.Fatalf("at %v restored score %+v, original %+v", p.Time, got, want)
		}
	}
	if ttl := rdb.TTL(ctx, DefaultBaselineKey).Val(); ttl <= 29*24*time.Hour {
		t.Errorf("baseline key TTL = %v, want about 30 days", ttl)
	}
}

// newTestStore returns a client of a fresh redis-server and a baseline store
// in its hash "test:baselines" with a TTL of one hour.
func newTestStore(t *testing.T) (*redis.Client, *RedisBaselineStore) {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	return rdb, NewRedisBaselineStore(rdb, "test:baselines", time.Hour)
}

func TestLoadSkipsCorruptBaseline(t *testing.T) {
	rdb, store := newTestStore(t)
	ctx := context.Background()

	d := newTestDetector(t)
	feed(t, d, "good", diurnal(1, 1))
	if err := d.Save(ctx, store); err != nil {
		t.Fatal(err)
	}
	rdb.HSet(ctx, "test:baselines", "bad", "\x01short")

	fresh := newTestDetector(t)
	n, err := fresh.Load(ctx, store)
	if !errors.Is(err, ErrCorruptBaseline) || n != 1 {
		t.Errorf("Load() = %d, %v, want 1 and ErrCorruptBaseline", n, err)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	d := newTestDetector(t)
	points := diurnal(3, 2)
	synth.Spike(points, 400, 3, 10)
	feed(t, d, "x", points)
	st := d.series["x"].Value.(*series)
	// Counters that are often zero get values, so that losing one shows.
	st.hold, st.over, st.overSign, st.hiCount, st.loCount = 7, 1, -1, 3, 4
	st.hiSince, st.overFrom = start.Add(time.Hour), start.Add(2*time.Hour)
	data := st.encode()

	var back series
	back.name = "x"
	if err := back.decode(data, &d.cfg); err != nil {
		t.Fatal(err)
	}
	if got := back.encode(); string(got) != string(data) {
		t.Error("decode(encode(x)) encodes differently")
	}
	// Every field must survive, so a field added to series but not to the
	// encoding fails here.
	if diff := cmp.Diff(*st, back, cmp.AllowUnexported(series{}, bucket{}), cmpopts.IgnoreFields(series{}, "win")); diff != "" {
		t.Errorf("decoded state differs (-want +got):\n%s", diff)
	}
	if got, want := back.win.values(), st.win.values(); !slices.Equal(got, want) {
		t.Errorf("decoded window = %v, want %v", got, want)
	}
	for _, cut := range []int{0, 1, 10, len(data) - 1} {
		var short series
		if err := short.decode(data[:cut], &d.cfg); err == nil {
			t.Errorf("decode of %d of %d bytes succeeded", cut, len(data))
		}
	}
}

// FuzzDecodeBaseline checks that decoding stored bytes never panics, that
// whatever decodes stays within the window and cooldown bounds, and that
// the next sample of a decoded series gets an anomaly score in [0, 1].
func FuzzDecodeBaseline(f *testing.F) {
	cfg := defaultConfig()
	st := newSeries("seed", &cfg)
	for i, p := range diurnal(1, 1)[:100] {
		st.observe(&cfg, Sample{Series: "seed", Time: p.Time, Value: p.Value + float64(i%3)}, make([]float64, cfg.window))
	}
	f.Add(st.encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		var s series
		if err := s.decode(data, &cfg); err != nil {
			return
		}
		if s.win.len() > cfg.window {
			t.Fatalf("decoded window of %d values, limit %d", s.win.len(), cfg.window)
		}
		if s.hold > cfg.cooldown || s.sinceOnset > cfg.cooldown {
			t.Fatalf("decoded hold %d and time since onset %d, limit %d", s.hold, s.sinceOnset, cfg.cooldown)
		}
		s.name = "seed"
		next := s.last.Add(time.Minute)
		if next.IsZero() || next.Before(s.last) {
			return
		}
		sc := s.observe(&cfg, Sample{Series: "seed", Time: next, Value: 1}, make([]float64, cfg.window))
		if !(sc.Anomaly >= 0 && sc.Anomaly <= 1) {
			t.Fatalf("next sample scored %+v, want an anomaly in [0, 1]", sc)
		}
	})
}

// A stored baseline of the right length can still hold values the
// detector cannot learn from: a NaN in the window would break its sorted
// order and leave the series without scores for good.
func TestDecodeRejectsNonFiniteValues(t *testing.T) {
	d := newTestDetector(t)
	feed(t, d, "x", diurnal(4, 1))
	data := d.series["x"].Value.(*series).encode()

	// version (1) + n (8) + first and last times (16) + window length (2)
	const firstValue = 27
	for name, bits := range map[string]uint64{
		"NaN":  math.Float64bits(math.NaN()),
		"+Inf": math.Float64bits(math.Inf(1)),
	} {
		t.Run(name, func(t *testing.T) {
			bad := slices.Clone(data)
			binary.LittleEndian.PutUint64(bad[firstValue:], bits)
			var st series
			if err := st.decode(bad, &d.cfg); err == nil {
				t.Errorf("decode accepted a window value of %s", name)
			}
			tail := slices.Clone(data)
			binary.LittleEndian.PutUint64(tail[len(tail)-6*4-3*8-8:], bits) // the last float: alarmRate
			if err := st.decode(tail, &d.cfg); err == nil {
				t.Errorf("decode accepted an alarm rate of %s", name)
			}
		})
	}
}

// Series that the Detector no longer keeps (evicted, or gone since a
// restart) must leave the store too; otherwise the hash grows with every
// series ever seen and Load fills the Detector with stale ones.
func TestSaveReplacesStaleBaselines(t *testing.T) {
	rdb, store := newTestStore(t)
	ctx := context.Background()

	old := newTestDetector(t)
	feed(t, old, "retired", diurnal(1, 1)[:60])
	feed(t, old, "kept", diurnal(2, 1)[:60])
	if err := old.Save(ctx, store); err != nil {
		t.Fatal(err)
	}

	current := newTestDetector(t, WithMaxSeries(1))
	feed(t, current, "kept", diurnal(2, 1)[:80])
	if err := current.Save(ctx, store); err != nil {
		t.Fatal(err)
	}
	stored, err := store.LoadBaselines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := stored["retired"]; ok || len(stored) != 1 {
		t.Errorf("store keeps %d baselines (retired kept: %v), want only the series saved last", len(stored), ok)
	}
	if ttl := rdb.TTL(ctx, "test:baselines").Val(); ttl <= 59*time.Minute {
		t.Errorf("baseline key TTL = %v, want about one hour", ttl)
	}
}

// Finite but impossible values are corrupt too: a negative variance makes
// its square root NaN, and a negative count is never written.
func TestDecodeRejectsImpossibleState(t *testing.T) {
	d := newTestDetector(t)
	feed(t, d, "x", diurnal(5, 1))
	data := d.series["x"].Value.(*series).encode()

	// The tail is 13 floats, 3 times and 6 int32 counters, hold last.
	rawVar := len(data) - 6*4 - 3*8 - 2*8
	hold := len(data) - 4
	tests := map[string]func(b []byte){
		"negative variance": func(b []byte) { binary.LittleEndian.PutUint64(b[rawVar:], math.Float64bits(-1)) },
		"negative hold":     func(b []byte) { binary.LittleEndian.PutUint32(b[hold:], uint32(0xFFFFFFFF)) },
	}
	for name, corrupt := range tests {
		t.Run(name, func(t *testing.T) {
			bad := slices.Clone(data)
			corrupt(bad)
			var st series
			if err := st.decode(bad, &d.cfg); err == nil {
				t.Errorf("decode accepted a baseline with a %s", name)
			}
		})
	}

	// A hold longer than the cooldown, as a corrupt value or a baseline
	// saved with a longer cooldown, is cut to the cooldown: two billion
	// samples of hold would silence the series for good.
	long := slices.Clone(data)
	binary.LittleEndian.PutUint32(long[hold:], uint32(math.MaxInt32))
	var st series
	if err := st.decode(long, &d.cfg); err != nil {
		t.Fatal(err)
	}
	if st.hold != d.cfg.cooldown {
		t.Errorf("decoded hold = %d, want it cut to the cooldown %d", st.hold, d.cfg.cooldown)
	}
}
