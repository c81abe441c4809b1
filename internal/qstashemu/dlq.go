package qstashemu

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Default and maximum page sizes of GET /v2/dlq.
const (
	defaultDLQCount = 100
	maxDLQCount     = 100
)

// DLQEntry is a message in the dead letter queue.
type DLQEntry struct {
	DLQID      string
	MessageID  string
	ScheduleID string
	QueueName  string
	URL        string
	Method     string
	Header     http.Header
	Body       []byte
	MaxRetries int
	CreatedAt  time.Time
	CallerIP   string
	// ResponseStatus, ResponseHeader and ResponseBody are the destination's
	// response to the last attempt.
	ResponseStatus int
	ResponseHeader http.Header
	ResponseBody   []byte

	seq int64
}

type dlqJSON struct {
	messageJSON
	DLQID              string              `json:"dlqId"`
	ResponseStatus     int                 `json:"responseStatus,omitempty"`
	ResponseHeader     map[string][]string `json:"responseHeader,omitempty"`
	ResponseBody       string              `json:"responseBody,omitempty"`
	ResponseBodyBase64 string              `json:"responseBodyBase64,omitempty"`
}

func (d *DLQEntry) toJSON() dlqJSON {
	m := messageState{
		id: d.MessageID, scheduleID: d.ScheduleID, queue: d.QueueName, url: d.URL, method: d.Method,
		header: d.Header, body: d.Body, maxRetries: d.MaxRetries, createdAt: d.CreatedAt, callerIP: d.CallerIP,
	}
	out := dlqJSON{
		messageJSON:    m.toJSON(),
		DLQID:          d.DLQID,
		ResponseStatus: d.ResponseStatus,
		ResponseHeader: d.ResponseHeader,
	}
	out.ResponseBody, out.ResponseBodyBase64 = splitBody(d.ResponseBody)
	return out
}

// AddDLQ stores a DLQ entry as given; an empty DLQID gets a generated one,
// which AddDLQ returns. Trigger adds entries for messages that fail.
func (s *Server) AddDLQ(d DLQEntry) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storeDLQLocked(d)
}

func (s *Server) storeDLQLocked(d DLQEntry) string {
	if d.DLQID == "" {
		d.DLQID = s.nextIDLocked("dlq")
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = s.clock.Now()
	}
	s.idSeq++
	d.seq = s.idSeq
	s.dlq[d.DLQID] = &d
	s.dlqIDs = append(s.dlqIDs, d.DLQID)
	return d.DLQID
}

func (s *Server) addDLQLocked(m *messageState, a Attempt, at time.Time) {
	d := DLQEntry{
		MessageID: m.id, ScheduleID: m.scheduleID, QueueName: m.queue, URL: m.url, Method: m.method,
		Header: m.header, Body: m.body, MaxRetries: m.maxRetries, CreatedAt: at, CallerIP: m.callerIP,
		ResponseStatus: a.Status, ResponseHeader: a.Header,
	}
	if a.Body != "" {
		d.ResponseBody = []byte(a.Body)
	}
	s.storeDLQLocked(d)
}

// DLQ returns copies of the DLQ entries, newest first.
func (s *Server) DLQ() []DLQEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]DLQEntry, 0, len(s.dlqIDs))
	for i := len(s.dlqIDs) - 1; i >= 0; i-- {
		out = append(out, *s.dlq[s.dlqIDs[i]])
	}
	return out
}

// listDLQ serves GET /v2/dlq, newest first. The cursor is the sequence
// number of the last entry returned.
func (s *Server) listDLQ(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	count, err := parseCount(q, defaultDLQCount, maxDLQCount)
	var from, to time.Time
	if err == nil {
		from, err = parseMillis(q, "fromDate")
	}
	if err == nil {
		to, err = parseMillis(q, "toDate")
	}
	before := int64(-1)
	if c := q.Get("cursor"); err == nil && c != "" {
		before, err = strconv.ParseInt(c, 10, 64)
		if err != nil {
			err = fmt.Errorf("invalid cursor %q", c)
		}
	}
	status := 0
	if v := q.Get("responseStatus"); err == nil && v != "" {
		status, err = strconv.Atoi(v)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	match := func(d *DLQEntry) bool {
		switch {
		case q.Get("messageId") != "" && d.MessageID != q.Get("messageId"),
			q.Get("url") != "" && d.URL != q.Get("url"),
			q.Get("topicName") != "",
			q.Get("api") != "",
			q.Get("scheduleId") != "" && d.ScheduleID != q.Get("scheduleId"),
			q.Get("queueName") != "" && d.QueueName != q.Get("queueName"),
			q.Get("callerIp") != "" && d.CallerIP != q.Get("callerIp"),
			status != 0 && d.ResponseStatus != status,
			!from.IsZero() && d.CreatedAt.Before(from),
			!to.IsZero() && d.CreatedAt.After(to):
			return false
		}
		return true
	}

	s.mu.Lock()
	page := make([]dlqJSON, 0)
	cursor := ""
	for i := len(s.dlqIDs) - 1; i >= 0; i-- {
		d := s.dlq[s.dlqIDs[i]]
		if (before >= 0 && d.seq >= before) || !match(d) {
			continue
		}
		if len(page) == count {
			cursor = strconv.FormatInt(s.dlq[page[len(page)-1].DLQID].seq, 10)
			break
		}
		page = append(page, d.toJSON())
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		Cursor   string    `json:"cursor,omitempty"`
		Messages []dlqJSON `json:"messages"`
	}{cursor, page})
}

func (s *Server) getDLQ(w http.ResponseWriter, id string) {
	s.mu.Lock()
	d, ok := s.dlq[id]
	var out dlqJSON
	if ok {
		out = d.toJSON()
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("dlq entry %q not found", id))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteDLQLocked(id string) bool {
	if _, ok := s.dlq[id]; !ok {
		return false
	}
	delete(s.dlq, id)
	for i, v := range s.dlqIDs {
		if v == id {
			s.dlqIDs = append(s.dlqIDs[:i], s.dlqIDs[i+1:]...)
			break
		}
	}
	return true
}

func (s *Server) deleteDLQ(w http.ResponseWriter, id string) {
	s.mu.Lock()
	ok := s.deleteDLQLocked(id)
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("dlq entry %q not found", id))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// deleteDLQMany serves DELETE /v2/dlq with a JSON body {"dlqIds": [...]}.
func (s *Server) deleteDLQMany(w http.ResponseWriter, r *http.Request) {
	var req struct {
		DLQIDs []string `json:"dlqIds"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(body, &req); err != nil || len(req.DLQIDs) == 0 {
		writeError(w, http.StatusBadRequest, `invalid body: want {"dlqIds": ["..."]}`)
		return
	}
	s.mu.Lock()
	deleted := 0
	for _, id := range req.DLQIDs {
		if s.deleteDLQLocked(strings.TrimSpace(id)) {
			deleted++
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]int{"deleted": deleted})
}
