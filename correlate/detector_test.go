package correlate

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/correlate/synth"
)

var start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday

func newTestDetector(t *testing.T, opts ...Option) *Detector {
	t.Helper()
	d, err := NewDetector(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// feed observes points as one series and returns the onsets raised.
func feed(t *testing.T, d *Detector, name string, points []synth.Point) []Anomaly {
	t.Helper()
	var onsets []Anomaly
	for _, p := range points {
		sc, err := d.Observe(Sample{Series: name, Time: p.Time, Value: p.Value})
		if err != nil {
			t.Fatal(err)
		}
		if sc.Onset != nil {
			onsets = append(onsets, *sc.Onset)
		}
	}
	return onsets
}

func diurnal(seed uint64, days int) []synth.Point {
	return synth.Traffic{
		Start: start, Step: 5 * time.Minute, N: days * 288,
		Base: 1000, Daily: 0.6, Weekend: 0.3, Noise: 0.05, Seed: seed,
	}.Generate()
}

func TestDetectorCleanTrafficNegativeControl(t *testing.T) {
	d := newTestDetector(t)
	for seed := range uint64(8) {
		name := fmt.Sprintf("clean-%d", seed)
		onsets := feed(t, d, name, diurnal(seed, 14))
		perWeek := map[int]int{}
		for _, a := range onsets {
			perWeek[int(a.Detected.Sub(start)/(7*24*time.Hour))]++
		}
		for week, n := range perWeek {
			if n > 1 {
				t.Errorf("%s: %d anomalies in week %d of clean traffic, want at most 1: %+v", name, n, week+1, onsets)
			}
		}
	}
}

func TestDetectorOneSampleSpikeIgnored(t *testing.T) {
	d := newTestDetector(t)
	points := diurnal(1, 5)
	synth.Spike(points, 4*288, 1, 20)
	if onsets := feed(t, d, "one-sample", points); len(onsets) != 0 {
		t.Errorf("one-sample spike raised %d anomalies, want 0: %+v", len(onsets), onsets)
	}
}

func TestDetectorSustainedSpike(t *testing.T) {
	d := newTestDetector(t)
	points := diurnal(2, 5)
	at := 4*288 + 100
	synth.Spike(points, at, 6, 5)
	onsets := feed(t, d, "spike", points)
	if len(onsets) != 1 {
		t.Fatalf("got %d anomalies, want 1: %+v", len(onsets), onsets)
	}
	got := onsets[0]
	if got.Kind != KindSpike {
		t.Errorf("kind = %v, want spike", got.Kind)
	}
	if !got.Start.Equal(points[at].Time) {
		t.Errorf("start = %v, want %v", got.Start, points[at].Time)
	}
	if !got.Up() {
		t.Errorf("spike reported below baseline: %+v", got)
	}
}

func TestDetectorDropBelowBaseline(t *testing.T) {
	d := newTestDetector(t)
	points := diurnal(3, 5)
	synth.Spike(points, 4*288+50, 12, 0.05)
	onsets := feed(t, d, "drop", points)
	if len(onsets) == 0 || onsets[0].Up() {
		t.Fatalf("got %+v, want a downward spike", onsets)
	}
}

func TestDetectorSlowDrift(t *testing.T) {
	d := newTestDetector(t)
	points := diurnal(4, 8)
	at := 5 * 288
	synth.Ramp(points, at, 0.002) // +0.2% per 5 minutes, about +78% a day
	onsets := feed(t, d, "drift", points)
	if len(onsets) == 0 {
		t.Fatal("no anomaly for a compound ramp")
	}
	if got := onsets[0]; got.Start.Before(points[at].Time) || !got.Up() {
		t.Errorf("first anomaly = %+v, want an upward one after %v", got, points[at].Time)
	}
}

func TestDetectorWarmupNeverAlerts(t *testing.T) {
	d := newTestDetector(t)
	points := diurnal(5, 1)[:40]
	synth.Spike(points, 20, 10, 50)
	for _, p := range points {
		sc, err := d.Observe(Sample{Series: "new", Time: p.Time, Value: p.Value})
		if err != nil {
			t.Fatal(err)
		}
		if sc.Phase != PhaseWarmup {
			t.Fatalf("phase = %v after %v, want warm-up", sc.Phase, p.Time)
		}
		if sc.Onset != nil || sc.Anomaly != 0 {
			t.Fatalf("warm-up sample at %v raised %+v", p.Time, sc)
		}
	}
}

func TestDetectorSeasonalPhase(t *testing.T) {
	d := newTestDetector(t)
	feed(t, d, "s", diurnal(6, 4))
	if got, _ := d.Phase("s"); got != PhaseSeasonal {
		t.Errorf("phase after 4 days = %v, want seasonal", got)
	}
	d.mu.Lock()
	st := d.series["s"].Value.(*series)
	useDay := st.errDay < 0.8*st.errLocal
	d.mu.Unlock()
	if !useDay {
		t.Errorf("hour-of-day error %.1f is not below the local error %.1f on a daily cycle", st.errDay, st.errLocal)
	}
}

func TestDetectorMaxSeries(t *testing.T) {
	d := newTestDetector(t, WithMaxSeries(2))
	for _, name := range []string{"a", "b", "a", "c"} {
		if _, err := d.Observe(Sample{Series: name, Time: start, Value: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if got := d.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2", got)
	}
	if _, ok := d.Phase("b"); ok {
		t.Error("series b is kept, want it evicted as least recently updated")
	}
}

func TestDetectorInvalidSample(t *testing.T) {
	d := newTestDetector(t)
	for _, s := range []Sample{
		{Series: "", Time: start, Value: 1},
		{Series: "x", Value: 1},
		{Series: "x", Time: start, Value: math.NaN()},
		{Series: "x", Time: start, Value: math.Inf(1)},
	} {
		if _, err := d.Observe(s); !errors.Is(err, ErrInvalidSample) {
			t.Errorf("Observe(%+v) error = %v, want ErrInvalidSample", s, err)
		}
	}
}

func TestNewDetectorRejectsBadOptions(t *testing.T) {
	options := map[string]Option{
		"window 2":             WithWindow(2),
		"spike threshold 0":    WithSpikeThreshold(0),
		"spike threshold NaN":  WithSpikeThreshold(math.NaN()),
		"confirmation 0":       WithConfirmation(0),
		"max series 0":         WithMaxSeries(0),
		"nil location":         WithLocation(nil),
		"cooldown -1":          WithCooldown(-1),
		"negative seasonality": WithSeasonality(-time.Hour, time.Hour),
		"drift slack NaN":      WithDrift(math.NaN(), 30),
		"drift level NaN":      WithDrift(1, math.NaN()),
	}
	for name, opt := range options {
		if _, err := NewDetector(opt); err == nil {
			t.Errorf("NewDetector accepted an invalid option: %s", name)
		}
	}
}

func TestWindowMedianAndMAD(t *testing.T) {
	w := newWindow(5)
	for _, v := range []float64{9, 1, 7, 3, 5, 100, 2} {
		w.push(v)
	}
	// The window now holds 7, 3, 5, 100, 2.
	if got := w.median(); got != 5 {
		t.Errorf("median = %v, want 5", got)
	}
	if got := w.mad(5, make([]float64, 5)); got != 2 {
		t.Errorf("MAD = %v, want 2", got)
	}
	if got, want := w.values(), []float64{7, 3, 5, 100, 2}; !slices.Equal(got, want) {
		t.Errorf("values = %v, want %v", got, want)
	}
}

func TestSelectNthMatchesSort(t *testing.T) {
	data := []float64{5, 3, 3, 9, 1, 0, 7, 7, 2, 8, 4}
	sorted := slices.Sorted(slices.Values(data))
	for k := range data {
		a := slices.Clone(data)
		if got := selectNth(a, k); got != sorted[k] {
			t.Errorf("selectNth(k=%d) = %v, want %v", k, got, sorted[k])
		}
	}
}

// Finite values can still overflow the arithmetic: a jump from a flat
// series to 1e300 made Z infinite and the Anomaly NaN, and the series'
// state stayed NaN for good. Values beyond the accepted range are rejected
// instead, and any accepted value keeps every score finite.
func TestDetectorHugeValues(t *testing.T) {
	d := newTestDetector(t)
	for _, v := range []float64{math.MaxFloat64, -1e300, 2 * MaxSampleMagnitude} {
		if _, err := d.Observe(Sample{Series: "x", Time: start, Value: v}); !errors.Is(err, ErrInvalidSample) {
			t.Errorf("Observe(%g) error = %v, want ErrInvalidSample", v, err)
		}
	}

	series := map[string]func(i int) float64{
		"alternating at the bound": func(i int) float64 { return float64(1-2*(i%2)) * MaxSampleMagnitude },
		"jump from a flat level": func(i int) float64 {
			if i > 400 {
				return MaxSampleMagnitude
			}
			return 1
		},
	}
	for name, value := range series {
		t.Run(name, func(t *testing.T) {
			d := newTestDetector(t)
			for i := range 600 {
				s, err := d.Observe(Sample{Series: "x", Time: start.Add(time.Duration(i) * time.Minute), Value: value(i)})
				if err != nil {
					t.Fatal(err)
				}
				finite := !math.IsNaN(s.Z) && !math.IsInf(s.Expected, 0) && !math.IsNaN(s.Expected) && !math.IsInf(s.Scale, 0)
				if !finite || !(s.Anomaly >= 0 && s.Anomaly <= 1) {
					t.Fatalf("sample %d: score %+v, want finite values and an anomaly in [0, 1]", i, s)
				}
			}
		})
	}
}
