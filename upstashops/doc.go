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
//   - Open findings, cooldowns, delivery state and the cost chart are kept in
//     memory per process. A restart re-sends alerts for findings still open,
//     and instances sharing a Redis each alert on what their own runs found.
//   - The default Redis jobs instrument the client the Operator itself uses,
//     so the cost report includes the Operator's own commands.
//   - The rate-limit review counts only decisions sent through
//     RateLimitReview.AllowN or Observe, not those of ratelimit.Middleware.
package upstashops
