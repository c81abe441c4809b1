package main

import (
	"net/http"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/qstashemu"
)

const challengePage = `<!DOCTYPE html><html><head><title>Just a moment...</title></head>` +
	`<body><script src="/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1"></script></body></html>`

// startDemo starts the emulator with a fixed clock and a month of scripted
// deliveries.
func startDemo() (*qstashemu.Server, clock.Clock, error) {
	now := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	clk := clock.NewFake(now)
	emu := qstashemu.Start(qstashemu.WithClock(clk))
	month := now.Add(-45 * 24 * time.Hour)

	type scripted struct {
		schedule qstashemu.Schedule
		every    time.Duration
		history  func(at time.Time) []qstashemu.Attempt
	}
	ok := func(time.Time) []qstashemu.Attempt { return []qstashemu.Attempt{qstashemu.OK()} }
	previewDeleted := now.Add(-36 * time.Hour)
	demo := []scripted{
		{qstashemu.Schedule{ID: "preview-cart-sync", Cron: "0 * * * *", Retries: 3, CreatedAt: now.Add(-20 * 24 * time.Hour),
			Destination: "https://shop-git-feature-cart-acme.vercel.app/api/cron/sync"}, time.Hour,
			func(at time.Time) []qstashemu.Attempt {
				if at.Before(previewDeleted) {
					return []qstashemu.Attempt{qstashemu.OK()}
				}
				return repeatAttempt(qstashemu.Fail(404, "The deployment could not be found on Vercel. DEPLOYMENT_NOT_FOUND"), 4)
			}},
		{qstashemu.Schedule{ID: "nightly-report", Cron: "*/30 * * * *", Retries: 2, CreatedAt: month,
			Destination: "https://api.acme.dev/jobs/report"}, 30 * time.Minute,
			func(at time.Time) []qstashemu.Attempt {
				if at.Before(now.Add(-3 * 24 * time.Hour)) {
					return []qstashemu.Attempt{qstashemu.OK()}
				}
				return repeatAttempt(qstashemu.Fail(500, `{"error":"relation \"reports\" does not exist"}`), 3)
			}},
		{qstashemu.Schedule{ID: "crm-import", Cron: "15 */6 * * *", Retries: 1, CreatedAt: month,
			Destination: "https://crm.acme.dev/webhooks/import"}, 6 * time.Hour,
			func(time.Time) []qstashemu.Attempt {
				return repeatAttempt(qstashemu.Attempt{Status: 403, Header: http.Header{"Content-Type": {"text/html"}, "Cf-Mitigated": {"challenge"}}, Body: challengePage}, 2)
			}},
		{qstashemu.Schedule{ID: "billing-sweep", Cron: "0 2 * * *", Retries: 3, CreatedAt: month,
			Destination: "https://old-api.acme.dev/billing/sweep"}, 24 * time.Hour,
			func(time.Time) []qstashemu.Attempt {
				return repeatAttempt(qstashemu.Attempt{Status: 308, Header: http.Header{"Location": {"https://api.acme.dev/billing/sweep"}}, Body: "Permanent Redirect"}, 4)
			}},
		{qstashemu.Schedule{ID: "healthy-digest", Cron: "0 8 * * 1-5", Retries: 3, CreatedAt: month,
			Destination: "https://api.acme.dev/digest", Body: []byte(`{"kind":"weekday"}`)}, 24 * time.Hour, ok},
	}
	for _, d := range demo {
		if _, err := emu.AddSchedule(d.schedule); err != nil {
			emu.Close()
			return nil, nil, err
		}
		for at := now.Add(-30 * 24 * time.Hour).Truncate(d.every); at.Before(now); at = at.Add(d.every) {
			if _, err := emu.Trigger(d.schedule.ID, at, d.history(at)...); err != nil {
				emu.Close()
				return nil, nil, err
			}
		}
	}

	// Startup code that creates its schedule on every deploy, without a
	// fixed id: three copies within two minutes.
	for i := range 3 {
		_, err := emu.AddSchedule(qstashemu.Schedule{Cron: "0 9 * * *", Retries: 3, CreatedAt: now.Add(-10*24*time.Hour + time.Duration(i)*50*time.Second),
			Destination: "https://api.acme.dev/emails/daily", Body: []byte(`{"template":"daily"}`)})
		if err != nil {
			emu.Close()
			return nil, nil, err
		}
	}
	return emu, clk, nil
}

func repeatAttempt(a qstashemu.Attempt, n int) []qstashemu.Attempt {
	out := make([]qstashemu.Attempt, n)
	for i := range out {
		out[i] = a
	}
	return out
}
