package qstashemu

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Event states as the QStash events API names them.
const (
	StateCreated         = "CREATED"
	StateActive          = "ACTIVE"
	StateRetry           = "RETRY"
	StateError           = "ERROR"
	StateDelivered       = "DELIVERED"
	StateFailed          = "FAILED"
	StateCancelRequested = "CANCEL_REQUESTED"
	StateCanceled        = "CANCELED"
)

// Default and maximum page sizes of GET /v2/events.
const (
	defaultEventCount = 1000
	maxEventCount     = 1000
)

// Event is one entry of the events (logs) API.
type Event struct {
	Time             time.Time
	MessageID        string
	State            string
	Error            string
	NextDeliveryTime time.Time
	URL              string
	TopicName        string
	EndpointName     string
	API              string
	QueueName        string
	ScheduleID       string
	Method           string
	Header           http.Header
	Body             []byte
	MaxRetries       int
	// ResponseStatus, ResponseBody and ResponseHeaders describe the
	// destination's response to a delivery attempt. ResponseStatus is 0 when
	// the attempt got no HTTP response.
	ResponseStatus  int
	ResponseBody    []byte
	ResponseHeaders http.Header
}

// eventMessage holds the fields that every event of one message shares, so
// that stored events do not repeat them.
type eventMessage struct {
	id, url, topic, endpoint, api, queue, scheduleID, method string
	maxRetries                                               int
	header                                                   http.Header
	body                                                     []byte
}

// storedEvent is the compact form in which the server keeps an event.
type storedEvent struct {
	timeMs, nextMs int64 // Unix milliseconds; nextMs is 0 when unset
	seq            int64
	msg            *eventMessage
	state          string
	errText        string
	status         int
	respHeader     http.Header
	respBody       string
}

func (e *storedEvent) toEvent() Event {
	out := Event{
		Time: time.UnixMilli(e.timeMs).UTC(), MessageID: e.msg.id, State: e.state, Error: e.errText,
		URL: e.msg.url, TopicName: e.msg.topic, EndpointName: e.msg.endpoint, API: e.msg.api,
		QueueName: e.msg.queue, ScheduleID: e.msg.scheduleID, Method: e.msg.method, MaxRetries: e.msg.maxRetries,
		ResponseStatus: e.status, ResponseHeaders: e.respHeader,
	}
	if e.nextMs != 0 {
		out.NextDeliveryTime = time.UnixMilli(e.nextMs).UTC()
	}
	if e.state == StateCreated {
		out.Header, out.Body = e.msg.header, e.msg.body
	}
	if e.respBody != "" {
		out.ResponseBody = []byte(e.respBody)
	}
	return out
}

func storedFromEvent(e Event) storedEvent {
	se := storedEvent{
		timeMs: e.Time.UnixMilli(), state: e.State, errText: e.Error, status: e.ResponseStatus,
		respHeader: e.ResponseHeaders, respBody: string(e.ResponseBody),
		msg: &eventMessage{
			id: e.MessageID, url: e.URL, topic: e.TopicName, endpoint: e.EndpointName, api: e.API,
			queue: e.QueueName, scheduleID: e.ScheduleID, method: e.Method, maxRetries: e.MaxRetries,
			header: e.Header, body: e.Body,
		},
	}
	if !e.NextDeliveryTime.IsZero() {
		se.nextMs = e.NextDeliveryTime.UnixMilli()
	}
	return se
}

