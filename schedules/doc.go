// Package schedules audits QStash schedules for zombies, dead endpoints,
// misconfiguration and duplicates, and prices what they consume.
//
// An Auditor reads schedules, their events and the dead letter queue through
// a Source (NewQStash returns one over the QStash API), groups the events of
// each schedule into triggers and applies its rules. Each Finding carries a
// one-paragraph Summary that names the schedule, its cron in words, the
// failure with status and body, the last success, the cost and the
// recommended Action. A Report writes the findings as text, Markdown or JSON.
//
// An Executor takes the recommended actions within a Policy: each action
// class is off, a dry run (the default), subject to an Approver, or
// autonomous, and deletes are autonomous only with AllowAutonomousDelete.
// Every action goes to an AuditHook before and after it runs.
//
// Cost figures are bounds. The lower bound counts triggers, computed from
// the cron expression; the upper bound counts every delivery attempt, 1 +
// retries per trigger, because public sources disagree on whether QStash
// bills retries.
//
// # Limitations
//
// The QStash API does not say when a schedule was paused, so the
// paused-too-long rule measures from the last trigger, and the cost of a
// paused schedule counts the triggers seen in its events, or, when the audit
// stopped reading them early, the cron's triggers up to the last schedule
// time. The auditor reads
// at most WithMaxEventsPerSchedule events per schedule (5,000 by default)
// within the lookback window (30 days), so for a long failure streak the
// last success may lie before the oldest event read; the summary then says
// "no successful delivery since" that event. Memory grows with the number
// of schedules and this per-schedule bound, not with the size of the DLQ.
package schedules
