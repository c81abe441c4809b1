package qstashemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrNotFound is returned by scripting methods given an unknown schedule or
// message id.
var ErrNotFound = errors.New("qstashemu: not found")

// ErrFinished is returned by Deliver for a message that was already
// delivered, failed or canceled.
var ErrFinished = errors.New("qstashemu: message already finished")

// Attempt is the scripted outcome of one delivery attempt.
type Attempt struct {
	// After is the wait since the previous attempt, or since the trigger for
	// the first attempt. Zero means QStash's default: no wait before the
	// first attempt, and exponential back-off between retries.
	After time.Duration
	// Status is the destination's HTTP status, or 0 when the attempt got no
	// HTTP response (see Error).
	Status int
	Header http.Header
	Body   string
	// Error is the transport error, such as "dial tcp: lookup
	// preview.example.com: no such host". When empty and Status is not 2xx,
	// the event's error becomes the status line.
	Error string
}

// succeeded reports whether the attempt counts as a delivery.
func (a Attempt) succeeded() bool {
	return a.Error == "" && a.Status >= 200 && a.Status < 300
}

// OK returns an attempt to which the destination responded 200.
func OK() Attempt { return Attempt{Status: http.StatusOK, Body: "ok"} }

// Fail returns an attempt to which the destination responded with status
// and body.
func Fail(status int, body string) Attempt { return Attempt{Status: status, Body: body} }

// TransportError returns an attempt that failed without an HTTP response.
func TransportError(msg string) Attempt { return Attempt{Error: msg} }

type messageState struct {
	meta                   *eventMessage // shared by the message's events
	id, scheduleID, queue  string
	url, method            string
	header                 http.Header
	body                   []byte
	maxRetries             int
	createdAt, lastAttempt time.Time
	callerIP               string
	attempts               int
	state                  string
	final                  bool
}

// Trigger records that a schedule fired at the given time and that its
// message's delivery attempts ended as scripted. A success ends delivery.
// When the first try and every retry failed, the message ends FAILED and
// lands in the DLQ. With fewer failed attempts it stays in flight (state
// RETRY), so a test can still cancel it or finish it with Deliver. Trigger
// returns the new message id.
func (s *Server) Trigger(scheduleID string, at time.Time, attempts ...Attempt) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.schedules[scheduleID]
	if !ok {
		return "", fmt.Errorf("trigger schedule %q: %w", scheduleID, ErrNotFound)
	}
	m := &messageState{
		id:          s.nextIDLocked("msg"),
		scheduleID:  scheduleID,
		url:         sc.Destination,
		method:      sc.Method,
		header:      sc.Header,
		body:        sc.Body,
		maxRetries:  sc.Retries,
		createdAt:   at,
		lastAttempt: at.Add(sc.Delay),
		callerIP:    sc.CallerIP,
	}
	s.messages[m.id] = m
	m.state = StateCreated
	s.addMessageEventLocked(m, at, StateCreated, Attempt{}, time.Time{})
	s.deliverLocked(m, attempts)

	if sc.LastScheduleTime.IsZero() || !at.Before(sc.LastScheduleTime) {
		sc.LastScheduleTime = at
		sc.LastScheduleStates = map[string]string{m.id: m.state}
	}
	return m.id, nil
}

// Deliver continues the delivery of an in-flight message with more
// attempts, as Trigger describes.
func (s *Server) Deliver(messageID string, attempts ...Attempt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[messageID]
	if !ok {
		return fmt.Errorf("deliver message %q: %w", messageID, ErrNotFound)
	}
	if m.final {
		return fmt.Errorf("deliver message %q in state %s: %w", messageID, m.state, ErrFinished)
	}
	s.deliverLocked(m, attempts)
	if sc, ok := s.schedules[m.scheduleID]; ok {
		if _, last := sc.LastScheduleStates[m.id]; last {
			sc.LastScheduleStates[m.id] = m.state
		}
	}
	return nil
}

