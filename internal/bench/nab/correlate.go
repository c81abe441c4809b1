package nab

import (
	"time"

	"github.com/upstash-ops/sdk/correlate"
)

// correlateDetector feeds one file to the correlate package's Detector with
// its default options and reports the Score's Anomaly value.
type correlateDetector struct {
	d *correlate.Detector
}

func newCorrelate() *correlateDetector {
	d, err := correlate.NewDetector()
	if err != nil {
		panic(err) // the defaults are valid
	}
	return &correlateDetector{d: d}
}

func (c *correlateDetector) Score(t time.Time, v float64) float64 {
	s, err := c.d.Observe(correlate.Sample{Series: "nab", Time: t, Value: v})
	if err != nil {
		panic(err) // NAB values are finite and timestamps are set
	}
	return s.Anomaly
}
