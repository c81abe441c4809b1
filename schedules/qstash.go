package schedules

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/qstash"
)

// DefaultQStashURL is the QStash API base URL.
const DefaultQStashURL = qstash.DefaultURL

// inFlightLookback is how far back CancelInFlight looks for messages of a
// schedule that have not finished. QStash's default back-off waits
// min(86400, e^(2.5n)) seconds before retry n (upstash.com/docs/qstash/
// features/retry), so a message with 6 retries finishes within about 55
// hours. Messages with custom retry delays or more retries can stay in
// flight longer than this window.
const inFlightLookback = 72 * time.Hour

// QStash is a Source, Controller and InFlightCanceler over the QStash v2
// API. It reads through its own HTTP client and writes through
// github.com/upstash/qstash-go v1.0.0, with every call bound to the caller's
// context and a timeout. It is safe for concurrent use.
type QStash struct {
	client   *qstash.Client
	clock    clock.Clock
	pageSize int
}

var (
	_ Source           = (*QStash)(nil)
	_ Controller       = (*QStash)(nil)
	_ InFlightCanceler = (*QStash)(nil)
)

type qstashConfig struct {
	httpClient *http.Client
	timeout    time.Duration
	clock      clock.Clock
	pageSize   int
}

// DefaultEventPageSize is the default size of the first page of events
// requested per schedule. The auditor usually needs only the latest dozen
// triggers, a few events each, so a small first page saves transfer. Later
// pages request 1000 events to save requests.
const DefaultEventPageSize = 100

// laterEventPageSize is the page size after the first page.
const laterEventPageSize = 1000

// QStashOption configures NewQStash.
type QStashOption interface{ applyQStash(*qstashConfig) }

type qstashOptionFunc func(*qstashConfig)

func (f qstashOptionFunc) applyQStash(c *qstashConfig) { f(c) }

// WithHTTPClient sets the HTTP client whose transport sends requests. The
// default is http.DefaultTransport.
func WithHTTPClient(hc *http.Client) QStashOption {
	return qstashOptionFunc(func(c *qstashConfig) { c.httpClient = hc })
}

// WithRequestTimeout bounds each API call, including waits for a rate limit
// to reset. The default is 15 seconds.
func WithRequestTimeout(d time.Duration) QStashOption {
	return qstashOptionFunc(func(c *qstashConfig) { c.timeout = d })
}

// WithQStashClock sets the clock for rate-limit waits. The default is the
// system clock.
func WithQStashClock(c clock.Clock) QStashOption {
	return qstashOptionFunc(func(cfg *qstashConfig) { cfg.clock = c })
}

// WithEventPageSize sets how many events to request in the first page of a
// schedule's events, at most 1000. The default is DefaultEventPageSize.
func WithEventPageSize(n int) QStashOption {
	return qstashOptionFunc(func(c *qstashConfig) { c.pageSize = n })
}

// NewQStash returns a QStash for the API at baseURL (DefaultQStashURL when
// empty) with the given token. It returns an error, never a panic, for an
// empty token, and it ignores the QSTASH_URL environment variable: the URL
// passed here is the only one it contacts.
func NewQStash(baseURL, token string, opts ...QStashOption) (*QStash, error) {
	var cfg qstashConfig
	for _, o := range opts {
		o.applyQStash(&cfg)
	}
	var clientOpts []qstash.Option
	if cfg.httpClient != nil {
		clientOpts = append(clientOpts, qstash.WithHTTPClient(cfg.httpClient))
	}
	if cfg.timeout > 0 {
		clientOpts = append(clientOpts, qstash.WithTimeout(cfg.timeout))
	}
	if cfg.clock != nil {
		clientOpts = append(clientOpts, qstash.WithClock(cfg.clock))
	}
	c, err := qstash.New(baseURL, token, clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("schedules: %w", err)
	}
	if cfg.pageSize <= 0 {
		cfg.pageSize = DefaultEventPageSize
	}
	return &QStash{client: c, clock: clock.Or(cfg.clock), pageSize: min(cfg.pageSize, 1000)}, nil
}

