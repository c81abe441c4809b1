package correlate

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/vectoremu"
)

const vectorToken = "vector-secret-token-1234"

func TestVectorCollectorSamples(t *testing.T) {
	emu := vectoremu.Start(t, vectorToken, 8)
	emu.Add("", "v", 10)
	emu.Add("docs", "d", 5)
	fake := clock.NewFake(start)
	emu.OnQuery(func() { fake.Advance(120 * time.Millisecond) })
	v, err := NewVectorCollector(emu.URL, vectorToken, WithVectorClock(fake))
	if err != nil {
		t.Fatal(err)
	}

	samples, err := v.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range samples {
		got[s.Series] = s.Value
	}
	want := map[string]float64{
		SignalVectorCount:                      15,
		SignalVectorPending:                    0,
		SignalVectorIndex:                      15 * (4*8 + 64),
		SignalVectorDimensions:                 15 * 8,
		SignalVectorCount + "{namespace=docs}": 5,
		SignalVectorLatency:                    0.12,
	}
	for series, w := range want {
		if g, ok := got[series]; !ok || g != w {
			t.Errorf("%s = %v (present %v), want %v", series, g, ok, w)
		}
	}
	if emu.Queries() != 1 {
		t.Errorf("probe ran %d queries, want 1", emu.Queries())
	}
}

func TestVectorCollectorWithoutProbe(t *testing.T) {
	emu := vectoremu.Start(t, vectorToken, 4)
	v, err := NewVectorCollector(emu.URL, vectorToken, WithoutLatencyProbe())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if emu.Queries() != 0 {
		t.Errorf("ran %d queries with the probe off, want 0", emu.Queries())
	}
}

func TestVectorErrorsHideToken(t *testing.T) {
	emu := vectoremu.Start(t, "the-right-token", 4)
	v, err := NewVectorCollector(emu.URL, vectorToken)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "status 401") {
		t.Fatalf("err = %v, want a 401", err)
	}
	if strings.Contains(err.Error(), vectorToken) {
		t.Errorf("error reveals the token: %v", err)
	}

	down, err := NewVectorCollector("http://127.0.0.1:1/x", vectorToken, WithHTTPClient(&http.Client{Timeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := down.Info(context.Background()); err == nil || strings.Contains(err.Error(), vectorToken) {
		t.Errorf("unreachable index: err = %v, want an error without the token", err)
	}
}

func TestNewVectorCollectorValidates(t *testing.T) {
	for _, tt := range []struct{ url, token string }{{"", "t"}, {"ftp://x", "t"}, {"https://x", ""}} {
		if _, err := NewVectorCollector(tt.url, tt.token); err == nil {
			t.Errorf("NewVectorCollector(%q, %q) succeeded, want an error", tt.url, tt.token)
		}
	}
}

// FuzzDecodeVectorResponse checks that any response body decodes or fails
// without panicking, and that no error repeats the token.
func FuzzDecodeVectorResponse(f *testing.F) {
	f.Add(200, []byte(`{"result":{"vectorCount":3,"pendingVectorCount":1,"indexSize":100,"dimension":8,"namespaces":{"":{"vectorCount":3}}}}`))
	f.Add(401, []byte(`{"error":"Unauthorized: token vector-secret-token-1234 is invalid","status":401}`))
	f.Add(200, []byte(`{"result":null}`))
	f.Fuzz(func(t *testing.T, status int, raw []byte) {
		var info VectorInfo
		err := decodeVectorResponse(status, raw, vectorToken, &info)
		if err != nil && strings.Contains(err.Error(), vectorToken) {
			t.Fatalf("error reveals the token: %v", err)
		}
	})
}

// The dimension comes from the server. A broken or hostile answer must not
// make the probe allocate a vector of a trillion floats.
func TestVectorCollectorRejectsHugeDimension(t *testing.T) {
	emu := vectoremu.Start(t, vectorToken, 1<<40)
	v, err := NewVectorCollector(emu.URL, vectorToken)
	if err != nil {
		t.Fatal(err)
	}
	samples, err := v.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "dimension") {
		t.Errorf("Collect() error = %v, want an invalid dimension", err)
	}
	if len(samples) == 0 {
		t.Error("Collect() dropped the info samples along with the probe")
	}
	if emu.Queries() != 0 {
		t.Errorf("probe ran %d queries, want none", emu.Queries())
	}
}
