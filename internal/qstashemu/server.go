// Package qstashemu is an in-process emulator of the QStash v2 REST API, for
// tests and for programs that must run without an Upstash account.
//
// It serves the documented endpoints that this SDK and the qstash-go client
// (v1.0.0) call: schedules (create, list, get, pause, resume, delete), events
// with filters and cursor paging, the dead letter queue, messages (publish,
// enqueue, get, cancel) and queues. Errors are JSON objects of the form
// {"error": "..."}, as QStash sends them.
//
// Nothing is delivered over the network. Tests script what happened instead:
// Trigger records that a schedule fired at a given time and how each delivery
// attempt ended, which produces the events, DLQ entries and schedule fields
// that real QStash would show. InjectFault and InjectRateLimit make chosen
// requests fail, for example with 429 and the rate-limit headers QStash sends.
//
// The server listens on a loopback port and serves everything under a
// non-root base path (see WithBasePath), so a client that builds absolute
// URLs instead of joining them to its base URL fails loudly. Callers add
// endpoints with HandleFunc; other files of this package register theirs
// for every server through the extensions list.
//
// Limitations: the emulator keeps everything in memory and never evicts
// anything, so it suits bounded test histories. It does not verify request
// signatures and implements URL groups, flow control and workflows only where
// HandleFunc extensions add them.
package qstashemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
)

// DefaultToken is the bearer token the emulator accepts unless WithToken sets
// another one.
const DefaultToken = "qstash-emulator-token"

// DefaultBasePath is the path prefix under which the emulator serves the API
// unless WithBasePath sets another one.
const DefaultBasePath = "/qstash-emu"

// Server is a running emulator. Its methods are safe for concurrent use.
// Get one from Start or StartT.
type Server struct {
	clock    clock.Clock
	token    string
	basePath string
	httpSrv  *httptest.Server

	extra *http.ServeMux // endpoints added with HandleFunc

	requests atomic.Int64

	mu          sync.Mutex
	idSeq       int64
	schedules   map[string]*scheduleState
	scheduleIDs []string // creation order
	messages    map[string]*messageState
	events      eventStore
	dlq         map[string]*DLQEntry
	dlqIDs      []string // insertion order
	queues      map[string]*queueState
	faults      []*faultState
	routeCounts map[string]int64
}

type config struct {
	clock    clock.Clock
	token    string
	basePath string
}

// Option configures a Server.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithClock sets the clock that stamps creation times, default timestamps of
// scripted events and rate-limit reset times. The default is the system clock.
func WithClock(c clock.Clock) Option {
	return optionFunc(func(cfg *config) { cfg.clock = c })
}

// WithToken sets the bearer token that requests must carry. The default is
// DefaultToken.
func WithToken(token string) Option {
	return optionFunc(func(cfg *config) { cfg.token = token })
}

// WithBasePath sets the path prefix under which the API is served, for
// example "/qstash-emu". The default is DefaultBasePath. An empty path or "/"
// serves the API at the root.
func WithBasePath(path string) Option {
	return optionFunc(func(cfg *config) { cfg.basePath = path })
}

// Start starts an emulator on a loopback port. The caller stops it with
// Close.
func Start(opts ...Option) *Server {
	cfg := config{token: DefaultToken, basePath: DefaultBasePath}
	for _, o := range opts {
		o.apply(&cfg)
	}
	s := &Server{
		clock:       clock.Or(cfg.clock),
		token:       cfg.token,
		basePath:    "/" + strings.Trim(cfg.basePath, "/"),
		extra:       http.NewServeMux(),
		schedules:   make(map[string]*scheduleState),
		messages:    make(map[string]*messageState),
		events:      newEventStore(),
		dlq:         make(map[string]*DLQEntry),
		queues:      make(map[string]*queueState),
		routeCounts: make(map[string]int64),
	}
	if s.basePath == "/" {
		s.basePath = ""
	}
	for _, register := range extensions {
		register(s)
	}
	s.httpSrv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// extensions register endpoints that other files of this package add, such
// as Upstash Workflow routes. A file appends its registration in an init
// function; Start runs them all, in init order, before serving.
var extensions []func(*Server)

// StartT starts an emulator that stops when the test ends.
func StartT(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := Start(opts...)
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and blocks until every request has finished.
func (s *Server) Close() { s.httpSrv.Close() }

// URL returns the base URL of the API, including the base path and without
// a trailing slash, for example "http://127.0.0.1:40123/qstash-emu". It is
// the value to pass as the QStash URL to a client.
func (s *Server) URL() string { return s.httpSrv.URL + s.basePath }

// Token returns the bearer token the server accepts.
func (s *Server) Token() string { return s.token }

// Now returns the time on the server's clock.
func (s *Server) Now() time.Time { return s.clock.Now() }

// Client returns an HTTP client for the server. It is a plain client of the
// loopback listener.
func (s *Server) Client() *http.Client { return s.httpSrv.Client() }

// HandleFunc adds an endpoint. The pattern is an http.ServeMux pattern
// relative to the base path, for example "GET /v2/workflows/logs". Built-in
// endpoints take precedence; requests to added endpoints pass the same
// authentication, fault injection and request counting as built-in ones.
func (s *Server) HandleFunc(pattern string, handler http.HandlerFunc) {
	s.extra.HandleFunc(pattern, handler)
}

// Requests returns how many API requests the server has received, including
// rejected and fault-injected ones.
func (s *Server) Requests() int64 { return s.requests.Load() }

// RequestCounts returns the number of requests per route, keyed by the
// method and the first two path segments after the base path, for example
// "GET /v2/events" or "PATCH /v2/schedules". The map is a copy.
func (s *Server) RequestCounts() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.routeCounts))
	for k, v := range s.routeCounts {
		out[k] = v
	}
	return out
}

// nextIDLocked returns a new identifier with the given prefix. The caller
// holds s.mu.
func (s *Server) nextIDLocked(prefix string) string {
	s.idSeq++
	return fmt.Sprintf("%s_%06d", prefix, s.idSeq)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)

	rawPath := r.URL.EscapedPath()
	rel, ok := strings.CutPrefix(rawPath, s.basePath)
	if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("path %q is outside the API base path %q", rawPath, s.basePath))
		return
	}
	s.countRoute(r.Method, rel)

	if !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, "Unauthorized: missing or invalid bearer token")
		return
	}
	if s.serveFault(w, r.Method, rel) {
		return
	}
	if s.route(w, r, rel) {
		return
	}

	// Endpoints added with HandleFunc see the path relative to the base.
	r2 := r.Clone(r.Context())
	r2.URL.Path = rel
	r2.URL.RawPath = ""
	if _, pattern := s.extra.Handler(r2); pattern == "" {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s", r.Method, rel))
		return
	}
	s.extra.ServeHTTP(w, r2)
}

func (s *Server) countRoute(method, rel string) {
	segments := strings.SplitN(strings.TrimPrefix(rel, "/"), "/", 3)
	key := method + " /" + strings.ToLower(segments[0])
	if len(segments) > 1 {
		key += "/" + strings.ToLower(segments[1])
	}
	s.mu.Lock()
	s.routeCounts[key]++
	s.mu.Unlock()
}

func (s *Server) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	return ok && token != "" && token == s.token
}

// writeJSON writes v with the given status and a Content-Length.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"emulator failed to encode its response"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// writeError writes a QStash-style error body.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
