package upstashops

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/upstash-ops/sdk/costlint"
)

// NewCostJob returns the CostJob over a costlint.Linter: each run prices
// what the linter recorded since the previous run, reports one Finding per
// costlint finding and the estimated monthly cost as MetricCostUSD, then
// starts a new observation window.
//
// A window shorter than the minimum (CostMinWindow, one hour by default)
// is too short to project to a month. Such a run reports the findings
// without savings and without MetricCostUSD, and keeps the window open
// until a later run reaches the minimum.
//
// NOTE: some costlint recommendations carry projected counts in their text,
// which a short window still inflates.
//
// WithRedis adds this job by itself, over a Linter it instruments the
// client with; add it with WithJob to use a Linter of your own.
func NewCostJob(l *costlint.Linter, opts ...CostJobOption) Job {
	j := &costJob{l: l, minWindow: DefaultMinCostWindow, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(j)
	}
	return j
}

// DefaultMinCostWindow is the shortest observation window the cost job
// projects to a month unless CostMinWindow sets another.
const DefaultMinCostWindow = time.Hour

// CostJobOption configures NewCostJob.
type CostJobOption func(*costJob)

// CostMinWindow sets the shortest observation window whose counts are
// projected to a month. The default is DefaultMinCostWindow; zero or less
// projects any window.
func CostMinWindow(d time.Duration) CostJobOption {
	return func(j *costJob) { j.minWindow = d }
}

// CostUpstashStats makes each run read the database's statistics from
// Upstash's developer API with costlint's CollectUpstashStats before it
// reports, so that the server-side rules have command counts. A failed
// read is logged and the run reports without them.
func CostUpstashStats(acct costlint.UpstashAccount) CostJobOption {
	return func(j *costJob) { j.acct = &acct }
}

type costJob struct {
	l         *costlint.Linter
	minWindow time.Duration
	acct      *costlint.UpstashAccount
	log       *slog.Logger
}

func (j *costJob) Name() JobName { return CostJob }

// Run reports the window. It starts a new window only when the report is
// long enough to project; Rotate does both in one step, so no command is
// lost between them.
func (j *costJob) Run(ctx context.Context) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if j.acct != nil {
		if err := j.l.CollectUpstashStats(ctx, *j.acct); err != nil {
			j.log.LogAttrs(ctx, slog.LevelWarn, "upstashops: read Upstash stats failed, reporting without them",
				slog.String("database", j.acct.DatabaseID), slog.String("error", redactError(err).Error()))
		}
	}

	rep := j.l.Report()
	window := time.Duration(rep.WindowSeconds * float64(time.Second))
	short := window < j.minWindow
	if !short {
		rep = j.l.Rotate()
	}

	var res Result
	if !short {
		res.Metrics = []Metric{{Name: MetricCostUSD, Value: rep.CostPerMonth}}
	}
	for _, cf := range rep.Findings {
		f := costFinding(cf)
		if short {
			f.SavingsUSD = 0
			f.Evidence = slices.DeleteFunc(f.Evidence, func(e Evidence) bool { return e.Name == "commands per month" })
			f.Evidence = append(f.Evidence, Evidence{"window", fmt.Sprintf("%s, shorter than the %s needed to project savings", window.Round(time.Millisecond), j.minWindow)})
		}
		res.Findings = append(res.Findings, f)
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