// eventJSON is the wire form of an event. Bodies are base64, as in the
// events API.
type eventJSON struct {
	Time             int64               `json:"time"`
	MessageID        string              `json:"messageId"`
	State            string              `json:"state"`
	Error            string              `json:"error,omitempty"`
	NextDeliveryTime int64               `json:"nextDeliveryTime,omitempty"`
	URL              string              `json:"url"`
	TopicName        string              `json:"topicName,omitempty"`
	EndpointName     string              `json:"endpointName,omitempty"`
	API              string              `json:"api,omitempty"`
	QueueName        string              `json:"queueName,omitempty"`
	ScheduleID       string              `json:"scheduleId,omitempty"`
	Method           string              `json:"method,omitempty"`
	Header           map[string][]string `json:"header,omitempty"`
	Body             string              `json:"body,omitempty"`
	MaxRetries       int                 `json:"maxRetries,omitempty"`
	ResponseStatus   int                 `json:"responseStatus,omitempty"`
	ResponseBody     string              `json:"responseBody,omitempty"`
	ResponseHeaders  map[string][]string `json:"responseHeaders,omitempty"`
}

func (e *storedEvent) toJSON() eventJSON {
	out := eventJSON{
		Time:             e.timeMs,
		MessageID:        e.msg.id,
		State:            e.state,
		Error:            e.errText,
		NextDeliveryTime: e.nextMs,
		URL:              e.msg.url,
		TopicName:        e.msg.topic,
		EndpointName:     e.msg.endpoint,
		API:              e.msg.api,
		QueueName:        e.msg.queue,
		ScheduleID:       e.msg.scheduleID,
		Method:           e.msg.method,
		MaxRetries:       e.msg.maxRetries,
		ResponseStatus:   e.status,
		ResponseHeaders:  e.respHeader,
	}
	if e.state == StateCreated {
		out.Header = e.msg.header
		if len(e.msg.body) > 0 {
			out.Body = base64.StdEncoding.EncodeToString(e.msg.body)
		}
	}
	if e.respBody != "" {
		out.ResponseBody = base64.StdEncoding.EncodeToString([]byte(e.respBody))
	}
	return out
}

// eventStore keeps events in insertion order with an index per schedule.
// Indexes are sorted newest first lazily, on the first read after a write.
type eventStore struct {
	all        []storedEvent
	order      []int32 // indexes into all, newest first once sorted
	sorted     bool
	bySchedule map[string]*eventIndex
}

type eventIndex struct {
	order  []int32
	sorted bool
}

func newEventStore() eventStore {
	return eventStore{bySchedule: make(map[string]*eventIndex)}
}

func (st *eventStore) add(e storedEvent) {
	e.seq = int64(len(st.all))
	st.all = append(st.all, e)
	i := int32(len(st.all) - 1)
	st.order = append(st.order, i)
	st.sorted = false
	if id := e.msg.scheduleID; id != "" {
		idx := st.bySchedule[id]
		if idx == nil {
			idx = &eventIndex{}
			st.bySchedule[id] = idx
		}
		idx.order = append(idx.order, i)
		idx.sorted = false
	}
}

// newer reports whether event a sorts before event b: later time first, and
// later insertion first among equal times.
func newer(a, b *storedEvent) int {
	if a.timeMs != b.timeMs {
		if a.timeMs > b.timeMs {
			return -1
		}
		return 1
	}
	switch {
	case a.seq > b.seq:
		return -1
	case a.seq < b.seq:
		return 1
	}
	return 0
}

func (st *eventStore) sortOrder(order []int32) {
	slices.SortFunc(order, func(a, b int32) int { return newer(&st.all[a], &st.all[b]) })
}

// candidates returns the newest-first index list to scan for a filter.
func (st *eventStore) candidates(scheduleID string) []int32 {
	if scheduleID != "" {
		idx := st.bySchedule[scheduleID]
		if idx == nil {
			return nil
		}
		if !idx.sorted {
			st.sortOrder(idx.order)
			idx.sorted = true
		}
		return idx.order
	}
	if !st.sorted {
		st.sortOrder(st.order)
		st.sorted = true
	}
	return st.order
}

// AddEvent stores an event as given. Trigger and Deliver are the usual way
// to produce events; AddEvent is for histories they cannot express.
func (s *Server) AddEvent(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events.add(storedFromEvent(e))
}

