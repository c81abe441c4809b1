package upstashops

import (
	"fmt"

	"github.com/upstash-ops/sdk/correlate"
	"github.com/upstash-ops/sdk/costlint"
	"github.com/upstash-ops/sdk/heal"
	"github.com/upstash-ops/sdk/schedules"
)

// WithoutDefaultJobs stops New from adding the built-in jobs that WithRedis
// and WithQStash would add; only jobs given with WithJob or
// WithRateLimiter run. WithRedis then does not instrument the client.
func WithoutDefaultJobs() Option {
	return optionFunc(func(c *config) { c.noDefaultJobs = true })
}

// costJobOptions returns the options of the built-in cost job.
func (op *Operator) costJobOptions() []CostJobOption {
	cfg := op.cfg
	opts := []CostJobOption{func(j *costJob) { j.log = cfg.logger }}
	if cfg.minCostWindowSet {
		opts = append(opts, CostMinWindow(cfg.minCostWindow))
	}
	if cfg.mgmtDatabase != "" {
		opts = append(opts, CostUpstashStats(costlint.UpstashAccount{
			Email: cfg.mgmtEmail, APIKey: cfg.mgmtAPIKey, DatabaseID: cfg.mgmtDatabase, BaseURL: cfg.mgmtURL,
		}))
	}
	return opts
}

// addDefaultJobs adds the built-in jobs that the configured clients make
// possible and that no WithJob replaced:
//
//   - with WithRedis: CostJob over a costlint.Linter hooked into the client
//     (reading Upstash's statistics when WithManagementAPI and
//     WithUpstashDatabase are set), and CorrelationJob over a correlate.RedisCollector (one INFO command
//     a minute);
//   - with WithQStash: ScheduleJob over a schedules.QStash, which also
//     executes schedule pauses and deletes, and WorkflowJob over the Upstash
//     Workflow logs, with a heal.Monitor in dry-run mode so that the
//     Operator's Policy decides pauses.
//
// NOTE: the Operator's own Redis commands (leases, approvals, audit) go
// through the instrumented client too, so the cost report counts them.
func (op *Operator) addDefaultJobs() error {
	cfg := op.cfg
	if cfg.noDefaultJobs {
		return nil
	}
	if cfg.rdb != nil {
		if _, ok := op.jobs[CostJob]; !ok {
			op.linter = costlint.Instrument(cfg.rdb, costlint.WithClock(op.clk), costlint.WithLogger(cfg.logger))
			op.addJob(NewCostJob(op.linter, op.costJobOptions()...))
		}
		if _, ok := op.jobs[CorrelationJob]; !ok {
			col, err := correlate.NewRedisCollector(cfg.rdb, correlate.WithRedisClock(op.clk))
			if err != nil {
				return fmt.Errorf("upstashops: Redis collector for correlation: %w", err)
			}
			det, err := correlate.NewDetector()
			if err != nil {
				return fmt.Errorf("upstashops: correlation detector: %w", err)
			}
			cor, err := correlate.NewCorrelator()
			if err != nil {
				return fmt.Errorf("upstashops: correlator: %w", err)
			}
			op.addJob(NewCorrelationJob(det, cor, col))
		}
	}
	if cfg.qstashToken != "" {
		base := cfg.qstashURL
		if base == "" {
			base = heal.DefaultQStashURL
		}
		if _, ok := op.jobs[ScheduleJob]; !ok {
			q, err := schedules.NewQStash(base, cfg.qstashToken, schedules.WithQStashClock(op.clk))
			if err != nil {
				return fmt.Errorf("upstashops: QStash schedules client: %w", redactError(err))
			}
			aud, err := schedules.New(q, schedules.WithClock(op.clk), schedules.WithLogger(cfg.logger))
			if err != nil {
				return fmt.Errorf("upstashops: schedule auditor: %w", err)
			}
			op.addJob(NewScheduleJob(aud))
			op.cfg.executors = withExecutor(op.cfg.executors, ActionPauseSchedule, scheduleExecutor{q})
			op.cfg.executors = withExecutor(op.cfg.executors, ActionDeleteSchedule, scheduleExecutor{q})
		}
		if _, ok := op.jobs[WorkflowJob]; !ok {
			src, err := heal.NewWorkflowLogs(base, cfg.qstashToken)
			if err != nil {
				return fmt.Errorf("upstashops: workflow logs source: %w", redactError(err))
			}
			mon, err := heal.NewMonitor(heal.WithClock(op.clk), heal.WithLogger(cfg.logger))
			if err != nil {
				return fmt.Errorf("upstashops: workflow monitor: %w", err)
			}
			op.addJob(NewWorkflowJob(mon, src))
		}
	}
	return nil
}
