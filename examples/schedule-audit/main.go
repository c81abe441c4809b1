// Command schedule-audit shows a nightly job that audits QStash schedules,
// prints the report and takes the actions its policy allows.
//
// By default it starts the in-process QStash emulator with a scripted
// history (a deleted preview deployment, a zombie, a Cloudflare challenge,
// a redirect to a new host, duplicates and a healthy schedule), so it needs
// no account. With QSTASH_TOKEN set it audits the real QStash account of
// that token, at -url (default https://qstash.upstash.io), in dry-run mode
// unless -pause or -delete set another policy.
//
//	go run ./examples/schedule-audit
//	go run ./examples/schedule-audit -format markdown
//	QSTASH_TOKEN=... go run ./examples/schedule-audit -format json
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/qstashemu"
	"github.com/upstash-ops/sdk/schedules"
)

func main() {
	format := flag.String("format", "text", "report format: text, markdown or json")
	baseURL := flag.String("url", schedules.DefaultQStashURL, "QStash API base URL, used only when QSTASH_TOKEN is set")
	pause := flag.String("pause", "dry-run", "policy for pausing schedules: off, dry-run, approval or autonomous")
	del := flag.String("delete", "dry-run", "policy for deleting schedules: off, dry-run or approval")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	if err := run(ctx, os.Stdout, logger, *format, *baseURL, *pause, *del); err != nil {
		fmt.Fprintln(os.Stderr, "schedule-audit:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, logger *slog.Logger, format, baseURL, pauseMode, deleteMode string) error {
	policy, err := parsePolicy(pauseMode, deleteMode)
	if err != nil {
		return err
	}
	switch format {
	case "text", "markdown", "md", "json":
	default:
		return fmt.Errorf("invalid -format %q: want text, markdown or json", format)
	}

	var (
		src *schedules.QStash
		clk clock.Clock = clock.Real
	)
	if token := os.Getenv("QSTASH_TOKEN"); token != "" {
		src, err = schedules.NewQStash(baseURL, token, schedules.WithRequestTimeout(20*time.Second))
	} else {
		fmt.Fprintln(os.Stderr, "QSTASH_TOKEN is not set: auditing the in-process emulator with a scripted history")
		var emu *qstashemu.Server
		emu, clk, err = startDemo()
		if err != nil {
			return err
		}
		defer emu.Close()
		src, err = schedules.NewQStash(emu.URL(), emu.Token())
	}
	if err != nil {
		return err
	}

	report, err := auditJob(ctx, src, clk, logger, policy)
	if err != nil {
		return err
	}
	switch format {
	case "markdown", "md":
		return report.WriteMarkdown(out)
	case "json":
		return report.WriteJSON(out)
	}
	return report.WriteText(out)
}

// auditJob audits the schedules and acts within the policy, which is all an
// application's existing job needs to add. A denying approver replaces a
// real approval flow here, such as a chat message that an operator confirms.
func auditJob(ctx context.Context, src *schedules.QStash, clk clock.Clock, logger *slog.Logger, policy schedules.Policy) (*schedules.Report, error) {
	auditor, err := schedules.New(src, schedules.WithClock(clk), schedules.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	report, err := auditor.Audit(ctx)
	if err != nil {
		return nil, err
	}

	approver := schedules.ApproverFunc(func(_ context.Context, req schedules.ActionRequest) (bool, error) {
		logger.Warn("approval requested; this example denies it", "action", req.Action, "schedule_id", req.ScheduleID)
		return false, nil
	})
	auditTrail := func(_ context.Context, e schedules.AuditEntry) error {
		logger.Info("schedule action", "phase", e.Phase, "action", e.Request.Action, "schedule_id", e.Request.ScheduleID,
			"before_paused", e.Before.Paused, "after_paused", e.After.Paused, "outcome", e.Outcome)
		return nil
	}
	executor, err := schedules.NewExecutor(src, policy, schedules.WithApprover(approver),
		schedules.WithAuditHook(auditTrail), schedules.WithExecutorLogger(logger))
	if err != nil {
		return nil, err
	}
	executor.Apply(ctx, report)
	return report, nil
}

func parsePolicy(pauseMode, deleteMode string) (schedules.Policy, error) {
	modes := map[string]schedules.Mode{
		"off": schedules.ModeOff, "dry-run": schedules.ModeDryRun,
		"approval": schedules.ModeApproval, "autonomous": schedules.ModeAutonomous,
	}
	p, ok := modes[pauseMode]
	if !ok {
		return schedules.Policy{}, fmt.Errorf("invalid -pause %q: want off, dry-run, approval or autonomous", pauseMode)
	}
	d, ok := modes[deleteMode]
	if !ok || d == schedules.ModeAutonomous {
		return schedules.Policy{}, fmt.Errorf("invalid -delete %q: want off, dry-run or approval", deleteMode)
	}
	return schedules.Policy{Pause: p, Delete: d}, nil
}
