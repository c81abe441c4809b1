package qstash

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Page sizes the client requests. qstash-go v1.0.0 documents 100 as the
// default and maximum DLQ page.
// NOTE: 1000 as the maximum events page is an assumption of this client; a
// server that returns fewer events per page only costs more requests.
const (
	DefaultEventPageSize = 1000
	DefaultDLQPageSize   = 100
)

// maxPages bounds every paging loop, so that a server that keeps returning
// a cursor cannot keep a caller busy forever.
const maxPages = 10_000

// ListSchedules returns every schedule. The API returns them in one
// response, without paging.
func (c *Client) ListSchedules(ctx context.Context) ([]Schedule, error) {
	var out []Schedule
	if err := c.do(ctx, http.MethodGet, "/v2/schedules", nil, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// GetSchedule returns one schedule. A missing schedule is an *APIError that
// matches ErrNotFound.
func (c *Client) GetSchedule(ctx context.Context, id string) (Schedule, error) {
	var out Schedule
	err := c.do(ctx, http.MethodGet, "/v2/schedules/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// EventFilter selects events. Zero fields do not filter.
type EventFilter struct {
	ScheduleID string
	MessageID  string
	State      string
	URL        string
	QueueName  string
	From, To   time.Time
}

func (f EventFilter) query() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("scheduleId", f.ScheduleID)
	set("messageId", f.MessageID)
	set("state", f.State)
	set("url", f.URL)
	set("queueName", f.QueueName)
	if !f.From.IsZero() {
		q.Set("fromDate", strconv.FormatInt(f.From.UnixMilli(), 10))
	}
	if !f.To.IsZero() {
		q.Set("toDate", strconv.FormatInt(f.To.UnixMilli(), 10))
	}
	return q
}

// ListEvents returns one page of events, newest first, and the cursor of
// the next page, which is empty on the last page. count <= 0 requests
// DefaultEventPageSize.
func (c *Client) ListEvents(ctx context.Context, f EventFilter, cursor string, count int) ([]Event, string, error) {
	q := f.query()
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if count <= 0 {
		count = DefaultEventPageSize
	}
	q.Set("count", strconv.Itoa(count))
	var page struct {
		Cursor string  `json:"cursor"`
		Events []Event `json:"events"`
	}
	// encoding/json appends into the existing capacity, which saves the
	// repeated growth of a slice of large structs.
	page.Events = make([]Event, 0, min(count, 256))
	if err := c.do(ctx, http.MethodGet, "/v2/events", q, nil, &page); err != nil {
		return nil, "", err
	}
	return page.Events, page.Cursor, nil
}

// EachEvent calls fn for every event that matches f, newest first, following
// cursors until the last page or until fn returns false. It reads pages of
// pageSize events (DefaultEventPageSize when <= 0) and stops with an error
// after 10,000 pages.
func (c *Client) EachEvent(ctx context.Context, f EventFilter, pageSize int, fn func(Event) bool) error {
	return eachPage("/v2/events", func(cursor string) ([]Event, string, error) {
		return c.ListEvents(ctx, f, cursor, pageSize)
	}, fn)
}

// eachPage calls fn for every item of the pages that list returns, following
// cursors until the last page or until fn returns false. It fails when a
// cursor comes back or after maxPages pages.
func eachPage[T any](path string, list func(cursor string) ([]T, string, error), fn func(T) bool) error {
	var cursors Cursors
	cursor := ""
	for {
		items, next, err := list(cursor)
		if err != nil {
			return err
		}
		for _, item := range items {
			if !fn(item) {
				return nil
			}
		}
		more, err := cursors.Follow(path, next)
		if !more {
			return err
		}
		cursor = next
	}
}

// Cursors follows the cursors of one paging loop and ends it when the
// server repeats itself. A server that sends a cursor it sent before, even
// after other pages, would otherwise be asked for the same pages forever.
// It remembers at most maxPages cursors. The zero value is ready to use.
type Cursors struct {
	seen map[string]struct{}
}

// Follow records the cursor of the next page of path and reports whether to
// request that page. It returns false and nil for an empty cursor, which ends
// the listing, and false and an error for a cursor already followed or for
// more than 10,000 pages.
func (c *Cursors) Follow(path, next string) (bool, error) {
	if next == "" {
		return false, nil
	}
	if _, dup := c.seen[next]; dup {
		return false, &RequestError{Method: http.MethodGet, Path: path, Err: fmt.Errorf("%w: cursor %q came back after %d pages", ErrCursorRepeated, excerpt([]byte(next), 40), len(c.seen)+1)}
	}
	if len(c.seen)+1 >= maxPages {
		return false, &RequestError{Method: http.MethodGet, Path: path, Err: errTooManyPages}
	}
	if c.seen == nil {
		c.seen = make(map[string]struct{})
	}
	c.seen[next] = struct{}{}
	return true, nil
}

// DLQFilter selects DLQ entries. Zero fields do not filter.
type DLQFilter struct {
	ScheduleID string
	URL        string
	From, To   time.Time
}

// ListDLQ returns one page of DLQ entries and the cursor of the next page,
// which is empty on the last page. count <= 0 requests DefaultDLQPageSize.
func (c *Client) ListDLQ(ctx context.Context, f DLQFilter, cursor string, count int) ([]DLQMessage, string, error) {
	q := EventFilter{ScheduleID: f.ScheduleID, URL: f.URL, From: f.From, To: f.To}.query()
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if count <= 0 {
		count = DefaultDLQPageSize
	}
	q.Set("count", strconv.Itoa(count))
	var page struct {
		Cursor   string       `json:"cursor"`
		Messages []DLQMessage `json:"messages"`
	}
	if err := c.do(ctx, http.MethodGet, "/v2/dlq", q, nil, &page); err != nil {
		return nil, "", err
	}
	return page.Messages, page.Cursor, nil
}

// EachDLQ calls fn for every DLQ entry that matches f, following cursors
// until the last page or until fn returns false.
func (c *Client) EachDLQ(ctx context.Context, f DLQFilter, fn func(DLQMessage) bool) error {
	return eachPage("/v2/dlq", func(cursor string) ([]DLQMessage, string, error) {
		return c.ListDLQ(ctx, f, cursor, 0)
	}, fn)
}
