package qstashemu

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/upstash-ops/sdk/internal/qstash/cron"
)

// defaultRetries is the retry count QStash applies when a request sets no
// Upstash-Retries header.
const defaultRetries = 3

// Schedule is a schedule as a test scripts it with AddSchedule or reads it
// back with Schedule.
type Schedule struct {
	ID          string
	CreatedAt   time.Time
	Cron        string
	Destination string
	Method      string
	Header      http.Header
	Body        []byte
	Retries     int
	Delay       time.Duration
	Timeout     time.Duration
	Callback    string
	// FailureCallback is the URL QStash calls after the last retry fails.
	FailureCallback string
	CallerIP        string
	Paused          bool
	// LastScheduleTime is when the schedule last fired; Trigger sets it.
	LastScheduleTime time.Time
	// LastScheduleStates maps the message ids of the last trigger to their
	// states; Trigger sets it.
	LastScheduleStates map[string]string
}

type scheduleState struct {
	Schedule
	parsed *cron.Schedule
}

// scheduleJSON is the wire form of a schedule in the v2 API.
type scheduleJSON struct {
	ScheduleID         string              `json:"scheduleId"`
	CreatedAt          int64               `json:"createdAt"`
	Cron               string              `json:"cron"`
	Destination        string              `json:"destination"`
	Method             string              `json:"method"`
	Header             map[string][]string `json:"header,omitempty"`
	Body               string              `json:"body,omitempty"`
	BodyBase64         string              `json:"bodyBase64,omitempty"`
	Retries            int                 `json:"retries"`
	Delay              int64               `json:"delay,omitempty"`
	Timeout            int64               `json:"timeout,omitempty"`
	Callback           string              `json:"callback,omitempty"`
	FailureCallback    string              `json:"failureCallback,omitempty"`
	LastScheduleTime   int64               `json:"lastScheduleTime,omitempty"`
	NextScheduleTime   int64               `json:"nextScheduleTime,omitempty"`
	LastScheduleStates map[string]string   `json:"lastScheduleStates,omitempty"`
	CallerIP           string              `json:"callerIP,omitempty"`
	IsPaused           bool                `json:"isPaused"`
}

// AddSchedule stores a schedule as if it had been created at sc.CreatedAt
// (the server's current time when zero). An empty ID gets a generated one,
// an empty Method becomes POST, and a zero Retries stays zero. It returns the
// schedule id, or an error when the cron expression is invalid.
func (s *Server) AddSchedule(sc Schedule) (string, error) {
	parsed, err := cron.Parse(sc.Cron)
	if err != nil {
		return "", err
	}
	if sc.Method == "" {
		sc.Method = http.MethodPost
	}
	if sc.CreatedAt.IsZero() {
		sc.CreatedAt = s.clock.Now()
	}
	sc.Header = sc.Header.Clone()
	sc.Body = append([]byte(nil), sc.Body...)

	s.mu.Lock()
	defer s.mu.Unlock()
	if sc.ID == "" {
		sc.ID = s.nextIDLocked("scd")
	}
	if old, ok := s.schedules[sc.ID]; ok {
		// QStash updates a schedule created again with the same id.
		sc.CreatedAt = old.CreatedAt
	} else {
		s.scheduleIDs = append(s.scheduleIDs, sc.ID)
	}
	s.schedules[sc.ID] = &scheduleState{Schedule: sc, parsed: parsed}
	return sc.ID, nil
}

// Schedule returns a copy of the schedule with the given id.
func (s *Server) Schedule(id string) (Schedule, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.schedules[id]
	if !ok {
		return Schedule{}, false
	}
	out := st.Schedule
	out.Header = out.Header.Clone()
	out.LastScheduleStates = cloneStates(out.LastScheduleStates)
	return out, true
}

// ScheduleIDs returns the ids of all schedules in creation order.
func (s *Server) ScheduleIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.scheduleIDs...)
}

