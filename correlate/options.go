package correlate

import (
	"fmt"
	"time"
)

// config holds the Detector's settings. The defaults were chosen on
// synthetic series and on the NAB corpus (mostly its even-numbered files),
// never per file.
type config struct {
	window      int           // samples in the local window
	warmup      int           // samples before a series may alert
	spikeZ      float64       // |Z| that counts as beyond the baseline
	confirm     int           // consecutive samples beyond spikeZ that make a spike
	driftK      float64       // CUSUM slack, in robust standard deviations
	driftH      float64       // CUSUM alarm level
	seasonDay   time.Duration // history before hour-of-day buckets are used
	seasonWeek  time.Duration // history before hour-of-week buckets are used
	maxSeries   int
	location    *time.Location
	cooldown    int     // samples after an onset (or an anomaly level of 1) during which the series is not reported again
	slowAlpha   float64 // weight of a new sample in the slow level that drifts are measured from
	bucketAlpha float64 // smallest weight of a new sample in a seasonal bucket
	scaleFloor  float64 // the spread is at least this multiple of the predictor's mean absolute error
	peakDecay   float64 // per-sample decay of the recent peak anomaly level
	globalZ     float64 // long-run standard deviations that count as one anomaly level
	globalAlpha float64 // weight of a new sample in the long-run mean and variance
	recentAlpha float64 // weight of a new sample in the recent mean of log(1+|z|)
	rawAlpha    float64 // weight of a new sample in the long-run statistics of log(1+|z|)
	likelihoodZ float64 // standard deviations of the recent mean of log(1+|z|) that count as one anomaly level
	alarmAlpha  float64 // weight of a new sample in the series' recent alarm rate
	alarmWeight float64 // how much each alarm per 1,000 samples raises the bar for the next
}

func defaultConfig() config {
	return config{
		window:      48,
		warmup:      48,
		spikeZ:      6,
		confirm:     2,
		driftK:      1,
		driftH:      30,
		seasonDay:   3 * 24 * time.Hour,
		seasonWeek:  3 * 7 * 24 * time.Hour,
		maxSeries:   10000,
		location:    time.UTC,
		cooldown:    96,
		slowAlpha:   0.01,
		bucketAlpha: 0.05,
		scaleFloor:  2,
		peakDecay:   0.998,
		globalZ:     5,
		globalAlpha: 0.004,
		recentAlpha: 0.5,
		rawAlpha:    0.0005,
		likelihoodZ: 3,
		alarmAlpha:  0.0005,
		alarmWeight: 0.1,
	}
}

func (c *config) validate() error {
	switch {
	case c.window < 8:
		return fmt.Errorf("correlate: window of %d samples is too small: use at least 8", c.window)
	case c.warmup < c.window/2:
		return fmt.Errorf("correlate: warm-up of %d samples is shorter than half the window (%d)", c.warmup, c.window/2)
	case !(c.spikeZ > 0): // also rejects NaN
		return fmt.Errorf("correlate: spike threshold %v must be positive", c.spikeZ)
	case c.confirm < 1:
		return fmt.Errorf("correlate: confirmation count %d must be at least 1", c.confirm)
	case !(c.driftH > 0) || !(c.driftK >= 0):
		return fmt.Errorf("correlate: drift slack %v and level %v must be non-negative and positive", c.driftK, c.driftH)
	case c.cooldown < 0:
		return fmt.Errorf("correlate: cooldown of %d samples is negative", c.cooldown)
	case c.seasonDay < 0 || c.seasonWeek < 0:
		return fmt.Errorf("correlate: seasonality history %v (day) and %v (week) must not be negative", c.seasonDay, c.seasonWeek)
	case c.maxSeries < 1:
		return fmt.Errorf("correlate: series limit %d must be at least 1", c.maxSeries)
	case c.location == nil:
		return fmt.Errorf("correlate: location for hour-of-day buckets is missing")
	}
	return nil
}

// Option configures a Detector.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithWindow sets how many recent samples the local median and MAD are
// taken over. Default 48; at least 8.
func WithWindow(n int) Option { return optionFunc(func(c *config) { c.window = n }) }

// WithWarmup sets how many samples a series must have before it may raise
// an anomaly. Default 48; at least half the window.
func WithWarmup(n int) Option { return optionFunc(func(c *config) { c.warmup = n }) }

// WithSpikeThreshold sets how many robust standard deviations from the
// baseline a sample must be to count toward a spike. Default 6.
func WithSpikeThreshold(z float64) Option { return optionFunc(func(c *config) { c.spikeZ = z }) }

// WithConfirmation sets how many consecutive samples beyond the spike
// threshold confirm a spike. Default 2, so a single odd sample is never an
// anomaly; 1 alerts on single samples.
func WithConfirmation(n int) Option { return optionFunc(func(c *config) { c.confirm = n }) }

// WithDrift sets the CUSUM change-point test: slack k and alarm level h,
// both in robust standard deviations. Default k = 1, h = 30.
func WithDrift(k, h float64) Option {
	return optionFunc(func(c *config) { c.driftK, c.driftH = k, h })
}

// WithSeasonality sets how much history a series needs before its
// hour-of-day buckets (default 3 days) and hour-of-week buckets (default 3
// weeks) are used.
func WithSeasonality(day, week time.Duration) Option {
	return optionFunc(func(c *config) { c.seasonDay, c.seasonWeek = day, week })
}

// WithMaxSeries sets how many series the Detector keeps. Default 10,000;
// the least recently updated series is forgotten when a new one would
// exceed it.
func WithMaxSeries(n int) Option { return optionFunc(func(c *config) { c.maxSeries = n }) }

// WithLocation sets the time zone of the hour-of-day and day-of-week
// buckets. Default UTC.
func WithLocation(loc *time.Location) Option { return optionFunc(func(c *config) { c.location = loc }) }

// WithCooldown sets how many samples after an onset a new onset of the same
// series is merged into it instead of reported, and how long the Score's
// Anomaly value is held at 0 after it reached its alarm level. Default 96.
func WithCooldown(n int) Option { return optionFunc(func(c *config) { c.cooldown = n }) }
