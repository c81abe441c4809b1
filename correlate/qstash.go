package correlate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/upstash/qstash-go"

	"github.com/upstash-ops/sdk/internal/clock"
)

// QStashAPI is the part of the QStash REST API that the QStash collector
// calls. QStashClient adapts a qstash-go *Client to it.
type QStashAPI interface {
	ListQueues() ([]qstash.QueueWithLag, error)
	ListEvents(opts qstash.ListEventsOptions) ([]qstash.Event, string, error)
	ListDLQ(opts qstash.ListDlqOptions) ([]qstash.DlqMessage, string, error)
}

// QStashClient adapts a qstash-go client to QStashAPI.
func QStashClient(c *qstash.Client) QStashAPI { return qstashClient{c} }

type qstashClient struct{ c *qstash.Client }

func (q qstashClient) ListQueues() ([]qstash.QueueWithLag, error) { return q.c.Queues().List() }

func (q qstashClient) ListEvents(opts qstash.ListEventsOptions) ([]qstash.Event, string, error) {
	return q.c.Events().List(opts)
}

func (q qstashClient) ListDLQ(opts qstash.ListDlqOptions) ([]qstash.DlqMessage, string, error) {
	return q.c.Dlq().List(opts)
}

// QStashOption configures a QStashCollector.
type QStashOption interface{ applyQStash(*QStashCollector) }

type qstashOptionFunc func(*QStashCollector)

func (f qstashOptionFunc) applyQStash(q *QStashCollector) { f(q) }

// WithQStashClock sets the clock that stamps samples and bounds the event
// windows. Default the system clock.
func WithQStashClock(c clock.Clock) QStashOption {
	return qstashOptionFunc(func(q *QStashCollector) { q.clock = c })
}

// WithQStashPages sets how many pages each poll reads at most: of events
// (1,000 per page) and of the DLQ (100 per page). Default 10 and 20.
func WithQStashPages(events, dlq int) QStashOption {
	return qstashOptionFunc(func(q *QStashCollector) { q.eventPages, q.dlqPages = max(1, events), max(1, dlq) })
}

// WithQStashLogger sets the logger for truncated reads. Default silent.
func WithQStashLogger(l *slog.Logger) QStashOption {
	return qstashOptionFunc(func(q *QStashCollector) { q.log = l })
}

// QStashCollector reads QStash queues, events and the DLQ and turns them
// into samples: lag and parallelism per queue, DLQ size, publish rate and
// delivery success ratio over the interval since the previous poll.
//
// Each poll costs one queue list, one events request per page of events
// since the last poll, and one DLQ request per 100 entries, within the
// page limits of WithQStashPages. When the events of an interval fill
// every page, the rates are taken over the span the pages cover (events
// come newest first), so they stay estimates of the current rate. When
// the DLQ fills every page, its size is a lower bound. It is safe for
// concurrent use; polls are serialised.
type QStashCollector struct {
	api        QStashAPI
	clock      clock.Clock
	log        *slog.Logger
	eventPages int
	dlqPages   int

	mu   sync.Mutex
	last time.Time
}

// NewQStashCollector returns a collector that reads through api.
func NewQStashCollector(api QStashAPI, opts ...QStashOption) (*QStashCollector, error) {
	if api == nil {
		return nil, errors.New("correlate: QStash client is missing")
	}
	q := &QStashCollector{api: api, clock: clock.Real, log: slog.New(slog.DiscardHandler), eventPages: 10, dlqPages: 20}
	for _, o := range opts {
		o.applyQStash(q)
	}
	return q, nil
}

// Collect reads queues, the DLQ and, after the first poll, the events of
// the interval since the previous poll.
func (q *QStashCollector) Collect(ctx context.Context) ([]Sample, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()

	queues, err := q.api.ListQueues()
	if err != nil {
		return nil, fmt.Errorf("correlate: qstash list queues: %w", err)
	}
	var out []Sample
	for _, qu := range queues {
		out = append(out,
			Sample{Series: fmt.Sprintf("%s{queue=%s}", SignalQStashQueueLag, qu.Name), Time: now, Value: float64(qu.Lag)},
			Sample{Series: fmt.Sprintf("%s{queue=%s}", SignalQStashParallel, qu.Name), Time: now, Value: float64(qu.Parallelism)})
	}

	dlq, err := q.dlqSize(ctx)
	if err != nil {
		return out, err
	}
	out = append(out, Sample{Series: SignalQStashDLQ, Time: now, Value: float64(dlq)})

	if !q.last.IsZero() && now.After(q.last) {
		rates, err := q.eventRates(ctx, q.last, now)
		if err != nil {
			return out, err
		}
		out = append(out, rates...)
	}
	q.last = now
	return out, nil
}

func (q *QStashCollector) dlqSize(ctx context.Context) (int, error) {
	size, cursor := 0, ""
	for page := range q.dlqPages {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		msgs, next, err := q.api.ListDLQ(qstash.ListDlqOptions{Cursor: cursor, Count: 100})
		if err != nil {
			return 0, fmt.Errorf("correlate: qstash list DLQ page %d: %w", page+1, err)
		}
		size += len(msgs)
		if next == "" {
			return size, nil
		}
		cursor = next
	}
	q.log.Warn("correlate: qstash DLQ larger than the page limit; its size is a lower bound", "size", size)
	return size, nil
}

// eventRates counts the events of [from, to) and returns the publish rate
// and, when any delivery ended, the delivery success ratio.
func (q *QStashCollector) eventRates(ctx context.Context, from, to time.Time) ([]Sample, error) {
	var created, delivered, failed int
	oldest := to
	cursor := ""
	complete := false
	for page := range q.eventPages {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		events, next, err := q.api.ListEvents(qstash.ListEventsOptions{Cursor: cursor, Count: 1000,
			Filter: qstash.EventFilter{FromDate: from, ToDate: to.Add(-time.Millisecond)}})
		if err != nil {
			return nil, fmt.Errorf("correlate: qstash list events page %d: %w", page+1, err)
		}
		for _, e := range events {
			switch e.State {
			case qstash.Created:
				created++
			case qstash.Delivered:
				delivered++
			case qstash.Error, qstash.Failed:
				failed++
			}
			oldest = minTime(oldest, time.UnixMilli(e.Time))
		}
		if next == "" {
			complete = true
			break
		}
		cursor = next
	}

	span := to.Sub(from)
	if !complete {
		q.log.Warn("correlate: qstash events exceed the page limit; rates cover the newest events only", "since", oldest)
		span = to.Sub(oldest)
	}
	if span <= 0 {
		return nil, nil
	}
	out := []Sample{{Series: SignalQStashPublish, Time: to, Value: float64(created) / span.Seconds()}}
	if delivered+failed > 0 {
		out = append(out, Sample{Series: SignalQStashDelivered, Time: to, Value: float64(delivered) / float64(delivered+failed)})
	}
	return out, nil
}

// Name returns "qstash", the collector's name in Monitor logs and errors.
func (*QStashCollector) Name() string { return "qstash" }
