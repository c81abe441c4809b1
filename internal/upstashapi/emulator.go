package upstashapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// EmulatorPrefix is the path prefix StartEmulator serves under, so that a
// client that drops its base URL's path fails against the emulator.
const EmulatorPrefix = "/upstash-api"

// Emulator serves the developer API's Redis stats JSON from memory and
// checks Basic auth like the real API. It is an http.Handler and is safe
// for concurrent use. Its zero value is not usable; call NewEmulator.
type Emulator struct {
	email, apiKey string

	mu       sync.Mutex
	stats    map[string]*RedisStats
	failures []failure
	requests int
	url      string
}

type failure struct {
	status int
	body   string
}

// NewEmulator returns an emulator that accepts only email and apiKey.
func NewEmulator(email, apiKey string) *Emulator {
	return &Emulator{email: email, apiKey: apiKey, stats: make(map[string]*RedisStats)}
}

// StartEmulator starts an emulator on a loopback port under
// EmulatorPrefix and stops it when tb ends.
func StartEmulator(tb testing.TB, email, apiKey string) *Emulator {
	tb.Helper()
	e := NewEmulator(email, apiKey)
	mux := http.NewServeMux()
	mux.Handle(EmulatorPrefix+"/", http.StripPrefix(EmulatorPrefix, e))
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	e.url = srv.URL + EmulatorPrefix
	return e
}

// URL returns the base URL to pass to WithBaseURL, prefix included. It is
// empty for an emulator made by NewEmulator.
func (e *Emulator) URL() string { return e.url }

// Client returns a client for the emulator with its credentials.
func (e *Emulator) Client(tb testing.TB) *Client {
	tb.Helper()
	c, err := New(e.email, e.apiKey, WithBaseURL(e.url))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// SetRedisStats sets the stats served for database id.
func (e *Emulator) SetRedisStats(id string, s RedisStats) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats[id] = &s
}

// AddCommands records calls of database id at time at: one point per
// command in command_counts, and the daily and monthly request totals,
// billed at $0.20 per 100,000 commands. It creates the database if needed.
func (e *Emulator) AddCommands(id string, at time.Time, calls map[string]int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.stats[id]
	if !ok {
		s = &RedisStats{}
		e.stats[id] = s
	}
	for name, n := range calls {
		name = strings.ToUpper(name)
		i := -1
		for j, c := range s.CommandCounts {
			if c.Command == name {
				i = j
			}
		}
		if i < 0 {
			s.CommandCounts = append(s.CommandCounts, CommandCount{Command: name})
			i = len(s.CommandCounts) - 1
		}
		s.CommandCounts[i].DataPoints = append(s.CommandCounts[i].DataPoints, Point{Time: at.UTC(), Value: float64(n)})
		s.DailyNetCommands += n
		s.TotalMonthlyRequests += n
		s.TotalMonthlyBilling += float64(n) * 0.20 / 100_000
	}
}

// FailNext makes the next request fail with status and body, once. Calls
// queue up.
func (e *Emulator) FailNext(status int, body string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failures = append(e.failures, failure{status, body})
}

// Requests returns the number of requests served, failed ones included.
func (e *Emulator) Requests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests
}

// ServeHTTP serves GET /v2/redis/stats/{id}.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.requests++
	var fail *failure
	if len(e.failures) > 0 {
		fail = &e.failures[0]
		e.failures = e.failures[1:]
	}
	e.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	if fail != nil {
		w.WriteHeader(fail.status)
		_, _ = w.Write([]byte(fail.body))
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != e.email || pass != e.apiKey {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`"Unauthorized"`))
		return
	}
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	id, ok := strings.CutPrefix(r.URL.Path, "/v2/redis/stats/")
	if !ok || id == "" || strings.Contains(id, "/") {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`"not found"`))
		return
	}

	e.mu.Lock()
	s, found := e.stats[id]
	var body []byte
	var err error
	if found {
		body, err = json.Marshal(s)
	}
	e.mu.Unlock()
	switch {
	case !found:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`"database not found"`))
	case err != nil:
		w.WriteHeader(http.StatusInternalServerError)
	default:
		_, _ = w.Write(body)
	}
}