func cloneStates(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (st *scheduleState) toJSON(now time.Time) scheduleJSON {
	out := scheduleJSON{
		ScheduleID:         st.ID,
		CreatedAt:          st.CreatedAt.UnixMilli(),
		Cron:               st.Cron,
		Destination:        st.Destination,
		Method:             st.Method,
		Header:             st.Header,
		Retries:            st.Retries,
		Delay:              int64(st.Delay / time.Second),
		Timeout:            int64(st.Timeout / time.Second),
		Callback:           st.Callback,
		FailureCallback:    st.FailureCallback,
		LastScheduleStates: st.LastScheduleStates,
		CallerIP:           st.CallerIP,
		IsPaused:           st.Paused,
	}
	out.Body, out.BodyBase64 = splitBody(st.Body)
	if !st.LastScheduleTime.IsZero() {
		out.LastScheduleTime = st.LastScheduleTime.UnixMilli()
	}
	if !st.Paused {
		if next := st.parsed.Next(now); !next.IsZero() {
			out.NextScheduleTime = next.UnixMilli()
		}
	}
	return out
}

// splitBody returns a body as QStash lists it: as text when it is valid
// UTF-8, base64-encoded otherwise.
func splitBody(b []byte) (text, b64 string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return "", base64.StdEncoding.EncodeToString(b)
}

// handleSchedules serves /v2/schedules and /v2/schedules/... rest is the
// path after "/v2/schedules", still escaped.
func (s *Server) handleSchedules(w http.ResponseWriter, r *http.Request, rest string) {
	rest = strings.TrimPrefix(rest, "/")
	if rest == "" {
		if r.Method != http.MethodGet {
			writeError(w, http.StatusMethodNotAllowed, "method not allowed on /v2/schedules")
			return
		}
		s.listSchedules(w)
		return
	}

	// An action on an existing schedule: {id}, {id}/pause, {id}/resume.
	id, action, _ := strings.Cut(rest, "/")
	if unescaped, err := url.PathUnescape(id); err == nil {
		id = unescaped
	}
	s.mu.Lock()
	_, exists := s.schedules[id]
	s.mu.Unlock()
	if exists && !strings.Contains(action, "/") {
		switch {
		case action == "" && r.Method == http.MethodGet:
			s.getSchedule(w, id)
			return
		case action == "" && r.Method == http.MethodDelete:
			s.deleteSchedule(w, id)
			return
		case (action == "pause" || action == "resume") && (r.Method == http.MethodPost || r.Method == http.MethodPatch):
			s.setPaused(w, id, action == "pause")
			return
		}
	}

	if (action == "pause" || action == "resume") && (r.Method == http.MethodPost || r.Method == http.MethodPatch) {
		// Not a destination: URLs contain "//" and URL group names no "/".
		writeError(w, http.StatusNotFound, fmt.Sprintf("schedule %q not found", id))
		return
	}
	switch r.Method {
	case http.MethodPost:
		s.createSchedule(w, r, rest)
	case http.MethodGet, http.MethodDelete, http.MethodPatch:
		writeError(w, http.StatusNotFound, fmt.Sprintf("schedule %q not found", id))
	default:
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

func (s *Server) listSchedules(w http.ResponseWriter) {
	now := s.clock.Now()
	s.mu.Lock()
	out := make([]scheduleJSON, 0, len(s.scheduleIDs))
	for _, id := range s.scheduleIDs {
		out = append(out, s.schedules[id].toJSON(now))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getSchedule(w http.ResponseWriter, id string) {
	now := s.clock.Now()
	s.mu.Lock()
	st, ok := s.schedules[id]
	var out scheduleJSON
	if ok {
		out = st.toJSON(now)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("schedule %q not found", id))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteSchedule(w http.ResponseWriter, id string) {
	s.mu.Lock()
	delete(s.schedules, id)
	for i, v := range s.scheduleIDs {
		if v == id {
			s.scheduleIDs = append(s.scheduleIDs[:i], s.scheduleIDs[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (s *Server) setPaused(w http.ResponseWriter, id string, paused bool) {
	s.mu.Lock()
	if st, ok := s.schedules[id]; ok {
		st.Paused = paused
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// createSchedule serves POST /v2/schedules/{destination}. The destination is
// a URL (kept as sent, with its "//") or a URL group name.
func (s *Server) createSchedule(w http.ResponseWriter, r *http.Request, rawDestination string) {
	destination, err := url.PathUnescape(rawDestination)
	if err != nil || destination == "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid destination %q", rawDestination))
		return
	}
	if r.URL.RawQuery != "" {
		// A destination's own query string arrives as the request's query.
		destination += "?" + r.URL.RawQuery
	}
	if strings.HasPrefix(destination, "http") {
		if u, err := url.Parse(destination); err != nil || u.Host == "" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid destination url %q", destination))
			return
		}
	}
	cronExpr := r.Header.Get("Upstash-Cron")
	if cronExpr == "" {
		writeError(w, http.StatusBadRequest, "missing Upstash-Cron header")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "failed to read the request body")
		return
	}

	sc := Schedule{
		ID:          r.Header.Get("Upstash-Schedule-Id"),
		Cron:        cronExpr,
		Destination: destination,
		Method:      r.Header.Get("Upstash-Method"),
		Header:      forwardedHeaders(r.Header),
		Body:        body,
		Retries:     defaultRetries,
		Callback:    r.Header.Get("Upstash-Callback"),
		CallerIP:    callerIP(r),
	}
	sc.FailureCallback = r.Header.Get("Upstash-Failure-Callback")
	if v := r.Header.Get("Upstash-Retries"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid Upstash-Retries %q", v))
			return
		}
		sc.Retries = n
	}
	if sc.Delay, err = parseDuration(r.Header.Get("Upstash-Delay")); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid Upstash-Delay: %v", err))
		return
	}
	if sc.Timeout, err = parseDuration(r.Header.Get("Upstash-Timeout")); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid Upstash-Timeout: %v", err))
		return
	}

	id, err := s.AddSchedule(sc)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"scheduleId": id})
}

// forwardedHeaders returns the headers QStash forwards to the destination:
// Upstash-Forward-* with the prefix removed, and Content-Type.
func forwardedHeaders(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if name, ok := strings.CutPrefix(k, "Upstash-Forward-"); ok && name != "" {
			out[http.CanonicalHeaderKey(name)] = append([]string(nil), v...)
		}
	}
	if ct := h.Get("Content-Type"); ct != "" {
		out.Set("Content-Type", ct)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func callerIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndex(host, ":"); i > 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

// parseDuration parses a QStash duration such as "10s", "5m" or "1h"; a bare
// number means seconds.
func parseDuration(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 10s, 5m or 1h", v)
	}
	return d, nil
}

// sortedKeys returns the keys of m in ascending order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
