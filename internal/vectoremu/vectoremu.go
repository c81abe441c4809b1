// Package vectoremu emulates the parts of the Upstash Vector REST API that
// the SDK reads, for tests: GET /info, POST /query[/{namespace}] and
// POST /upsert[/{namespace}], with bearer-token authentication and the
// {"result": ...} / {"error": ...} envelopes of the documented API.
//
// Queries are exact (brute-force cosine similarity). Upserted vectors stay
// pending until Index is called, so tests control pendingVectorCount. The
// index size is an emulation: 4 bytes per dimension plus 64 bytes per
// vector, not Upstash's real storage layout.
package vectoremu

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	// URL is the index's REST URL, under a non-root base path so that a
	// client that drops the path fails.
	URL   string
	token string
	dim   int

	mu         sync.Mutex
	namespaces map[string]*namespace
	queries    int
	onQuery    func()
}

type namespace struct {
	ready   map[string][]float64
	pending map[string][]float64
}

// BasePath is the path prefix the emulator serves under.
const BasePath = "/vector-emu"

// Start starts an emulator of an index with the given dimension that
// accepts token, and stops it when tb ends.
func Start(tb testing.TB, token string, dimension int) *Server {
	tb.Helper()
	s := &Server{token: token, dim: dimension, namespaces: map[string]*namespace{"": newNamespace()}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+BasePath+"/info", s.info)
	mux.HandleFunc("POST "+BasePath+"/query", s.query)
	mux.HandleFunc("POST "+BasePath+"/query/{namespace}", s.query)
	mux.HandleFunc("POST "+BasePath+"/upsert", s.upsert)
	mux.HandleFunc("POST "+BasePath+"/upsert/{namespace}", s.upsert)
	ts := httptest.NewServer(s.authenticate(mux))
	tb.Cleanup(ts.Close)
	s.URL = ts.URL + BasePath
	return s
}

func newNamespace() *namespace {
	return &namespace{ready: map[string][]float64{}, pending: map[string][]float64{}}
}

// OnQuery sets a function called inside every query request, before the
// response is written. Tests use it to advance a fake clock and so give the
// query a latency without sleeping.
func (s *Server) OnQuery(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onQuery = fn
}

// Index makes every pending vector ready.
func (s *Server) Index() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ns := range s.namespaces {
		for id, v := range ns.pending {
			ns.ready[id] = v
		}
		clear(ns.pending)
	}
}

// Add stores n ready vectors in namespace ns, with ids prefix-0 .. prefix-(n-1)
// and deterministic values.
func (s *Server) Add(ns, prefix string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	space := s.namespaceLocked(ns)
	for i := range n {
		v := make([]float64, s.dim)
		for d := range v {
			v[d] = math.Sin(float64(i*s.dim + d + 1))
		}
		space.ready[prefix+"-"+strconv.Itoa(i)] = v
	}
}

// Queries returns how many query requests were served.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

func (s *Server) namespaceLocked(name string) *namespace {
	ns, ok := s.namespaces[name]
	if !ok {
		ns = newNamespace()
		s.namespaces[name] = ns
	}
	return ns
}

func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+s.token {
			writeError(w, http.StatusUnauthorized, "Unauthorized: Invalid auth token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

type namespaceInfo struct {
	VectorCount        int `json:"vectorCount"`
	PendingVectorCount int `json:"pendingVectorCount"`
}

type infoResult struct {
	VectorCount        int                      `json:"vectorCount"`
	PendingVectorCount int                      `json:"pendingVectorCount"`
	IndexSize          int64                    `json:"indexSize"`
	Dimension          int                      `json:"dimension"`
	SimilarityFunction string                   `json:"similarityFunction"`
	IndexType          string                   `json:"indexType"`
	Namespaces         map[string]namespaceInfo `json:"namespaces"`
}

func (s *Server) info(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	res := infoResult{Dimension: s.dim, SimilarityFunction: "COSINE", IndexType: "DENSE", Namespaces: map[string]namespaceInfo{}}
	for name, ns := range s.namespaces {
		ni := namespaceInfo{VectorCount: len(ns.ready), PendingVectorCount: len(ns.pending)}
		res.Namespaces[name] = ni
		res.VectorCount += ni.VectorCount
		res.PendingVectorCount += ni.PendingVectorCount
	}
	res.IndexSize = int64(res.VectorCount+res.PendingVectorCount) * int64(4*s.dim+64)
	s.mu.Unlock()
	writeResult(w, res)
}

type queryRequest struct {
	Vector []float64 `json:"vector"`
	TopK   int       `json:"topK"`
}

type match struct {
	ID    string  `json:"id"`
	Score float64 `json:"score"`
}

func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	var req queryRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid query body: "+err.Error())
		return
	}
	if len(req.Vector) != s.dim {
		writeError(w, http.StatusBadRequest, "Invalid vector dimension: "+strconv.Itoa(len(req.Vector))+", expected: "+strconv.Itoa(s.dim))
		return
	}
	if req.TopK <= 0 {
		req.TopK = 10
	}

	s.mu.Lock()
	s.queries++
	hook := s.onQuery
	var matches []match
	if ns, ok := s.namespaces[r.PathValue("namespace")]; ok {
		for id, v := range ns.ready {
			matches = append(matches, match{ID: id, Score: (1 + cosine(req.Vector, v)) / 2})
		}
	}
	s.mu.Unlock()

	slices.SortFunc(matches, func(a, b match) int {
		if a.Score != b.Score {
			return cmpFloat(b.Score, a.Score)
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(matches) > req.TopK {
		matches = matches[:req.TopK]
	}
	if hook != nil {
		hook()
	}
	writeResult(w, matches)
}

type upsertVector struct {
	ID     string    `json:"id"`
	Vector []float64 `json:"vector"`
}

func (s *Server) upsert(w http.ResponseWriter, r *http.Request) {
	var raw json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		writeError(w, http.StatusBadRequest, "invalid upsert body: "+err.Error())
		return
	}
	var vectors []upsertVector
	if err := json.Unmarshal(raw, &vectors); err != nil {
		var one upsertVector
		if err := json.Unmarshal(raw, &one); err != nil {
			writeError(w, http.StatusBadRequest, "invalid upsert body: "+err.Error())
			return
		}
		vectors = []upsertVector{one}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.namespaceLocked(r.PathValue("namespace"))
	for _, v := range vectors {
		if v.ID == "" || len(v.Vector) != s.dim {
			writeError(w, http.StatusBadRequest, "Invalid vector dimension or missing id")
			return
		}
		ns.pending[v.ID] = v.Vector
	}
	writeResult(w, "Success")
}

func cosine(a, b []float64) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += a[i] * b[i]
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func writeResult(w http.ResponseWriter, result any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"result": result})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": msg, "status": status})
}
