// Package upstashops wires the SDK's checks into one Operator that runs them
// on a schedule, routes findings to people and acts within the owner's policy.
//
// An Operator runs Jobs. The leaves plug in as jobs through adapters:
// NewCostJob (costlint), NewScheduleJob (schedules), NewWorkflowJob (heal),
// NewCorrelationJob (correlate) and NewRateLimitJob (ratelimit). WithRedis,
// WithQStash and WithRateLimiter add them with defaults. Applications add their own with
// NewJob. Every job result becomes a Finding with an ID that is stable
// across runs.
//
// Findings are routed by severity: Info to the digest, Warning to chat,
// Critical to the pager and chat, through Notifiers (Slack, Webhook,
// PagerDuty, Email, Slog or your own). Proposed Actions go through the
// Policy: off, recommend, dry run, approval or autonomous per ActionClass,
// observe-only by default. Every step is written to the audit trail, a
// Redis stream. Handler serves the dashboard, a JSON API and signed approval
// links.
//
// # Limitations
//
//   - With Redis, the open findings of each job, the cooldowns and the
//     record of which channel got which alert are shared by every instance.
//     Without it they are kept in memory per process, so a restart re-sends
//     alerts for findings still open. The cost chart and the delivery queues
//     are always per process.
//   - The default Redis jobs instrument the client the Operator itself uses,
//     so the cost report includes the Operator's own commands.
//   - ActionTTLFloor is carried out on the cost job's Linter, so the floor
//     applies only to commands sent through that Linter's hook in this
//     process, and is lost on restart.
//   - WithRateLimiter's review counts only decisions sent through
//     RateLimitReview.AllowN or Observe. To count those of
//     ratelimit.Middleware too, use NewRateLimitReview and
//     WithRateLimitReview.
package upstashops
