package correlate

import (
	"container/list"
	"fmt"
	"math"
	"sync"
	"time"
)

// Plan is a named set of limits per signal, for example a "Free" plan with
// a memory limit and a daily command quota. Plans are configuration: check
// the numbers against the provider's current pricing page.
type Plan struct {
	Name   string
	Limits map[string]float64 // by signal
}

// Model is a growth model fitted to a series.
type Model int

// The growth models.
const (
	// Linear growth adds the same amount per unit of time.
	Linear Model = iota + 1
	// Compound growth multiplies by the same factor per unit of time.
	Compound
)

func (m Model) String() string {
	switch m {
	case Linear:
		return "linear"
	case Compound:
		return "compound"
	}
	return fmt.Sprintf("Model(%d)", int(m))
}

// Projection is when a series reaches a limit at its fitted rate of growth.
type Projection struct {
	Series  string
	Plan    string
	Model   Model
	Current float64 // the fitted value now
	Limit   float64
	// Growth over the observed span, as a fraction (0.4 is 40%).
	Growth float64
	Span   time.Duration // time covered by the fit
	// Reaches reports whether the limit is reached at this rate, or was
	// already passed (Current at or above Limit, with In zero and At now,
	// whatever the trend); At and In are set only then.
	Reaches bool
	At      time.Time
	In      time.Duration
	Text    string

	rate float64 // fitted slope per hour: units for Linear, log units for Compound
}

// Projector keeps a downsampled history of each series and projects it to
// plan limits. It is safe for concurrent use.
//
// Memory is bounded: each series keeps at most 168 averages of one step
// (one hour by default, so one week), and the Projector keeps at most 1,000
// series, forgetting the least recently updated one first.
type Projector struct {
	step      time.Duration
	keep      int
	maxSeries int

	mu     sync.Mutex
	series map[string]*list.Element // of *history
	lru    *list.List
}

type history struct {
	name   string
	starts []time.Time // start of each step, oldest first
	means  []float64
	count  int // samples in the last step
}

// NewProjector returns a Projector that averages samples over step (one
// hour when step is zero).
func NewProjector(step time.Duration) *Projector {
	if step <= 0 {
		step = time.Hour
	}
	return &Projector{step: step, keep: 168, maxSeries: 1000, series: make(map[string]*list.Element), lru: list.New()}
}

// Observe adds a sample to its series' history.
func (p *Projector) Observe(s Sample) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el, ok := p.series[s.Series]
	if !ok {
		if len(p.series) >= p.maxSeries {
			oldest := p.lru.Back()
			p.lru.Remove(oldest)
			delete(p.series, oldest.Value.(*history).name)
		}
		el = p.lru.PushFront(&history{name: s.Series})
		p.series[s.Series] = el
	}
	p.lru.MoveToFront(el)
	h := el.Value.(*history)

	bucket := s.Time.Truncate(p.step)
	n := len(h.starts)
	switch {
	case n > 0 && bucket.Equal(h.starts[n-1]):
		h.count++
		h.means[n-1] += (s.Value - h.means[n-1]) / float64(h.count)
	case n > 0 && bucket.Before(h.starts[n-1]):
		// Late sample of an older step: dropped.
	default:
		h.starts = append(h.starts, bucket)
		h.means = append(h.means, s.Value)
		h.count = 1
		if len(h.starts) > p.keep {
			h.starts = h.starts[1:]
			h.means = h.means[1:]
		}
	}
}

// Check projects every series whose signal has a limit in plan.
func (p *Projector) Check(plan Plan, now time.Time) []Projection {
	p.mu.Lock()
	names := make([]string, 0, len(p.series))
	for name := range p.series {
		if _, ok := plan.Limits[SignalOf(name)]; ok {
			names = append(names, name)
		}
	}
	p.mu.Unlock()

	var out []Projection
	for _, name := range names {
		if pr, ok := p.Project(name, plan, now); ok {
			out = append(out, pr)
		}
	}
	return out
}

