// Package heal classifies workflow and job failures as transient,
// configuration, logical or dependency failures, finds failures that repeat
// across runs, and takes the action that fits each class within the owner's
// policy.
//
// Three entry points cover most uses:
//
//   - Classify (or a Classifier with the app's own rules in front) turns one
//     failure into a Verdict: class, confidence, evidence and a fix hint.
//   - Retry runs one of the app's calls with jittered exponential backoff
//     while the classification shows that retrying can help, and stops at once on
//     configuration and logical failures.
//   - Monitor takes failure events from the Upstash Workflow logs
//     (WorkflowLogs), the QStash DLQ and events, or the app's own jobs
//     (Observe), counts fingerprints across runs and acts: it records
//     transient failures, pauses and alerts on configuration failures,
//     pauses what depends on a failing third party and resumes it after
//     consecutive healthy probes, and sends logical failures to a person
//     without ever replaying them.
//
// Precedence of signals: explicit markers (the QStash non-retryable marker,
// bot-protection challenge pages, certificate and signature errors) beat
// HTTP status classes, which beat Go errors and error text, which beat
// repetition. Repetition only turns a transient-looking failure into
// something else: against the app's own host a repeating timeout or rate
// limit becomes a configuration failure and any other repeating failure a
// logical one, while against a third-party host it becomes a dependency
// failure.
//
// # Limitations
//
//   - The classifier reads English error text. Messages in other languages
//     fall through to Unknown unless an app rule recognises them.
//   - Bot-protection detection knows the challenge headers and pages of
//     Cloudflare and Vercel; other vendors' pages classify by status.
//   - A "next" step record in the Workflow logs carries no step name, so
//     its events are named after the step before it.
//   - The Monitor keeps its state in memory. A restart forgets the window,
//     the paused targets and the dependency watch, so targets the Monitor
//     paused before a restart must be resumed by hand or by a new failure
//     pattern and recovery.
package heal
