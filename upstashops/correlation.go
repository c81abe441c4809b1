package upstashops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/upstash-ops/sdk/correlate"
	"github.com/upstash-ops/sdk/internal/clock"
)

// NewCorrelationJob returns the CorrelationJob: each run reads every
// collector, scores the samples against their baselines with d, groups
// confirmed anomalies into incidents with c, and reports each incident as
// a Finding for an hour after it was last seen. A failing collector is
// reported as the run's error after the others were read.
func NewCorrelationJob(d *correlate.Detector, c *correlate.Correlator, collectors ...correlate.Collector) Job {
	return &correlationJob{d: d, c: c, collectors: collectors, clk: clock.Real, open: newRecentFindings(time.Hour, 256)}
}

type correlationJob struct {
	d          *correlate.Detector
	c          *correlate.Correlator
	collectors []correlate.Collector
	clk        clock.Clock
	open       *recentFindings
}

func (j *correlationJob) Name() JobName          { return CorrelationJob }
func (j *correlationJob) setClock(c clock.Clock) { j.clk = c }

func (j *correlationJob) Run(ctx context.Context) (Result, error) {
	var errs []error
	var incidents []correlate.Incident
	for _, col := range j.collectors {
		samples, err := col.Collect(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		for _, s := range samples {
			score, err := j.d.Observe(s)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if score.Onset != nil {
				incidents = append(incidents, j.c.Add(*score.Onset)...)
			}
		}
	}
	now := j.clk.Now()
	incidents = append(incidents, j.c.Flush(now)...)
	for _, inc := range incidents {
		j.open.add(incidentFinding(inc), now)
	}
	// Repeats merged into a reported incident keep it open.
	for _, inc := range j.c.Incidents() {
		if now.Sub(inc.LastSeen) <= time.Hour {
			j.open.add(incidentFinding(inc), now)
		}
	}
	res := Result{Findings: j.open.open(now)}
	if len(errs) > 0 {
		return res, fmt.Errorf("correlation sampling: %w", errors.Join(errs...))
	}
	return res, nil
}

func incidentFinding(inc correlate.Incident) Finding {
	sev := Warning
	if len(inc.Chain) >= 3 {
		sev = Critical
	}
	f := Finding{
		Kind:           "incident." + correlate.SignalOf(inc.Root.Series),
		Subject:        inc.Story,
		Severity:       sev,
		Summary:        inc.Summary,
		Recommendation: "Start from the root cause: " + inc.Root.Series + ".",
	}
	f.ID = FindingID(f.Kind, inc.Story)
	f.Evidence = append(f.Evidence, Evidence{"started", inc.Start.UTC().Format(time.RFC3339)}, Evidence{"explanation", inc.Text})
	for _, a := range inc.Chain {
		f.Evidence = append(f.Evidence, Evidence{a.Series, fmt.Sprintf("%s: %.4g against an expected %.4g", a.Kind, a.Value, a.Expected)})
	}
	if inc.Repeats > 0 {
		f.Evidence = append(f.Evidence, Evidence{"repeats", fmt.Sprint(inc.Repeats)})
	}
	return f
}