// retryBackoff is QStash's default wait before retry n (1-based):
// min(86400, e^(2.5n)) seconds, as upstash.com/docs/qstash/features/retry
// documents it.
func retryBackoff(n int) time.Duration {
	seconds := math.Min(86400, math.Exp(2.5*float64(n)))
	return time.Duration(seconds * float64(time.Second))
}

func (s *Server) deliverLocked(m *messageState, attempts []Attempt) {
	for _, a := range attempts {
		if m.final {
			return
		}
		wait := a.After
		if wait == 0 && m.attempts > 0 {
			wait = retryBackoff(m.attempts)
		}
		at := m.lastAttempt.Add(wait)
		m.lastAttempt = at
		m.attempts++
		m.state = StateActive
		s.addMessageEventLocked(m, at, StateActive, Attempt{}, time.Time{})

		switch {
		case a.succeeded():
			m.state, m.final = StateDelivered, true
			s.addMessageEventLocked(m, at, StateDelivered, a, time.Time{})
		case m.attempts > m.maxRetries:
			m.state, m.final = StateFailed, true
			s.addMessageEventLocked(m, at, StateFailed, a, time.Time{})
			s.addDLQLocked(m, a, at)
		default:
			next := at.Add(retryBackoff(m.attempts))
			s.addMessageEventLocked(m, at, StateError, a, next)
			m.state = StateRetry
			s.addMessageEventLocked(m, at, StateRetry, Attempt{}, next)
		}
	}
}

func (s *Server) addMessageEventLocked(m *messageState, at time.Time, state string, a Attempt, next time.Time) {
	if m.meta == nil {
		m.meta = &eventMessage{
			id: m.id, url: m.url, queue: m.queue, scheduleID: m.scheduleID, method: m.method,
			maxRetries: m.maxRetries, header: m.header, body: m.body,
		}
	}
	e := storedEvent{timeMs: at.UnixMilli(), msg: m.meta, state: state}
	if !next.IsZero() {
		e.nextMs = next.UnixMilli()
	}
	if state == StateError || state == StateFailed || state == StateDelivered {
		e.status = a.Status
		e.respHeader = a.Header
		e.respBody = a.Body
		e.errText = a.Error
		if e.errText == "" && !a.succeeded() {
			e.errText = fmt.Sprintf("%d %s", a.Status, http.StatusText(a.Status))
		}
	}
	s.events.add(e)
}

// messageJSON is the wire form of a message in the v2 API.
type messageJSON struct {
	MessageID  string              `json:"messageId"`
	URL        string              `json:"url,omitempty"`
	Method     string              `json:"method"`
	Header     map[string][]string `json:"header"`
	Body       string              `json:"body,omitempty"`
	BodyBase64 string              `json:"bodyBase64,omitempty"`
	MaxRetries int                 `json:"maxRetries"`
	NotBefore  int64               `json:"notBefore"`
	CreatedAt  int64               `json:"createdAt"`
	ScheduleID string              `json:"scheduleId,omitempty"`
	CallerIP   string              `json:"callerIP,omitempty"`
	QueueName  string              `json:"queueName,omitempty"`
}

func (m *messageState) toJSON() messageJSON {
	out := messageJSON{
		MessageID:  m.id,
		URL:        m.url,
		Method:     m.method,
		Header:     m.header,
		MaxRetries: m.maxRetries,
		NotBefore:  m.createdAt.UnixMilli(),
		CreatedAt:  m.createdAt.UnixMilli(),
		ScheduleID: m.scheduleID,
		CallerIP:   m.callerIP,
		QueueName:  m.queue,
	}
	out.Body, out.BodyBase64 = splitBody(m.body)
	return out
}

