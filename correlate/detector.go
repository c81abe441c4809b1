package correlate

import (
	"container/list"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Sample is one observation of one series.
type Sample struct {
	// Series names the metric, optionally with labels in braces, for
	// example "redis.hit_ratio" or "kafka.lag{group=billing,topic=orders}".
	// The part before the brace is the signal used by the causal graph.
	Series string
	Time   time.Time
	Value  float64
}

// ErrInvalidSample reports a sample that the detector cannot learn from:
// an empty series name, a zero time, or a value that is NaN, infinite or
// larger in magnitude than MaxSampleMagnitude.
var ErrInvalidSample = errors.New("correlate: invalid sample")

// MaxSampleMagnitude is the largest absolute value the Detector accepts.
// Larger finite values would overflow its squared deviations and
// standardised residuals to infinity; no metric comes near it.
const MaxSampleMagnitude = 1e100

// Phase is the stage of learning a series' baseline has reached.
type Phase int

// The phases of a series, in the order a series goes through them.
const (
	// PhaseWarmup: too few samples to judge; a series in warm-up never
	// raises an anomaly.
	PhaseWarmup Phase = iota
	// PhaseLocal: the baseline is the median of the recent window. Spikes
	// are detected but drifts are not yet, because a daily cycle looks like
	// a drift until its shape is learned.
	PhaseLocal
	// PhaseSeasonal: enough history exists to compare each hour of the day
	// (and, after longer, each hour of the week) with itself, and both
	// spikes and drifts are detected. A series whose daily profile predicts
	// worse than its recent median keeps the median as its baseline but
	// still reaches this phase.
	PhaseSeasonal
)

func (p Phase) String() string {
	switch p {
	case PhaseWarmup:
		return "warm-up"
	case PhaseLocal:
		return "local"
	case PhaseSeasonal:
		return "seasonal"
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// Kind is the shape of an anomaly.
type Kind int

// The kinds of anomaly.
const (
	// KindSpike is a sudden departure from the baseline that lasted at
	// least the confirmation count of samples.
	KindSpike Kind = iota + 1
	// KindDrift is a sustained shift of the level, found by the CUSUM
	// change-point test even when no single sample looks unusual.
	KindDrift
	// KindLag is a consumer-lag verdict (STALL, STOP, REWIND) from the
	// Kafka collector.
	KindLag
	// KindEvent is an event the application reported, such as a deploy.
	KindEvent
)

func (k Kind) String() string {
	switch k {
	case KindSpike:
		return "spike"
	case KindDrift:
		return "drift"
	case KindLag:
		return "lag"
	case KindEvent:
		return "event"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Score is the detector's reading of one sample.
type Score struct {
	Phase    Phase
	Expected float64 // the baseline's prediction for this sample
	Scale    float64 // the robust spread used to standardise the residual
	// Z is the residual in robust standard deviations, signed:
	// (value - Expected) / Scale.
	Z float64
	// Drift is the larger CUSUM sum as a fraction of its alarm level,
	// positive for an upward shift and negative for a downward one.
	Drift float64
	// Anomaly is a score in [0, 1] that marks the onset of something new.
	// It grows with the largest of three levels, each relative to its
	// alarm level: the likelihood of the recent residuals against the
	// series' own history, the distance from the long-run mean, and |Drift|.
	// The level is divided by a bar that rises with the series' recent
	// alarm rate. The score is 0 in warm-up, during the first 250 samples,
	// when the level does not beat the recent peak, and during the cooldown
	// after a level of 1.
	// Rank samples by it; Onset, not Anomaly, is the confirmed alarm.
	Anomaly float64
	// Onset is set on the sample that confirms a new anomaly.
	Onset *Anomaly
}

// Anomaly is a confirmed departure of one series from its baseline.
type Anomaly struct {
	Series   string
	Kind     Kind
	Start    time.Time // the first sample beyond the alarm level
	Detected time.Time // the sample that confirmed it
	Value    float64
	Expected float64
	// Z is the residual of the confirming sample in robust standard
	// deviations; for drifts it is the mean shift since the change began.
	Z float64
	// Detail is a short human description, set for lag verdicts and
	// events.
	Detail string
}

// Up reports whether the anomaly went above its baseline.
func (a Anomaly) Up() bool { return a.Value >= a.Expected }

// Detector learns a baseline for every series it is given and scores each
// new sample against it. It is safe for concurrent use.
//
// Memory is bounded per series and in the number of series. Each series
// keeps a window of the most recent values (WithWindow, 48 by default,
// stored twice), 24 hour-of-day and 168 hour-of-week buckets and a few
// scalars: about 6.1 KiB of heap with the default window, as measured by
// BenchmarkDetectorMemoryPerSeries. The Detector keeps at most
// WithMaxSeries series (10,000 by default, so about 61 MiB at most) and,
// when a new series would exceed that, evicts the one updated least
// recently.
//
// The zero value is not usable; call NewDetector.
type Detector struct {
	cfg config

	mu      sync.Mutex
	series  map[string]*list.Element // of *series
	lru     *list.List               // front: most recently updated
	scratch []float64
}

// NewDetector returns a Detector with the given options.
func NewDetector(opts ...Option) (*Detector, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Detector{
		cfg:     cfg,
		series:  make(map[string]*list.Element),
		lru:     list.New(),
		scratch: make([]float64, cfg.window),
	}, nil
}

// Observe scores s against its series' baseline, then learns from it.
// Samples of one series must arrive in time order; an older sample than the
// last one seen is scored but not learned from.
func (d *Detector) Observe(s Sample) (Score, error) {
	if s.Series == "" || s.Time.IsZero() || math.IsNaN(s.Value) || math.Abs(s.Value) > MaxSampleMagnitude {
		return Score{}, fmt.Errorf("%w: series %q at %v value %v", ErrInvalidSample, s.Series, s.Time, s.Value)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.lookup(s.Series)
	return st.observe(&d.cfg, s, d.scratch), nil
}

// Len returns the number of series the Detector currently keeps.
func (d *Detector) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.series)
}

// Phase returns the phase of a series, and false when the Detector does
// not know it.
func (d *Detector) Phase(name string) (Phase, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	el, ok := d.series[name]
	if !ok {
		return PhaseWarmup, false
	}
	return el.Value.(*series).phase(&d.cfg), true
}

// lookup returns the state of name, creating it and evicting the least
// recently updated series when the bound is reached.
func (d *Detector) lookup(name string) *series {
	if el, ok := d.series[name]; ok {
		d.lru.MoveToFront(el)
		return el.Value.(*series)
	}
	if len(d.series) >= d.cfg.maxSeries {
		oldest := d.lru.Back()
		d.lru.Remove(oldest)
		delete(d.series, oldest.Value.(*series).name)
	}
	st := newSeries(name, &d.cfg)
	d.series[name] = d.lru.PushFront(st)
	return st
}
