package upstashops

import (
	"context"
	"time"
)

// JobName identifies a job, for RunOnce, options and leases.
type JobName string

// The built-in jobs. Each runs only when the Operator has what it needs:
// CostJob needs WithRedis, ScheduleJob needs WithQStash and so on.
const (
	// CostJob prices Redis usage and finds waste. Default cadence: daily.
	CostJob JobName = "cost"
	// RateLimitJob reviews rate limits against observed traffic. Default
	// cadence: every 15 minutes.
	RateLimitJob JobName = "ratelimit"
	// ScheduleJob audits QStash schedules. Default cadence: daily.
	ScheduleJob JobName = "schedules"
	// WorkflowJob reviews workflow and job failures. Default cadence:
	// every 5 minutes.
	WorkflowJob JobName = "workflows"
	// CorrelationJob samples metrics and groups anomalies into incidents.
	// Default cadence: every minute.
	CorrelationJob JobName = "correlation"
)

// DefaultCadence returns the interval a built-in job runs at unless
// configured otherwise, and zero for other names.
func DefaultCadence(name JobName) time.Duration {
	switch name {
	case CostJob, ScheduleJob:
		return 24 * time.Hour
	case RateLimitJob:
		return 15 * time.Minute
	case WorkflowJob:
		return 5 * time.Minute
	case CorrelationJob:
		return time.Minute
	}
	return 0
}

// Job is one check the Operator runs on a cadence. Each leaf package is
// plugged in through an adapter that implements Job; applications add their
// own with NewJob.
//
// Run must honour ctx: the Operator cancels it when the run's timeout passes
// or when the job's lease is lost to another instance.
type Job interface {
	Name() JobName
	Run(ctx context.Context) (Result, error)
}

// Result is what one run of a job found.
type Result struct {
	// Findings are every problem open at the end of the run. A finding of
	// this job that was open before and is absent now counts as resolved.
	Findings []Finding
	// Metrics are numbers to chart over time, such as the estimated
	// monthly cost (MetricCostUSD).
	Metrics []Metric
}

// Metric is one named number observed by a job run.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// MetricCostUSD is the metric name of the estimated monthly cost in US
// dollars; the dashboard charts it.
const MetricCostUSD = "cost_usd_month"

// NewJob returns a Job named name that calls run.
func NewJob(name JobName, run func(ctx context.Context) (Result, error)) Job {
	return funcJob{name: name, run: run}
}

type funcJob struct {
	name JobName
	run  func(ctx context.Context) (Result, error)
}

func (j funcJob) Name() JobName                           { return j.name }
func (j funcJob) Run(ctx context.Context) (Result, error) { return j.run(ctx) }

// JobOption changes how one job is scheduled.
type JobOption func(*jobConfig)

type jobConfig struct {
	every     time.Duration
	timeout   time.Duration
	jitter    time.Duration
	jitterSet bool
}

// Every sets the job's cadence. The default is DefaultCadence of its name,
// or one hour for other jobs.
func Every(d time.Duration) JobOption { return func(c *jobConfig) { c.every = d } }

// Timeout bounds one run of the job. The default is half the cadence, at
// most five minutes.
func Timeout(d time.Duration) JobOption { return func(c *jobConfig) { c.timeout = d } }

// Jitter sets the largest random delay added to each run, so that instances
// started together do not fire together. The default is a tenth of the
// cadence, at most five minutes; Jitter(0) turns it off.
func Jitter(d time.Duration) JobOption {
	return func(c *jobConfig) { c.jitter, c.jitterSet = d, true }
}

func (c *jobConfig) fill(name JobName) {
	if c.every <= 0 {
		c.every = DefaultCadence(name)
		if c.every == 0 {
			c.every = time.Hour
		}
	}
	if c.timeout <= 0 {
		c.timeout = min(c.every/2, 5*time.Minute)
	}
	if !c.jitterSet {
		c.jitter = min(c.every/10, 5*time.Minute)
	}
}

// JobStatus is the state of one job as the dashboard and API show it.
type JobStatus struct {
	Name      JobName       `json:"name"`
	Every     time.Duration `json:"every_ns"`
	Timeout   time.Duration `json:"timeout_ns"`
	Runs      int           `json:"runs"`
	Failures  int           `json:"failures"`
	Skipped   int           `json:"skipped"` // runs skipped because another instance held the lease
	LastStart time.Time     `json:"last_start"`
	LastEnd   time.Time     `json:"last_end"`
	LastError string        `json:"last_error,omitempty"`
	Running   bool          `json:"running"`
}
