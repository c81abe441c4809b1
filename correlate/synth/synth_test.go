package synth

import (
	"slices"
	"testing"
	"time"
)

func TestTrafficSameSeedSameSeries(t *testing.T) {
	tr := Traffic{Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Step: time.Hour, N: 48, Base: 100, Daily: 0.5, Noise: 0.1, Seed: 7}
	a, b := tr.Generate(), tr.Generate()
	if !slices.Equal(a, b) {
		t.Error("two runs with one seed differ")
	}
	tr.Seed = 8
	if slices.Equal(a, tr.Generate()) {
		t.Error("two seeds give the same series")
	}
}

func TestTrafficDailyPeak(t *testing.T) {
	tr := Traffic{Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Step: time.Hour, N: 24, Base: 100, Daily: 0.5}
	points := tr.Generate()
	if got := points[14].Value; got != 150 {
		t.Errorf("value at 14:00 = %v, want the peak 150", got)
	}
	if got := points[2].Value; got != 50 {
		t.Errorf("value at 02:00 = %v, want the trough 50", got)
	}
}

func TestFaults(t *testing.T) {
	flat := func() []Point {
		return Traffic{Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Step: time.Minute, N: 10, Base: 10}.Generate()
	}
	p := flat()
	Spike(p, 2, 2, 3)
	if p[1].Value != 10 || p[2].Value != 30 || p[3].Value != 30 || p[4].Value != 10 {
		t.Errorf("Spike: %v", p)
	}
	p = flat()
	Shift(p, 8, 0.5)
	if p[7].Value != 10 || p[8].Value != 5 || p[9].Value != 5 {
		t.Errorf("Shift: %v", p)
	}
	p = flat()
	Linear(p, 5, 2)
	if p[5].Value != 12 || p[9].Value != 20 {
		t.Errorf("Linear: %v", p)
	}
	p = flat()
	Ramp(p, 8, 0.1)
	if p[8].Value != 11 || p[9].Value != 12.100000000000001 {
		t.Errorf("Ramp: %v", p)
	}
}

// Faults placed partly before the series start only touch the points that
// exist, as they do past its end.
func TestFaultsBeforeStart(t *testing.T) {
	points := Traffic{Start: time.Unix(0, 0).UTC(), Step: time.Minute, N: 5, Base: 1}.Generate()
	Spike(points, -2, 3, 10)
	Ramp(points, -1, 1)
	Linear(points, -1, 1)
	if points[0].Value == 1 || points[4].Value == 1 {
		t.Errorf("values = %+v, want the faults applied from the first point", points)
	}
}
