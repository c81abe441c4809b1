package nab

import (
	"math"
	"time"
)

// Null never fires.
type Null struct{}

// Score returns 0.
func (Null) Score(time.Time, float64) float64 { return 0 }

// Perfect fires on the first row of every labelled window of one file, so
// it scores 100 by construction. It reads the labels, which is the point:
// it checks the scorer, not a detector.
type Perfect struct {
	f   *File
	row int
}

// NewPerfect returns the perfect detector for f.
func NewPerfect(f *File) *Perfect { return &Perfect{f: f} }

// Score returns 1 on a window's first row and 0 elsewhere.
func (p *Perfect) Score(time.Time, float64) float64 {
	i := p.row
	p.row++
	for _, w := range p.f.Windows {
		if w.Left == i {
			return 1
		}
	}
	return 0
}

// WindowedGaussian is NAB's windowed Gaussian baseline: each value is scored
// before it is added, as 1 - Q(|z|) with the mean and population standard
// deviation of the window. The window grows to 6,400 values, then slides by
// 100 values at a time, and the statistics are refreshed after each growth
// step and each slide. A zero deviation is replaced by 1e-6.
type WindowedGaussian struct {
	window []float64
	step   []float64
	mean   float64
	std    float64
}

const (
	gaussWindow = 6400
	gaussStep   = 100
)

// NewWindowedGaussian returns an empty windowed Gaussian detector.
func NewWindowedGaussian() *WindowedGaussian { return &WindowedGaussian{std: 1} }

// Score returns the anomaly score of v.
func (g *WindowedGaussian) Score(_ time.Time, v float64) float64 {
	score := 0.0
	if len(g.window) > 0 {
		z := math.Abs(v-g.mean) / g.std
		score = 1 - 0.5*math.Erfc(z/math.Sqrt2)
	}
	if len(g.window) < gaussWindow {
		g.window = append(g.window, v)
		g.refresh()
		return score
	}
	g.step = append(g.step, v)
	if len(g.step) == gaussStep {
		g.window = append(g.window[gaussStep:], g.step...)
		g.step = g.step[:0]
		g.refresh()
	}
	return score
}

func (g *WindowedGaussian) refresh() {
	sum := 0.0
	for _, x := range g.window {
		sum += x
	}
	g.mean = sum / float64(len(g.window))
	ss := 0.0
	for _, x := range g.window {
		ss += (x - g.mean) * (x - g.mean)
	}
	g.std = math.Sqrt(ss / float64(len(g.window)))
	if g.std == 0 {
		g.std = 1e-6
	}
}
