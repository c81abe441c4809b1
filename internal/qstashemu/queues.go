package qstashemu

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

type queueState struct {
	name                 string
	parallelism          int
	paused               bool
	createdAt, updatedAt time.Time
}

type queueJSON struct {
	Name        string `json:"name"`
	Parallelism int    `json:"parallelism"`
	CreatedAt   int64  `json:"createdAt"`
	UpdatedAt   int64  `json:"updatedAt"`
	Lag         int64  `json:"lag"`
	Paused      bool   `json:"paused"`
}

func (s *Server) ensureQueueLocked(name string, now time.Time) *queueState {
	q, ok := s.queues[name]
	if !ok {
		q = &queueState{name: name, parallelism: 1, createdAt: now, updatedAt: now}
		s.queues[name] = q
	}
	return q
}

// lagLocked counts the in-flight messages of a queue.
func (s *Server) lagLocked(name string) int64 {
	var lag int64
	for _, m := range s.messages {
		if m.queue == name && !m.final {
			lag++
		}
	}
	return lag
}

func (s *Server) queueJSONLocked(q *queueState) queueJSON {
	return queueJSON{
		Name: q.name, Parallelism: q.parallelism, Paused: q.paused,
		CreatedAt: q.createdAt.UnixMilli(), UpdatedAt: q.updatedAt.UnixMilli(),
		Lag: s.lagLocked(q.name),
	}
}

// handleQueues serves /v2/queues and /v2/queues/{name}[/pause|/resume].
func (s *Server) handleQueues(w http.ResponseWriter, r *http.Request, name, action string) {
	now := s.clock.Now()
	switch {
	case name == "" && r.Method == http.MethodGet:
		s.mu.Lock()
		out := make([]queueJSON, 0, len(s.queues))
		for _, k := range sortedKeys(s.queues) {
			out = append(out, s.queueJSONLocked(s.queues[k]))
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, out)

	case name == "" && r.Method == http.MethodPost:
		var req struct {
			QueueName   string `json:"queueName"`
			Parallelism int    `json:"parallelism"`
			Paused      bool   `json:"paused"`
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := json.Unmarshal(body, &req); err != nil || req.QueueName == "" {
			writeError(w, http.StatusBadRequest, `invalid body: want {"queueName": "...", "parallelism": n}`)
			return
		}
		s.mu.Lock()
		q := s.ensureQueueLocked(req.QueueName, now)
		q.parallelism = max(req.Parallelism, 1)
		q.paused = req.Paused
		q.updatedAt = now
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)

	case name != "":
		s.mu.Lock()
		q, ok := s.queues[name]
		if !ok {
			s.mu.Unlock()
			writeError(w, http.StatusNotFound, fmt.Sprintf("queue %q not found", name))
			return
		}
		switch {
		case action == "" && r.Method == http.MethodGet:
			out := s.queueJSONLocked(q)
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, out)
			return
		case action == "" && r.Method == http.MethodDelete:
			delete(s.queues, name)
		case (action == "pause" || action == "resume") && r.Method == http.MethodPost:
			q.paused = action == "pause"
			q.updatedAt = now
		default:
			s.mu.Unlock()
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)

	default:
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}
