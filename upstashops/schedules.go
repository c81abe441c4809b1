package upstashops

import (
	"context"
	"fmt"

	"github.com/upstash-ops/sdk/schedules"
)

// NewScheduleJob returns the ScheduleJob over a schedules.Auditor: each run
// audits every QStash schedule and reports one Finding per schedule
// finding. The auditor's recommendation becomes an ActionPauseSchedule or
// ActionDeleteSchedule action, which the Policy decides.
//
// WithQStash adds this job by itself, with a schedules.QStash as both the
// source and the executor of pauses and deletes.
func NewScheduleJob(a *schedules.Auditor) Job { return &scheduleJob{a: a} }

type scheduleJob struct{ a *schedules.Auditor }

func (j *scheduleJob) Name() JobName { return ScheduleJob }

func (j *scheduleJob) Run(ctx context.Context) (Result, error) {
	rep, err := j.a.Audit(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("audit schedules: %w", err)
	}
	var res Result
	for _, sf := range rep.Findings {
		res.Findings = append(res.Findings, scheduleFinding(sf))
	}
	return res, nil
}

func scheduleFinding(sf schedules.Finding) Finding {
	f := Finding{
		Kind:       "schedule." + string(sf.Kind),
		Subject:    sf.ScheduleID,
		Severity:   Severity(min(max(int(sf.Severity), int(Info)), int(Critical))),
		Summary:    fmt.Sprintf("Schedule %s %s", sf.ScheduleID, scheduleVerdict(sf)),
		SavingsUSD: sf.Cost.USDUpperMonth,
	}
	switch sf.Recommendation {
	case schedules.ActionDelete:
		f.Recommendation = "Delete the schedule."
	case schedules.ActionPause:
		f.Recommendation = "Pause the schedule until its endpoint is fixed."
	}
	f.ID = FindingID(f.Kind, sf.ScheduleID)
	f.Evidence = append(f.Evidence, Evidence{"explanation", sf.Summary}, Evidence{"target", sf.Method + " " + sf.Destination}, Evidence{"cron", sf.Cron + " (" + sf.CronDescription + ")"})
	if sf.Checked > 0 {
		f.Evidence = append(f.Evidence, Evidence{"failed triggers", fmt.Sprintf("%d of the last %d", sf.Failures, sf.Checked)})
	}
	if sf.LastStatus != 0 || sf.LastError != "" {
		f.Evidence = append(f.Evidence, Evidence{"last failure", fmt.Sprintf("%d %s", sf.LastStatus, sf.LastError)})
	}
	if sf.Cause != "" {
		f.Evidence = append(f.Evidence, Evidence{"cause", string(sf.Cause)})
	}
	if sf.DuplicateOf != "" {
		f.Evidence = append(f.Evidence, Evidence{"duplicate of", sf.DuplicateOf})
	}
	f.Evidence = append(f.Evidence, Evidence{"messages next 30 days", fmt.Sprintf("%d to %d", sf.Cost.MessagesLowerMonth, sf.Cost.MessagesUpperMonth)})

	switch sf.Recommendation {
	case schedules.ActionPause:
		f.Actions = append(f.Actions, Action{Class: ActionPauseSchedule, Target: sf.ScheduleID, Description: "pause schedule " + sf.ScheduleID})
	case schedules.ActionDelete:
		f.Actions = append(f.Actions, Action{Class: ActionDeleteSchedule, Target: sf.ScheduleID, Description: "delete schedule " + sf.ScheduleID})
	}
	return f
}

// scheduleVerdict returns a short phrase for the kind of a schedule finding.
func scheduleVerdict(sf schedules.Finding) string {
	switch sf.Kind {
	case schedules.KindZombie:
		return "fails every recent trigger with a server error"
	case schedules.KindDegraded:
		return "fails many of its recent triggers"
	case schedules.KindEndpointGone:
		return "targets an endpoint that no longer exists"
	case schedules.KindMisconfigured:
		return fmt.Sprintf("fails every trigger in a way retries never fix (%s)", sf.Cause)
	case schedules.KindDeadLetters:
		return "keeps filling the dead letter queue"
	case schedules.KindDuplicate:
		return "duplicates schedule " + sf.DuplicateOf
	case schedules.KindStaleCode:
		return "targets a path that no route of the application serves"
	case schedules.KindPausedTooLong:
		return "has been paused for a long time"
	case schedules.KindNeverSucceeded:
		return "has never delivered successfully"
	}
	return "has a finding of kind " + string(sf.Kind)
}

// scheduleExecutor pauses or deletes schedules through a
// schedules.Controller.
type scheduleExecutor struct{ ctl schedules.Controller }

func (e scheduleExecutor) Execute(ctx context.Context, a Action) error {
	switch a.Class {
	case ActionPauseSchedule:
		return e.ctl.Pause(ctx, a.Target)
	case ActionDeleteSchedule:
		return e.ctl.Delete(ctx, a.Target)
	}
	return fmt.Errorf("schedule executor: unsupported action class %q", a.Class)
}

// WithScheduleController sets what pauses and deletes QStash schedules for
// ActionPauseSchedule and ActionDeleteSchedule. WithQStash sets a
// schedules.QStash by itself.
func WithScheduleController(ctl schedules.Controller) Option {
	return optionFunc(func(c *config) {
		c.executors = withExecutor(c.executors, ActionPauseSchedule, scheduleExecutor{ctl})
		c.executors = withExecutor(c.executors, ActionDeleteSchedule, scheduleExecutor{ctl})
	})
}
