package correlate

import (
	"math"
	"time"
)

// mad2sigma turns a median absolute deviation into an estimate of the
// standard deviation of normally distributed values.
const mad2sigma = 1.4826

// errAlpha is the weight of a new sample in each predictor's running mean
// absolute error, which decides whether the seasonal buckets predict better
// than the local median (about the last 100 samples count).
const errAlpha = 0.01

// bucket is the robust running level and spread of one hour of the day or
// of the week.
type bucket struct {
	level float64
	scale float64 // running mean absolute deviation from level
	n     uint32
}

// series is the learned state of one series.
type series struct {
	name        string
	win         window
	n           uint64
	first, last time.Time

	day  [24]bucket
	week [168]bucket
	// Running mean absolute errors of the local median and of the
	// hour-of-day and hour-of-week predictions.
	errLocal, errDay, errWeek float64

	slow     float64 // slow level that drifts are measured from
	cusumHi  float64
	cusumLo  float64
	hiSince  time.Time
	loSince  time.Time
	hiCount  int
	loCount  int
	over     int // consecutive samples beyond the spike threshold
	overSign int // the side of the baseline they are on: 1 above, -1 below
	overFrom time.Time
	// sinceOnset counts samples since the last reported onset, capped at
	// the cooldown; an onset is reported only when it reached the cooldown.
	sinceOnset            int
	peak                  float64 // decaying maximum of recent anomaly levels
	hold                  int     // samples left during which the anomaly score is held at 0
	alarmRate             float64 // exponentially weighted share of samples outside holds that reached level 1
	globalMean, globalVar float64 // exponentially weighted over about 1/globalAlpha samples
	recentRaw             float64 // log(1+|z|) averaged over the last few samples
	rawMean, rawVar       float64 // long-run mean and variance of log(1+|z|)
}

func newSeries(name string, cfg *config) *series {
	return &series{name: name, win: newWindow(cfg.window), sinceOnset: cfg.cooldown}
}

func (st *series) phase(cfg *config) Phase {
	switch {
	case st.n < uint64(cfg.warmup):
		return PhaseWarmup
	case st.last.Sub(st.first) >= cfg.seasonDay:
		return PhaseSeasonal
	}
	return PhaseLocal
}

// prediction is the baseline's expected value and spread for one sample.
type prediction struct {
	expected, scale float64
	local           float64 // the local median
	localScale      float64
	seasonal        bool
	day, week       *bucket
}

func (st *series) predict(cfg *config, t time.Time, scratch []float64) prediction {
	med := st.win.median()
	localScale := mad2sigma * st.win.mad(med, scratch)
	p := prediction{expected: med, scale: localScale, local: med, localScale: localScale}

	lt := t.In(cfg.location)
	hour := lt.Hour()
	p.day = &st.day[hour]
	p.week = &st.week[int(lt.Weekday())*24+hour]
	span := t.Sub(st.first)
	errSel := st.errLocal
	switch {
	case span >= cfg.seasonWeek && p.week.n >= 3 && st.errWeek < 0.8*min(st.errLocal, st.errDay):
		p.expected, p.scale, p.seasonal = p.week.level, 1.2533*p.week.scale, true
		errSel = st.errWeek
	case span >= cfg.seasonDay && p.day.n >= 3 && st.errDay < 0.8*st.errLocal:
		p.expected, p.scale, p.seasonal = p.day.level, 1.2533*p.day.scale, true
		errSel = st.errDay
	}
	// The window's MAD is zero when most recent values are equal; the
	// running error keeps such a series from treating any change as
	// infinitely unusual.
	p.scale = max(p.scale, cfg.scaleFloor*errSel, 1e-9*max(1, math.Abs(p.expected)))
	return p
}

// observe scores one sample and learns from it.
func (st *series) observe(cfg *config, s Sample, scratch []float64) Score {
	x := s.Value
	if st.n > 0 && !s.Time.After(st.last) {
		return st.scoreOnly(cfg, s, scratch)
	}
	if st.win.len() < 4 {
		st.learn(cfg, s, nil)
		return Score{Phase: PhaseWarmup, Expected: x}
	}

	p := st.predict(cfg, s.Time, scratch)
	z := (x - p.expected) / p.scale
	sc := Score{Phase: st.phase(cfg), Expected: p.expected, Scale: p.scale, Z: z}
	spike := st.trackSpike(cfg, s, z)
	drift := st.trackDrift(cfg, s, p, &sc)
	st.learn(cfg, s, &p)

	if sc.Phase == PhaseWarmup {
		st.over = 0
		st.cusumHi, st.cusumLo = 0, 0
		sc.Drift = 0
		return sc
	}
	sc.Anomaly = st.anomalyScore(cfg, x, z, sc.Drift)
	if st.sinceOnset < cfg.cooldown {
		st.sinceOnset++
		return sc
	}
	switch {
	case spike:
		sc.Onset = &Anomaly{Series: st.name, Kind: KindSpike, Start: st.overFrom, Detected: s.Time,
			Value: x, Expected: p.expected, Z: z}
	case drift != nil:
		sc.Onset = drift
	default:
		return sc
	}
	st.sinceOnset = 0
	return sc
}