// Project fits linear and compound growth to one series and returns the
// projection of the better fit to the plan's limit for its signal. It
// returns false when the series is unknown, has fewer than 3 steps of
// history or the plan has no limit for it.
func (p *Projector) Project(series string, plan Plan, now time.Time) (Projection, bool) {
	limit, ok := plan.Limits[SignalOf(series)]
	if !ok {
		return Projection{}, false
	}
	p.mu.Lock()
	el, ok := p.series[series]
	var xs, ys []float64
	if ok {
		h := el.Value.(*history)
		for i, t := range h.starts {
			// The mean of a step is placed at the step's middle.
			mid := t.Add(p.step / 2)
			xs = append(xs, mid.Sub(now).Hours())
			ys = append(ys, h.means[i])
		}
	}
	p.mu.Unlock()
	if len(xs) < 3 {
		return Projection{}, false
	}

	pr := fitGrowth(xs, ys)
	pr.Series, pr.Plan, pr.Limit = series, plan.Name, limit
	pr.Span = time.Duration((xs[len(xs)-1] - xs[0]) * float64(time.Hour))
	pr.reach(now)
	pr.Text = pr.describe()
	return pr, true
}

// fitGrowth fits y = a + b x and ln y = a + b x (x in hours from now) by
// least squares and keeps the one with the smaller squared error on y.
func fitGrowth(xs, ys []float64) Projection {
	a, b := leastSquares(xs, ys, func(y float64) float64 { return y })
	best := Projection{Model: Linear, Current: a}
	bestErr := sse(xs, ys, func(x float64) float64 { return a + b*x })
	slope := b

	positive := true
	for _, y := range ys {
		positive = positive && y > 0
	}
	if positive {
		ca, cb := leastSquares(xs, ys, math.Log)
		if e := sse(xs, ys, func(x float64) float64 { return math.Exp(ca + cb*x) }); e < bestErr {
			best = Projection{Model: Compound, Current: math.Exp(ca)}
			slope = cb
		}
	}

	best.rate = slope
	first, last := xs[0], xs[len(xs)-1]
	switch best.Model {
	case Linear:
		start := a + b*first
		if start != 0 {
			best.Growth = b * (last - first) / math.Abs(start)
		}
	case Compound:
		best.Growth = math.Exp(slope*(last-first)) - 1
	}
	return best
}

// reach sets Reaches, At and In from the fitted model.
func (pr *Projection) reach(now time.Time) {
	rate := pr.rate
	if pr.Limit > 0 && pr.Current >= pr.Limit {
		pr.Reaches, pr.In, pr.At = true, 0, now
		return
	}
	if rate <= 0 || pr.Limit <= 0 {
		return
	}
	var hours float64
	switch pr.Model {
	case Linear:
		hours = (pr.Limit - pr.Current) / rate
	case Compound:
		hours = math.Log(pr.Limit/pr.Current) / rate
	}
	if hours > 24*365*10 {
		return
	}
	pr.Reaches = true
	pr.In = time.Duration(hours * float64(time.Hour))
	pr.At = now.Add(pr.In)
}

func (pr *Projection) describe() string {
	grew := fmt.Sprintf("%s grew %.0f%% in %s", pr.Series, pr.Growth*100, humanDuration(pr.Span))
	if pr.Growth < 0 {
		grew = fmt.Sprintf("%s shrank %.0f%% in %s", pr.Series, -pr.Growth*100, humanDuration(pr.Span))
	}
	if !pr.Reaches {
		return fmt.Sprintf("%s; at this rate it does not reach the %s limit of %s", grew, pr.Plan, number(pr.Limit))
	}
	if pr.In == 0 {
		return fmt.Sprintf("%s; at %s it is already past the %s limit of %s", grew, number(pr.Current), pr.Plan, number(pr.Limit))
	}
	return fmt.Sprintf("%s; at this rate (%s) it reaches the %s limit of %s in %s, at %s UTC",
		grew, pr.Model, pr.Plan, number(pr.Limit), humanDuration(pr.In), pr.At.UTC().Format("2006-01-02 15:04"))
}

// humanDuration prints d in days when it is at least two days, otherwise in
// hours and minutes.
func humanDuration(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	}
	return d.Round(time.Minute).String()
}

func leastSquares(xs, ys []float64, f func(float64) float64) (a, b float64) {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i, x := range xs {
		y := f(ys[i])
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return sy / n, 0
	}
	b = (n*sxy - sx*sy) / den
	a = (sy - b*sx) / n
	return a, b
}

func sse(xs, ys []float64, model func(float64) float64) float64 {
	total := 0.0
	for i, x := range xs {
		d := ys[i] - model(x)
		total += d * d
	}
	return total
}
