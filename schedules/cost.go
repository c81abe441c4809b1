package schedules

import (
	"time"

	"github.com/upstash-ops/sdk/internal/qstash/cron"
)

// DefaultPricePer100K is the default price of 100,000 QStash messages in US
// dollars. Set the price of your plan with WithPricePer100K.
const DefaultPricePer100K = 1.0

// costWindow is the period both cost figures cover: the last 30 days and
// the next 30 days.
const costWindow = 30 * 24 * time.Hour

// maxCountedTriggers bounds the triggers counted per window, which an
// every-minute cron reaches at 43,200.
const maxCountedTriggers = 100_000

// estimateCost prices a schedule. parsed is nil when the cron expression did
// not parse; the figures then come from the observed history only.
func estimateCost(s Schedule, parsed *cron.Schedule, h *history, now time.Time, pricePer100K float64) Cost {
	var c Cost
	c.ObservedAttempts30d = h.attempts

	from := now.Add(-costWindow)
	if s.CreatedAt.After(from) {
		from = s.CreatedAt
	}
	switch {
	case s.Paused && !h.complete && parsed != nil && !s.LastScheduleTime.IsZero():
		// The audit stopped reading events once it had enough triggers to
		// judge, so they undercount. The schedule fired on its cron until
		// its last trigger.
		last := s.LastScheduleTime
		if last.After(now) {
			last = now
		}
		if last.After(from) {
			c.Triggers30d, _ = parsed.Count(from, last, maxCountedTriggers)
		}
	case s.Paused || parsed == nil:
		// Count the triggers the events showed: all of them when the audit
		// read the whole window, a lower bound otherwise.
		for _, t := range h.triggers {
			if !t.at.Before(now.Add(-costWindow)) {
				c.Triggers30d++
			}
		}
	default:
		c.Triggers30d, _ = parsed.Count(from, now, maxCountedTriggers)
	}
	perTrigger := 1 + max(s.Retries, 0)
	c.MessagesLower30d = c.Triggers30d
	c.MessagesUpper30d = max(c.Triggers30d*perTrigger, c.ObservedAttempts30d)

	if !s.Paused && parsed != nil {
		ahead, _ := parsed.Count(now, now.Add(costWindow), maxCountedTriggers)
		c.MessagesLowerMonth = ahead
		c.MessagesUpperMonth = ahead * perTrigger
	}
	c.USDLowerMonth = float64(c.MessagesLowerMonth) / 100_000 * pricePer100K
	c.USDUpperMonth = float64(c.MessagesUpperMonth) / 100_000 * pricePer100K
	return c
}