// globalMinSamples is how many samples the long-run statistics need before
// the anomaly score is computed (about 1/globalAlpha).
const globalMinSamples = 250

// anomalyScore turns the residuals of one sample into the Score's Anomaly
// value and updates the long-run statistics it uses.
//
// Three views are combined, each scaled so that 1 is its alarm level:
//   - the likelihood of the recent residuals: log(1+|z|) averaged over the
//     last few samples, in standard deviations of its own long-run
//     distribution, against likelihoodZ. A series that is always noisy
//     gets no credit for being noisy again, and a sustained change counts
//     more than one odd sample;
//   - the distance from the long-run mean in long-run standard deviations,
//     against globalZ, which catches a level that leaves the range of the
//     history even after the local window has followed it;
//   - the CUSUM drift statistic.
//
// The level is divided by 1 + alarmWeight x (alarms per 1,000 recent
// samples), so a series that alarms often needs a higher level to alarm
// again. The value is level/(1+level) (which rounds to 1 for levels above
// about 1e16) when the level beats the recent peak, which
// decays by peakDecay per sample, and 0 otherwise. After a level of 1 or
// more it is held at 0 for the cooldown, so a change is scored at its onset
// and not on every sample it lasts.
func (st *series) anomalyScore(cfg *config, x, z, drift float64) float64 {
	raw := math.Log1p(math.Abs(z))
	st.recentRaw += cfg.recentAlpha * (raw - st.recentRaw)
	level := 0.0
	if st.n > globalMinSamples {
		sd := max(math.Sqrt(st.globalVar), 1e-9*max(1, math.Abs(st.globalMean)))
		global := math.Abs(x-st.globalMean) / sd
		likelihood := (st.recentRaw - st.rawMean) / max(math.Sqrt(st.rawVar), 1e-3)
		level = max(likelihood/cfg.likelihoodZ, global/cfg.globalZ, math.Abs(drift))
	}
	st.rawMean, st.rawVar = ewVariance(st.rawMean, st.rawVar, raw, max(cfg.rawAlpha, 1/float64(st.n)))
	st.globalMean, st.globalVar = ewVariance(st.globalMean, st.globalVar, x, max(cfg.globalAlpha, 1/float64(st.n)))

	// A series that reached level 1 often recently needs a higher level:
	// its alarms say less each time.
	level /= 1 + cfg.alarmWeight*st.alarmRate*1000
	score := 0.0
	if level > st.peak {
		score = level / (1 + level)
	}
	st.peak = max(level, st.peak*cfg.peakDecay)
	if st.hold > 0 {
		st.hold--
		return 0
	}
	alarm := 0.0
	if level >= 1 && score > 0 {
		st.hold = cfg.cooldown
		alarm = 1
	}
	st.alarmRate += cfg.alarmAlpha * (alarm - st.alarmRate)
	return score
}

// ewVariance updates an exponentially weighted mean and variance with x.
func ewVariance(mean, variance, x, alpha float64) (float64, float64) {
	d := x - mean
	return mean + alpha*d, (1 - alpha) * (variance + alpha*d*d)
}

// scoreOnly scores a sample older than the last one learned, without
// learning from it.
func (st *series) scoreOnly(cfg *config, s Sample, scratch []float64) Score {
	if st.win.len() < 4 {
		return Score{Phase: PhaseWarmup, Expected: st.win.median()}
	}
	p := st.predict(cfg, s.Time, scratch)
	return Score{Phase: st.phase(cfg), Expected: p.expected, Scale: p.scale, Z: (s.Value - p.expected) / p.scale}
}

// trackSpike counts consecutive samples beyond the spike threshold on the
// same side of the baseline and reports whether this sample confirms a
// spike.
func (st *series) trackSpike(cfg *config, s Sample, z float64) bool {
	if math.Abs(z) < cfg.spikeZ {
		st.over = 0
		return false
	}
	sign := 1
	if z < 0 {
		sign = -1
	}
	if st.over == 0 || sign != st.overSign {
		st.over, st.overSign, st.overFrom = 0, sign, s.Time
	}
	st.over++
	return st.over >= cfg.confirm
}

