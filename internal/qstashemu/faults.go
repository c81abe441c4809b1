package qstashemu

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault makes matching API requests fail. Faults apply only to authorized
// requests and are checked in the order they were injected.
type Fault struct {
	// Method matches the request method; empty matches any.
	Method string
	// Path is a prefix of the path after the base path, compared without
	// regard to case, for example "/v2/events"; empty matches any.
	Path string
	// Skip is how many matching requests pass through before the fault
	// starts.
	Skip int
	// Times is how many matching requests fail; values below 1 mean 1.
	Times int
	// Status is the response status, 500 when zero.
	Status int
	// Header is added to the response.
	Header http.Header
	// Body is sent as is; when empty the response is a JSON error object.
	Body string
}

type faultState struct {
	Fault
	skipLeft, timesLeft int
}

// InjectFault adds a fault.
func (s *Server) InjectFault(f Fault) {
	if f.Status == 0 {
		f.Status = http.StatusInternalServerError
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultState{Fault: f, skipLeft: f.Skip, timesLeft: max(f.Times, 1)})
}

// InjectRateLimit makes matching requests fail with 429 and the burst
// rate-limit headers QStash sends: Burst-RateLimit-Limit,
// Burst-RateLimit-Remaining (0) and Burst-RateLimit-Reset, a Unix time in
// seconds that is reset after the server's clock reads at the failing
// request. path, skip and times are as in Fault.
func (s *Server) InjectRateLimit(path string, skip, times int, reset time.Duration) {
	s.InjectFault(Fault{Path: path, Skip: skip, Times: times, Status: http.StatusTooManyRequests,
		Header: http.Header{"Burst-RateLimit-Limit": {"100"}, "Burst-RateLimit-Remaining": {"0"},
			// Replaced per response with the clock's time plus reset.
			"Burst-RateLimit-Reset": {"+" + strconv.FormatInt(int64(reset), 10)}},
		Body: `{"error":"Exceeded burst rate limit"}`})
}

// serveFault writes the response of the first due fault that matches, and
// reports whether it did.
func (s *Server) serveFault(w http.ResponseWriter, method, rel string) bool {
	s.mu.Lock()
	var hit *faultState
	for i, f := range s.faults {
		if f.Method != "" && !strings.EqualFold(f.Method, method) {
			continue
		}
		if f.Path != "" && !strings.HasPrefix(strings.ToLower(rel), strings.ToLower(f.Path)) {
			continue
		}
		if f.skipLeft > 0 {
			f.skipLeft--
			continue
		}
		f.timesLeft--
		if f.timesLeft == 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		hit = f
		break
	}
	s.mu.Unlock()
	if hit == nil {
		return false
	}

	for k, v := range hit.Header {
		for _, value := range v {
			if rel, ok := strings.CutPrefix(value, "+"); ok && strings.HasSuffix(k, "Reset") {
				d, _ := strconv.ParseInt(rel, 10, 64)
				value = strconv.FormatInt(s.clock.Now().Add(time.Duration(d)).Unix(), 10)
			}
			w.Header().Add(k, value)
		}
	}
	if hit.Body == "" {
		writeError(w, hit.Status, http.StatusText(hit.Status))
		return true
	}
	w.WriteHeader(hit.Status)
	_, _ = w.Write([]byte(hit.Body))
	return true
}