// publish serves POST /v2/publish/{destination} and, with a queue name,
// POST /v2/enqueue/{queue}/{destination}.
func (s *Server) publish(w http.ResponseWriter, r *http.Request, queue, rawDestination string) {
	destination, err := url.PathUnescape(rawDestination)
	if err == nil && r.URL.RawQuery != "" {
		destination += "?" + r.URL.RawQuery
	}
	if err != nil || !strings.HasPrefix(destination, "http") {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid destination %q: the emulator accepts only URLs", rawDestination))
		return
	}
	if u, err := url.Parse(destination); err != nil || u.Host == "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid destination url %q", destination))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "failed to read the request body")
		return
	}
	method := r.Header.Get("Upstash-Method")
	if method == "" {
		method = http.MethodPost
	}
	retries := defaultRetries
	if v := r.Header.Get("Upstash-Retries"); v != "" {
		if _, err := fmt.Sscan(v, &retries); err != nil || retries < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid Upstash-Retries %q", v))
			return
		}
	}

	now := s.clock.Now()
	s.mu.Lock()
	m := &messageState{
		id:          s.nextIDLocked("msg"),
		queue:       queue,
		url:         destination,
		method:      method,
		header:      forwardedHeaders(r.Header),
		body:        body,
		maxRetries:  retries,
		createdAt:   now,
		lastAttempt: now,
		callerIP:    callerIP(r),
	}
	s.messages[m.id] = m
	m.state = StateCreated
	s.addMessageEventLocked(m, now, StateCreated, Attempt{}, time.Time{})
	if queue != "" {
		s.ensureQueueLocked(queue, now)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]string{"messageId": m.id})
}

func (s *Server) getMessage(w http.ResponseWriter, id string) {
	s.mu.Lock()
	m, ok := s.messages[id]
	var out messageJSON
	if ok && !m.final {
		out = m.toJSON()
	}
	s.mu.Unlock()
	if !ok || m.final {
		writeError(w, http.StatusNotFound, fmt.Sprintf("message %q not found", id))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) cancelMessage(w http.ResponseWriter, id string) {
	now := s.clock.Now()
	s.mu.Lock()
	ok := s.cancelLocked(id, now)
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("message %q not found", id))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// cancelLocked cancels an in-flight message and reports whether there was
// one to cancel.
func (s *Server) cancelLocked(id string, now time.Time) bool {
	m, ok := s.messages[id]
	if !ok || m.final {
		return false
	}
	s.addMessageEventLocked(m, now, StateCancelRequested, Attempt{}, time.Time{})
	m.state, m.final = StateCanceled, true
	s.addMessageEventLocked(m, now, StateCanceled, Attempt{}, time.Time{})
	if sc, ok := s.schedules[m.scheduleID]; ok {
		if _, last := sc.LastScheduleStates[id]; last {
			sc.LastScheduleStates[id] = m.state
		}
	}
	return true
}

// cancelMessages serves DELETE /v2/messages: the ids in a JSON body
// {"messageIds": [...]} or in messageIds query parameters, or else every
// in-flight message that matches the queueName, url and topicName filters.
func (s *Server) cancelMessages(w http.ResponseWriter, r *http.Request) {
	var req struct {
		MessageIDs []string `json:"messageIds"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
			return
		}
	}
	q := r.URL.Query()
	for _, v := range q["messageIds"] {
		req.MessageIDs = append(req.MessageIDs, strings.Split(v, ",")...)
	}

	now := s.clock.Now()
	s.mu.Lock()
	cancelled := 0
	if len(req.MessageIDs) > 0 {
		for _, id := range req.MessageIDs {
			if s.cancelLocked(id, now) {
				cancelled++
			}
		}
	} else {
		for _, id := range sortedKeys(s.messages) {
			m := s.messages[id]
			if (q.Get("queueName") != "" && m.queue != q.Get("queueName")) ||
				(q.Get("url") != "" && m.url != q.Get("url")) || q.Get("topicName") != "" {
				continue
			}
			if s.cancelLocked(id, now) {
				cancelled++
			}
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]int{"cancelled": cancelled})
}

// InFlight returns the ids of the messages of a schedule that are neither
// delivered, failed nor canceled, in ascending id order.
func (s *Server) InFlight(scheduleID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, id := range sortedKeys(s.messages) {
		if m := s.messages[id]; !m.final && m.scheduleID == scheduleID {
			ids = append(ids, id)
		}
	}
	return ids
}