// trackDrift runs the two-sided CUSUM test on the residual from the slow
// level (or from the seasonal bucket when it is the better predictor), and
// returns the drift anomaly when either sum crosses its alarm level. Drift
// detection waits for the seasonal phase, because before the daily shape is
// known a daily cycle looks like a drift.
func (st *series) trackDrift(cfg *config, s Sample, p prediction, sc *Score) *Anomaly {
	if sc.Phase != PhaseSeasonal {
		return nil
	}
	ref := st.slow
	if p.seasonal {
		ref = p.expected
	}
	r := max(-3, min(3, (s.Value-ref)/p.scale))
	if st.cusumHi == 0 {
		st.hiSince, st.hiCount = s.Time, 0
	}
	if st.cusumLo == 0 {
		st.loSince, st.loCount = s.Time, 0
	}
	st.cusumHi = max(0, st.cusumHi+r-cfg.driftK)
	st.cusumLo = max(0, st.cusumLo-r-cfg.driftK)
	st.hiCount++
	st.loCount++
	sc.Drift = st.cusumHi / cfg.driftH
	if st.cusumLo > st.cusumHi {
		sc.Drift = -st.cusumLo / cfg.driftH
	}

	var a *Anomaly
	switch {
	case st.cusumHi >= cfg.driftH:
		a = &Anomaly{Series: st.name, Kind: KindDrift, Start: st.hiSince, Detected: s.Time, Value: s.Value,
			Expected: ref, Z: st.cusumHi/float64(st.hiCount) + cfg.driftK}
	case st.cusumLo >= cfg.driftH:
		a = &Anomaly{Series: st.name, Kind: KindDrift, Start: st.loSince, Detected: s.Time, Value: s.Value,
			Expected: ref, Z: -(st.cusumLo/float64(st.loCount) + cfg.driftK)}
	default:
		return nil
	}
	// The shift is now the level: measure the next drift from here.
	// NOTE: the seasonal buckets still hold the old level for days after a
	// large permanent shift, so a later drift back toward it can be
	// reported while they catch up.
	st.cusumHi, st.cusumLo = 0, 0
	st.slow = p.local
	return a
}

// learn adds s to the window, the seasonal buckets, the running errors and
// the slow level. p is nil while the window is too short to predict.
func (st *series) learn(cfg *config, s Sample, p *prediction) {
	x := s.Value
	if st.n == 0 {
		st.first = s.Time
		st.slow = x
	}
	st.n++
	st.last = s.Time
	st.win.push(x)
	if p == nil {
		return
	}

	// A sample that starts a run beyond the spike threshold does not move
	// the seasonal buckets or the running errors until the run is
	// confirmed, so that the next samples of the same spike are measured
	// against the same spread.
	if st.over > 0 && st.over < cfg.confirm {
		return
	}

	// Errors are clipped at six spreads so that an anomaly does not
	// widen the spread it is measured against.
	clip := 6 * p.scale
	st.errLocal = ewma(st.errLocal, min(clip, math.Abs(x-p.local)), errAlpha, st.n)
	if p.day.n > 0 {
		st.errDay = ewma(st.errDay, min(clip, math.Abs(x-p.day.level)), errAlpha, st.n)
	}
	if p.week.n > 0 {
		st.errWeek = ewma(st.errWeek, min(clip, math.Abs(x-p.week.level)), errAlpha, st.n)
	}
	updateBucket(p.day, x, p.localScale, cfg.bucketAlpha)
	updateBucket(p.week, x, p.localScale, cfg.bucketAlpha)

	st.slow += cfg.slowAlpha * max(-clip, min(clip, x-st.slow))
}

// ewma updates a running mean; the first samples are averaged plainly so
// that the mean does not start at zero.
func ewma(mean, x, alpha float64, n uint64) float64 {
	a := max(alpha, 1/float64(n))
	return mean + a*(x-mean)
}

// updateBucket moves b toward x with a weight of at least alpha, clipping
// the residual at three spreads so that one outlier moves it little.
func updateBucket(b *bucket, x, localScale, alpha float64) {
	if b.n == 0 {
		b.level, b.scale, b.n = x, localScale/1.2533, 1
		return
	}
	b.n++
	a := max(alpha, 1/float64(b.n))
	r := x - b.level
	if b.n > 3 && b.scale > 0 {
		r = max(-3*b.scale, min(3*b.scale, r))
	}
	b.level += a * r
	b.scale += a * (math.Abs(r) - b.scale)
}