// ListSchedules returns every schedule.
func (q *QStash) ListSchedules(ctx context.Context) ([]Schedule, error) {
	list, err := q.client.ListSchedules(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Schedule, len(list))
	for i, s := range list {
		out[i] = fromAPISchedule(s)
	}
	return out, nil
}

func fromAPISchedule(s qstash.Schedule) Schedule {
	return Schedule{
		ID: s.ID, CreatedAt: s.CreatedAt, Cron: s.Cron, Destination: s.Destination, Method: s.Method,
		Header: s.Header, Body: s.Body, Retries: s.Retries, Paused: s.Paused, LastScheduleTime: s.LastScheduleTime,
	}
}

// EachEvent pages through GET /v2/events?scheduleId=... newest first.
func (q *QStash) EachEvent(ctx context.Context, scheduleID string, since time.Time, fn func(Event) bool) error {
	f := qstash.EventFilter{ScheduleID: scheduleID, From: since}
	var cursors qstash.Cursors
	cursor, size := "", q.pageSize
	for {
		events, next, err := q.client.ListEvents(ctx, f, cursor, size)
		if err != nil {
			return err
		}
		for _, e := range events {
			keepGoing := fn(Event{
				Time: e.Time, MessageID: e.MessageID, ScheduleID: e.ScheduleID, State: e.State, Error: e.Error,
				ResponseStatus: e.ResponseStatus, ResponseHeader: e.ResponseHeaders, ResponseBody: e.ResponseBody,
			})
			if !keepGoing {
				return nil
			}
		}
		more, err := cursors.Follow("/v2/events", next)
		if !more {
			return err
		}
		cursor, size = next, laterEventPageSize
	}
}

// EachDeadLetter pages through GET /v2/dlq.
func (q *QStash) EachDeadLetter(ctx context.Context, since time.Time, fn func(DeadLetter) bool) error {
	return q.client.EachDLQ(ctx, qstash.DLQFilter{From: since}, func(m qstash.DLQMessage) bool {
		return fn(DeadLetter{
			ID: m.DLQID, MessageID: m.MessageID, ScheduleID: m.ScheduleID, CreatedAt: m.CreatedAt,
			ResponseStatus: m.ResponseStatus, ResponseBody: m.ResponseBody,
		})
	})
}

// Schedule returns one schedule.
func (q *QStash) Schedule(ctx context.Context, id string) (Schedule, error) {
	s, err := q.client.GetSchedule(ctx, id)
	if err != nil {
		return Schedule{}, notFound(err, id)
	}
	return fromAPISchedule(s), nil
}

// Pause pauses a schedule.
func (q *QStash) Pause(ctx context.Context, id string) error {
	return notFound(q.client.PauseSchedule(ctx, id), id)
}

// Resume resumes a schedule.
func (q *QStash) Resume(ctx context.Context, id string) error {
	return notFound(q.client.ResumeSchedule(ctx, id), id)
}

// Delete deletes a schedule.
func (q *QStash) Delete(ctx context.Context, id string) error {
	return notFound(q.client.DeleteSchedule(ctx, id), id)
}

// CancelInFlight cancels the messages of a schedule from the last 72 hours whose
// latest event is not DELIVERED, FAILED or CANCELED. It finds them in the
// events API and cancels them by id, never with a filter, because the bulk
// cancel endpoint cancels every message when it gets none.
func (q *QStash) CancelInFlight(ctx context.Context, scheduleID string) (int, error) {
	latest := map[string]string{} // message id -> newest state
	since := q.clock.Now().Add(-inFlightLookback)
	err := q.client.EachEvent(ctx, qstash.EventFilter{ScheduleID: scheduleID, From: since}, 0, func(e qstash.Event) bool {
		if _, seen := latest[e.MessageID]; !seen {
			latest[e.MessageID] = e.State
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	var ids []string
	for id, state := range latest {
		switch state {
		case qstash.StateDelivered, qstash.StateFailed, qstash.StateCanceled:
		default:
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return q.client.CancelMessages(ctx, ids)
}

// notFound wraps ErrScheduleNotFound into a 404 error.
func notFound(err error, id string) error {
	if err != nil && errors.Is(err, qstash.ErrNotFound) {
		return fmt.Errorf("schedule %q: %w: %w", id, ErrScheduleNotFound, err)
	}
	return err
}
