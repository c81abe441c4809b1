package heal

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/upstash-ops/sdk/internal/qstash"
)

// QStashFailures is a Source of failed QStash deliveries. It reads the
// error and failure events of GET /v2/events, newest first, then the DLQ
// messages that no event it read covered. Each Fetch reads at most
// WithMaxPages pages of each API, starting at the time of the newest event
// the previous Fetch saw. It remembers the last 8192 events and message ids
// it returned, to return each failure once. It is safe for concurrent use.
type QStashFailures struct {
	client   *qstash.Client
	maxPages int

	mu       sync.Mutex
	since    time.Time
	seen     seenSet // event keys
	messages seenSet // message ids already returned
}

// NewQStashFailures returns a source for the QStash API at baseURL (use
// DefaultQStashURL in production) with the QStash token. Of the options,
// WithHTTPClient and WithMaxPages apply.
func NewQStashFailures(baseURL, token string, opts ...SourceOption) (*QStashFailures, error) {
	cfg := &WorkflowLogs{client: http.DefaultClient, maxPages: DefaultMaxPages}
	for _, o := range opts {
		o.applySource(cfg)
	}
	client, err := qstash.New(baseURL, token, qstash.WithHTTPClient(cfg.client))
	if err != nil {
		return nil, fmt.Errorf("heal: QStash failures source: %w", err)
	}
	return &QStashFailures{
		client: client, maxPages: cfg.maxPages,
		seen: newSeenSet(maxSeenEvents), messages: newSeenSet(maxSeenEvents),
	}, nil
}

// Fetch returns the failed deliveries it has not returned before, oldest
// first.
func (q *QStashFailures) Fetch(ctx context.Context) ([]Event, error) {
	q.mu.Lock()
	since := q.since
	q.mu.Unlock()

	var deliveries []Delivery
	newest := since
	err := q.pages(func(cursor string) (string, error) {
		events, next, err := q.client.ListEvents(ctx, qstash.EventFilter{From: since}, cursor, 0)
		for _, e := range events {
			if e.Time.After(newest) {
				newest = e.Time
			}
			if !failedEventState(e.State) {
				continue
			}
			deliveries = append(deliveries, Delivery{
				MessageID: e.MessageID, ScheduleID: e.ScheduleID, QueueName: e.QueueName, URL: e.URL,
				State: e.State, ResponseStatus: e.ResponseStatus, ResponseHeader: e.ResponseHeaders,
				ResponseBody: string(e.ResponseBody), Error: e.Error, Time: e.Time,
			})
		}
		return next, err
	})
	if err != nil {
		return nil, fmt.Errorf("heal: list QStash events: %w", err)
	}
	err = q.pages(func(cursor string) (string, error) {
		messages, next, err := q.client.ListDLQ(ctx, qstash.DLQFilter{From: since}, cursor, 0)
		for _, m := range messages {
			deliveries = append(deliveries, Delivery{
				MessageID: m.MessageID, DLQID: m.DLQID, ScheduleID: m.ScheduleID, QueueName: m.QueueName,
				URL: m.URL, State: "FAILED", ResponseStatus: m.ResponseStatus, ResponseHeader: m.ResponseHeader,
				ResponseBody: string(m.ResponseBody), Time: m.CreatedAt,
			})
		}
		return next, err
	})
	if err != nil {
		return nil, fmt.Errorf("heal: list QStash DLQ: %w", err)
	}

	q.mu.Lock()
	defer q.mu.Unlock()
	if newest.After(q.since) {
		q.since = newest
	}
	var fresh []Event
	for _, d := range deliveries {
		if d.DLQID != "" && q.messages.keys[d.MessageID] {
			continue // an event of this message was returned already
		}
		ev := DeliveryEvent(d)
		if !q.seen.add(eventKey(ev) + "\x00" + d.State + "\x00" + d.DLQID) {
			continue
		}
		q.messages.add(d.MessageID)
		fresh = append(fresh, ev)
	}
	slices.SortStableFunc(fresh, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return fresh, nil
}

// pages calls list with cursors until the last page or maxPages pages.
func (q *QStashFailures) pages(list func(cursor string) (string, error)) error {
	cursor := ""
	for range q.maxPages {
		next, err := list(cursor)
		if err != nil {
			return err
		}
		if next == "" || next == cursor {
			return nil
		}
		cursor = next
	}
	return nil
}
