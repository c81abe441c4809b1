package qstashemu

import (
	"net/http"
	"strings"
)

// route dispatches a built-in endpoint and reports whether one matched. rel
// is the escaped path after the base path. The first segment after /v2 is
// matched without regard to case, because qstash-go v1.0.0 sends
// "/v2/Schedules/..." for some calls.
func (s *Server) route(w http.ResponseWriter, r *http.Request, rel string) bool {
	rest, ok := strings.CutPrefix(rel, "/v2/")
	if !ok {
		return false
	}
	resource, tail, _ := strings.Cut(rest, "/")
	switch strings.ToLower(resource) {
	case "schedules":
		s.handleSchedules(w, r, tail)
	case "events":
		if tail != "" || r.Method != http.MethodGet {
			return false
		}
		s.listEvents(w, r)
	case "dlq":
		switch {
		case tail == "" && r.Method == http.MethodGet:
			s.listDLQ(w, r)
		case tail == "" && r.Method == http.MethodDelete:
			s.deleteDLQMany(w, r)
		case tail != "" && !strings.Contains(tail, "/") && r.Method == http.MethodGet:
			s.getDLQ(w, tail)
		case tail != "" && !strings.Contains(tail, "/") && r.Method == http.MethodDelete:
			s.deleteDLQ(w, tail)
		default:
			return false
		}
	case "messages":
		switch {
		case tail == "" && r.Method == http.MethodDelete:
			s.cancelMessages(w, r)
		case tail != "" && !strings.Contains(tail, "/") && r.Method == http.MethodGet:
			s.getMessage(w, tail)
		case tail != "" && !strings.Contains(tail, "/") && r.Method == http.MethodDelete:
			s.cancelMessage(w, tail)
		default:
			return false
		}
	case "publish":
		if r.Method != http.MethodPost || tail == "" {
			return false
		}
		s.publish(w, r, "", tail)
	case "enqueue":
		queue, destination, ok := strings.Cut(tail, "/")
		if r.Method != http.MethodPost || !ok || queue == "" {
			return false
		}
		s.publish(w, r, queue, destination)
	case "queues":
		name, action, _ := strings.Cut(tail, "/")
		s.handleQueues(w, r, name, action)
	default:
		return false
	}
	return true
}