// Events returns a copy of the stored events of a schedule, newest first, or
// of all events when scheduleID is empty.
func (s *Server) Events(scheduleID string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	order := s.events.candidates(scheduleID)
	out := make([]Event, len(order))
	for i, idx := range order {
		out[i] = s.events.all[idx].toEvent()
	}
	return out
}

type eventFilter struct {
	messageID, state, url, topic, scheduleID, queue, api string
	from, to                                             time.Time
}

func (f *eventFilter) match(e *storedEvent) bool {
	switch {
	case f.messageID != "" && e.msg.id != f.messageID,
		f.state != "" && !strings.EqualFold(e.state, f.state),
		f.url != "" && e.msg.url != f.url,
		f.topic != "" && e.msg.topic != f.topic,
		f.queue != "" && e.msg.queue != f.queue,
		f.api != "" && e.msg.api != f.api,
		!f.from.IsZero() && e.timeMs < f.from.UnixMilli(),
		!f.to.IsZero() && e.timeMs > f.to.UnixMilli():
		return false
	}
	return true
}

// parseMillis parses a Unix time in milliseconds from a query parameter.
func parseMillis(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid %s %q: want Unix milliseconds", name, v)
	}
	return time.UnixMilli(ms), nil
}

// parseCount parses the count parameter of a list endpoint.
func parseCount(q url.Values, def, maxCount int) (int, error) {
	v := q.Get("count")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid count %q: want a positive integer", v)
	}
	return min(n, maxCount), nil
}

// Event cursors are "<unix ms>-<sequence>" of the last event returned; the
// next page starts after that event in newest-first order.
func eventCursor(e *storedEvent) string {
	return strconv.FormatInt(e.timeMs, 10) + "-" + strconv.FormatInt(e.seq, 10)
}

func parseEventCursor(c string) (storedEvent, error) {
	msText, seqText, ok := strings.Cut(c, "-")
	ms, err1 := strconv.ParseInt(msText, 10, 64)
	seq, err2 := strconv.ParseInt(seqText, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return storedEvent{}, fmt.Errorf("invalid cursor %q", c)
	}
	return storedEvent{timeMs: ms, seq: seq}, nil
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := eventFilter{
		messageID:  q.Get("messageId"),
		state:      q.Get("state"),
		url:        q.Get("url"),
		topic:      q.Get("topicName"),
		scheduleID: q.Get("scheduleId"),
		queue:      q.Get("queueName"),
		api:        q.Get("api"),
	}
	var err error
	if f.from, err = parseMillis(q, "fromDate"); err == nil {
		f.to, err = parseMillis(q, "toDate")
	}
	count := 0
	if err == nil {
		count, err = parseCount(q, defaultEventCount, maxEventCount)
	}
	var after *storedEvent
	if err == nil && q.Get("cursor") != "" {
		var c storedEvent
		c, err = parseEventCursor(q.Get("cursor"))
		after = &c
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}

	s.mu.Lock()
	page, cursor := s.eventPageLocked(&f, after, count)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		Cursor string      `json:"cursor,omitempty"`
		Events []eventJSON `json:"events"`
	}{cursor, page})
}

func (s *Server) eventPageLocked(f *eventFilter, after *storedEvent, count int) ([]eventJSON, string) {
	order := s.events.candidates(f.scheduleID)
	start := 0
	if after != nil {
		start, _ = slices.BinarySearchFunc(order, after, func(i int32, target *storedEvent) int {
			if newer(&s.events.all[i], target) <= 0 {
				return -1
			}
			return 1
		})
	}
	page := make([]eventJSON, 0, min(count, 64))
	var last *storedEvent
	for _, i := range order[start:] {
		e := &s.events.all[i]
		if !f.from.IsZero() && e.timeMs < f.from.UnixMilli() {
			break // newest first: every later event is older still
		}
		if !f.match(e) {
			continue
		}
		if len(page) == count {
			return page, eventCursor(last)
		}
		page = append(page, e.toJSON())
		last = e
	}
	return page, ""
}
