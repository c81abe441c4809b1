package upstashops

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/upstash-ops/sdk/costlint"
)

// NewCostJob returns the CostJob over a costlint.Linter: each run prices
// what the linter recorded since the previous run, reports one Finding per
// costlint finding and the estimated monthly cost as MetricCostUSD, then
// starts a new observation window.
//
// WithRedis adds this job by itself, over a Linter it instruments the
// client with; add it with WithJob to use a Linter of your own.
func NewCostJob(l *costlint.Linter) Job { return &costJob{l: l} }

type costJob struct{ l *costlint.Linter }

func (j *costJob) Name() JobName { return CostJob }

// Run reports the window and resets it. Commands recorded between the
// report's snapshot and the reset are dropped.
func (j *costJob) Run(ctx context.Context) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	rep := j.l.Report()
	j.l.Reset()
	res := Result{Metrics: []Metric{{Name: MetricCostUSD, Value: rep.CostPerMonth}}}
	for _, cf := range rep.Findings {
		res.Findings = append(res.Findings, costFinding(cf))
	}
	return res, nil
}

// costFinding converts one costlint finding. Its subject is the rule with
// the key patterns and call sites it names, which stay the same from one
// window to the next while the counts change.
func costFinding(cf costlint.Finding) Finding {
	subject := strings.Join(append(append([]string{}, cf.Patterns...), cf.CallSites...), " ")
	if subject == "" {
		subject = strings.Join(cf.Commands, " ")
	}
	f := Finding{
		Kind:           "cost." + cf.Rule,
		Subject:        subject,
		Severity:       costSeverity(cf.Severity),
		Summary:        cf.Title,
		Recommendation: cf.Recommendation,
		SavingsUSD:     cf.MonthlySavings,
	}
	f.ID = FindingID(f.Kind, cf.Rule, subject)
	f.Evidence = append(f.Evidence, Evidence{"observed", cf.Evidence})
	if cf.CommandsPerMonth > 0 {
		f.Evidence = append(f.Evidence, Evidence{"commands per month", fmt.Sprintf("%.0f, %.0f after the fix", cf.CommandsPerMonth, cf.CommandsPerMonthAfter)})
	}
	for _, site := range cf.CallSites {
		f.Evidence = append(f.Evidence, Evidence{"call site", site})
	}
	if cf.Rule == "ttl-thrash" {
		for _, p := range cf.Patterns {
			f.Actions = append(f.Actions, Action{Class: ActionTTLFloor, Target: p,
				Description: fmt.Sprintf("set a TTL floor of %s on %s so short TTLs stop expiring hot keys", ttlFloor, p),
				Params:      map[string]string{"min": ttlFloor.String()}})
		}
	}
	return f
}

// ttlFloor is the floor proposed for a ttl-thrash pattern.
//
// NOTE: it repeats the 60-second TTL that costlint's ttl-thrash
// recommendation names, which costlint does not export.
const ttlFloor = time.Minute

// ttlFloorExecutor applies ActionTTLFloor to the Linter whose hook sends
// the application's commands, so that TTL arguments below the floor on the
// action's key pattern are raised from then on. The floor lives in this
// process only: other instances and restarts do not keep it.
type ttlFloorExecutor struct{ l *costlint.Linter }

func (e ttlFloorExecutor) Execute(_ context.Context, a Action) error {
	d, err := time.ParseDuration(a.Params["min"])
	if err != nil || d <= 0 {
		return fmt.Errorf("TTL floor for %s: invalid min %q: want a positive duration such as 1m", a.Target, a.Params["min"])
	}
	e.l.SetTTLFloor(costlint.TTLFloor{Pattern: a.Target, Min: d})
	return nil
}

// costSeverity maps costlint's severities: money findings are never paged,
// so both alert and high become Warning.
func costSeverity(s costlint.Severity) Severity {
	if s == costlint.SeverityInfo {
		return Info
	}
	return Warning
}

// CostLinter returns the costlint.Linter that WithRedis instrumented the
// client with, or nil when the cost job uses another Linter or there is no
// Redis client.
func (op *Operator) CostLinter() *costlint.Linter { return op.linter }
