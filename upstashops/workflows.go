package upstashops

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/upstash-ops/sdk/heal"
	"github.com/upstash-ops/sdk/internal/clock"
)

// NewWorkflowJob returns the WorkflowJob over a heal.Monitor and a source
// of failure events, such as heal.NewWorkflowLogs or the QStash DLQ: each
// run polls src and reports the failures retries will not fix. A failure
// stays open for an hour after it was last seen.
//
// Give the Monitor heal.Policy{Mode: heal.DryRun} (its default) so that
// pauses are decided by the Operator's Policy as ActionPauseWorkflow
// actions instead of by the Monitor itself.
//
// WithQStash adds this job by itself over the Workflow logs.
func NewWorkflowJob(m *heal.Monitor, src heal.Source) Job {
	return &workflowJob{m: m, src: src, clk: clock.Real, open: newRecentFindings(time.Hour, 1000)}
}

type workflowJob struct {
	m    *heal.Monitor
	src  heal.Source
	clk  clock.Clock
	open *recentFindings
}

func (j *workflowJob) Name() JobName          { return WorkflowJob }
func (j *workflowJob) setClock(c clock.Clock) { j.clk = c }

func (j *workflowJob) Run(ctx context.Context) (Result, error) {
	// Poll returns the decisions of what it could read together with a
	// fetch error, and has already acted on them, so they are recorded
	// before the error is returned; the next run reports them.
	rep, err := j.m.Poll(ctx, j.src)
	now := j.clk.Now()
	for _, d := range rep.Decisions {
		if f, ok := workflowFinding(d); ok {
			j.open.add(f, now)
		}
	}
	if err != nil {
		return Result{}, fmt.Errorf("poll workflow failures: %w", err)
	}
	return Result{Findings: j.open.open(now)}, nil
}

// workflowFinding converts a heal decision. Transient and unknown failures
// are left to retries unless they repeat across runs.
func workflowFinding(d heal.Decision) (Finding, bool) {
	v := d.Verdict
	if !d.Systemic && (v.Class == heal.Transient || v.Class == heal.Unknown) {
		return Finding{}, false
	}
	fp := d.Fingerprint
	sev := Warning
	if v.Class == heal.Configuration || (d.Systemic && v.Class != heal.Logical) {
		sev = Critical
	}
	f := Finding{
		Kind:           "workflow." + v.Class.String(),
		Subject:        fp.String(),
		Severity:       sev,
		Summary:        fmt.Sprintf("%s failure in %s", v.Class, workflowTarget(fp)),
		Recommendation: v.Fix,
	}
	if unnamedStep(fp.Step) {
		// The subject, and so the ID, of an unnamed step uses an empty
		// step, so it carries no escaped quotes. Named steps keep theirs.
		unnamed := fp
		unnamed.Step = ""
		f.Subject = unnamed.String()
	} else {
		f.Summary += " at step " + fp.Step
	}
	f.ID = FindingID(f.Kind, f.Subject)
	f.Evidence = append(f.Evidence, Evidence{"runs failing this way", fmt.Sprint(d.Runs)}, Evidence{"signal", v.Signal})
	for _, e := range v.Evidence {
		f.Evidence = append(f.Evidence, Evidence{"seen", e})
	}
	if v.Class == heal.Configuration || v.Class == heal.Dependency {
		f.Actions = append(f.Actions, Action{Class: ActionPauseWorkflow, Target: fp.Target, Description: "pause " + workflowTarget(fp) + " until the " + v.Class.String() + " failure is fixed"})
	}
	return f, true
}

// unnamedStep reports whether step names no step: it is empty, or it is
// the name heal gives an unnamed first step, `after ""` (the word after and
// the quoted name of a previous step that does not exist).
func unnamedStep(step string) bool {
	return step == "" || step == `after ""`
}

func workflowTarget(fp heal.Fingerprint) string {
	if fp.Target == "" {
		return "an unnamed target"
	}
	return strings.TrimSpace(fp.Target)
}

// WithWorkflowPauser sets what carries out ActionPauseWorkflow: p.Pause is
// called with the failing target and the action's description.
func WithWorkflowPauser(p heal.Pauser) Option {
	return WithExecutor(ActionPauseWorkflow, ExecutorFunc(func(ctx context.Context, a Action) error {
		return p.Pause(ctx, a.Target, a.Description)
	}))
}
