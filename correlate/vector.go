package correlate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
)

// SignalVectorDimensions is vectorCount x dimension, the quantity some
// Upstash Vector plans limit.
const SignalVectorDimensions = "vector.vector_dimensions"

// VectorInfo is the index information from Upstash Vector's GET /info.
type VectorInfo struct {
	VectorCount        int64                           `json:"vectorCount"`
	PendingVectorCount int64                           `json:"pendingVectorCount"`
	IndexSize          int64                           `json:"indexSize"` // bytes
	Dimension          int                             `json:"dimension"`
	SimilarityFunction string                          `json:"similarityFunction"`
	Namespaces         map[string]VectorNamespaceCount `json:"namespaces"`
}

// VectorNamespaceCount is the vector count of one namespace.
type VectorNamespaceCount struct {
	VectorCount        int64 `json:"vectorCount"`
	PendingVectorCount int64 `json:"pendingVectorCount"`
}

// VectorOption configures a VectorCollector.
type VectorOption interface{ applyVector(*VectorCollector) }

type vectorOptionFunc func(*VectorCollector)

func (f vectorOptionFunc) applyVector(v *VectorCollector) { f(v) }

// WithHTTPClient sets the HTTP client. Default http.DefaultClient.
func WithHTTPClient(c *http.Client) VectorOption {
	return vectorOptionFunc(func(v *VectorCollector) { v.http = c })
}

// WithVectorClock sets the clock that times the latency probe and stamps
// samples. Default the system clock.
func WithVectorClock(c clock.Clock) VectorOption {
	return vectorOptionFunc(func(v *VectorCollector) { v.clock = c })
}

// WithoutLatencyProbe turns off the probe query, which costs one query of
// the index's daily quota per collection.
func WithoutLatencyProbe() VectorOption {
	return vectorOptionFunc(func(v *VectorCollector) { v.probe = false })
}

// VectorCollector reads an Upstash Vector index's info and measures query
// latency from the client side, because Vector reports no server latency.
// The probe is one query of topK 1 with a constant unit vector; it counts
// toward the index's query quota. It is safe for concurrent use.
type VectorCollector struct {
	base  string
	token string
	http  *http.Client
	clock clock.Clock
	probe bool
}

// NewVectorCollector returns a collector for the index at restURL (the
// UPSTASH_VECTOR_REST_URL) with its REST token.
func NewVectorCollector(restURL, token string, opts ...VectorOption) (*VectorCollector, error) {
	u, err := url.Parse(restURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("correlate: invalid Vector REST URL %q: want https://host", restURL)
	}
	if token == "" {
		return nil, errors.New("correlate: Vector REST token is missing")
	}
	v := &VectorCollector{base: strings.TrimRight(restURL, "/"), token: token, http: http.DefaultClient, clock: clock.Real, probe: true}
	for _, o := range opts {
		o.applyVector(v)
	}
	return v, nil
}

// Collect reads the index info and, unless turned off, probes query
// latency; it returns their samples.
func (v *VectorCollector) Collect(ctx context.Context) ([]Sample, error) {
	info, err := v.Info(ctx)
	if err != nil {
		return nil, err
	}
	now := v.clock.Now()
	out := []Sample{
		{Series: SignalVectorCount, Time: now, Value: float64(info.VectorCount)},
		{Series: SignalVectorPending, Time: now, Value: float64(info.PendingVectorCount)},
		{Series: SignalVectorIndex, Time: now, Value: float64(info.IndexSize)},
		{Series: SignalVectorDimensions, Time: now, Value: float64(info.VectorCount) * float64(info.Dimension)},
	}
	for _, name := range sortedKeys(info.Namespaces) {
		if name == "" {
			continue // the default namespace is in the totals
		}
		out = append(out, Sample{Series: fmt.Sprintf("%s{namespace=%s}", SignalVectorCount, name), Time: now, Value: float64(info.Namespaces[name].VectorCount)})
	}
	if !v.probe || info.Dimension <= 0 {
		return out, nil
	}
	latency, err := v.Probe(ctx, info.Dimension)
	if err != nil {
		return out, err
	}
	return append(out, Sample{Series: SignalVectorLatency, Time: now, Value: latency.Seconds()}), nil
}

// Info calls GET /info.
func (v *VectorCollector) Info(ctx context.Context) (VectorInfo, error) {
	var info VectorInfo
	err := v.call(ctx, http.MethodGet, "/info", nil, &info)
	return info, err
}

// maxProbeDimension bounds the probe's query vector. The dimension comes
// from the server, and a query this large is already over 10 MB of JSON.
const maxProbeDimension = 1 << 20

// Probe runs one query of topK 1 with a unit vector of the given dimension
// and returns how long the round trip took on the collector's clock. A
// dimension below 1 or above 1,048,576 is an error and sends no query.
func (v *VectorCollector) Probe(ctx context.Context, dimension int) (time.Duration, error) {
	if dimension < 1 || dimension > maxProbeDimension {
		return 0, fmt.Errorf("correlate: vector probe: invalid dimension %d: want 1 to %d", dimension, maxProbeDimension)
	}
	vec := make([]float64, dimension)
	for i := range vec {
		vec[i] = 1 / math.Sqrt(float64(dimension))
	}
	body, err := json.Marshal(map[string]any{"vector": vec, "topK": 1})
	if err != nil {
		return 0, err
	}
	start := v.clock.Now()
	var matches []json.RawMessage
	if err := v.call(ctx, http.MethodPost, "/query", body, &matches); err != nil {
		return 0, err
	}
	return v.clock.Now().Sub(start), nil
}

// call sends one request and decodes the "result" field into out. Errors
// name the path and the status but never the token.
func (v *VectorCollector) call(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, v.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("correlate: vector %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+v.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := v.http.Do(req)
	if err != nil {
		return fmt.Errorf("correlate: vector %s %s: %w", method, path, redactURLError(err))
	}
	defer resp.Body.Close()

	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("correlate: vector %s %s: read response: %w", method, path, err)
	}
	if err := decodeVectorResponse(resp.StatusCode, raw, v.token, out); err != nil {
		return fmt.Errorf("correlate: vector %s %s: %w", method, path, err)
	}
	return nil
}

// decodeVectorResponse decodes Vector's {"result": ...} envelope into out,
// or returns the status and the {"error": ...} message, with any copy of
// the token in it replaced.
func decodeVectorResponse(status int, raw []byte, token string, out any) error {
	var envelope struct {
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(raw, &envelope); err != nil {
		return fmt.Errorf("status %d: invalid JSON response: %w", status, err)
	}
	if status != http.StatusOK || envelope.Error != "" {
		return fmt.Errorf("status %d: %s", status, strings.ReplaceAll(envelope.Error, token, "[redacted]"))
	}
	if err := json.Unmarshal(envelope.Result, out); err != nil {
		return fmt.Errorf("invalid result: %w", err)
	}
	return nil
}

// redactURLError drops the URL from an *url.Error, which would otherwise
// print it. The URL carries no token, but the user's REST URL is kept out
// of logs all the same.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Name returns "vector", the collector's name in Monitor logs and errors.
func (*VectorCollector) Name() string { return "vector" }
