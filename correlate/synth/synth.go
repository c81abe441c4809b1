// Package synth generates seeded synthetic metric series for testing
// anomaly detection: daily and weekly cycles with noise, and the faults
// that are laid on top of them (spikes, level shifts, ramps).
//
// The same seed always gives the same series.
package synth

import (
	"math"
	"math/rand/v2"
	"time"
)

// Point is one value of a series at one time.
type Point struct {
	Time  time.Time
	Value float64
}

// Traffic describes a series with daily and weekly cycles.
type Traffic struct {
	Start time.Time
	Step  time.Duration
	N     int     // number of points
	Base  float64 // mean level
	Daily float64 // daily swing as a fraction of Base (0.5: from 0.5x to 1.5x)
	// Weekend is the fraction by which Saturday and Sunday run lower.
	Weekend float64
	// Noise is the standard deviation of the multiplicative noise, as a
	// fraction of the level.
	Noise float64
	Seed  uint64
}

// Generate returns the series. The daily peak is at 14:00 UTC.
func (tr Traffic) Generate() []Point {
	rng := rand.New(rand.NewPCG(tr.Seed, tr.Seed^0x9e3779b97f4a7c15))
	out := make([]Point, tr.N)
	for i := range out {
		t := tr.Start.Add(time.Duration(i) * tr.Step)
		hour := float64(t.Hour()) + float64(t.Minute())/60
		level := tr.Base * (1 + tr.Daily*math.Cos(2*math.Pi*(hour-14)/24))
		if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
			level *= 1 - tr.Weekend
		}
		out[i] = Point{Time: t, Value: level * (1 + tr.Noise*rng.NormFloat64())}
	}
	return out
}

// Spike multiplies the values from index at, for n points, by factor.
// Indices outside points are skipped.
func Spike(points []Point, at, n int, factor float64) {
	for i := max(at, 0); i < at+n && i < len(points); i++ {
		points[i].Value *= factor
	}
}

// Shift multiplies every value from index at onward by factor.
func Shift(points []Point, at int, factor float64) {
	Spike(points, at, len(points), factor)
}

// Ramp multiplies the values from index at onward by a factor that grows
// by rate per point (compound), as a leak or a runaway queue would. A
// negative at starts the ramp before the first point.
func Ramp(points []Point, at int, rate float64) {
	f := 1.0
	for i := at; i < len(points); i++ {
		f *= 1 + rate
		if i >= 0 {
			points[i].Value *= f
		}
	}
}

// Linear adds slope per point to the values from index at onward. A
// negative at starts the slope before the first point.
func Linear(points []Point, at int, slope float64) {
	for i := max(at, 0); i < len(points); i++ {
		points[i].Value += slope * float64(i-at+1)
	}
}
