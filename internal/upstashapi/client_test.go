package upstashapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	testEmail = "ops@example.com"
	testKey   = "0123456789abcdef-secret-api-key"
)

func TestRedisStatsDecodesDocumentedShape(t *testing.T) {
	body, err := os.ReadFile("testdata/stats.json")
	if err != nil {
		t.Fatal(err)
	}
	var want RedisStats
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatal(err)
	}
	emu := StartEmulator(t, testEmail, testKey)
	emu.SetRedisStats("db-1", want)

	got, err := emu.Client(t).RedisStats(context.Background(), "db-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.DailyNetCommands != 4210 || got.TotalMonthlyRequests != 126300 || got.TotalMonthlyBilling != 0.2526 {
		t.Errorf("totals = %d, %d, %v", got.DailyNetCommands, got.TotalMonthlyRequests, got.TotalMonthlyBilling)
	}
	wantTotals := map[string]float64{"get": 4000, "set": 210, "exists": 0}
	if diff := cmp.Diff(wantTotals, got.CommandTotals()); diff != "" {
		t.Errorf("CommandTotals mismatch (-want +got):\n%s", diff)
	}
	if got.MonitorCount.Value != 12 || got.MonitorCount.Time.Nanosecond() != 500_000_000 {
		t.Errorf("monitor_count = %+v", got.MonitorCount)
	}
	if Sum(got.Hits) != 1000 || Last(got.Keyspace) != 1200 {
		t.Errorf("hits sum %v, keyspace last %v", Sum(got.Hits), Last(got.Keyspace))
	}
	wantTime := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	if !got.CommandCounts[1].DataPoints[0].Time.Equal(wantTime) {
		t.Errorf("RFC 3339 x = %v, want %v", got.CommandCounts[1].DataPoints[0].Time, wantTime)
	}
}

func TestRedisStatsSendsBasicAuthUnderPrefix(t *testing.T) {
	emu := StartEmulator(t, testEmail, testKey)
	emu.AddCommands("db-1", time.Now(), map[string]int64{"get": 5})
	if !strings.HasSuffix(emu.URL(), EmulatorPrefix) {
		t.Fatalf("emulator URL %q lacks the prefix", emu.URL())
	}
	got, err := emu.Client(t).RedisStats(context.Background(), "db-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.DailyNetCommands != 5 {
		t.Errorf("daily_net_commands = %d, want 5", got.DailyNetCommands)
	}
}

func TestRedisStatsErrors(t *testing.T) {
	ctx := context.Background()
	emu := StartEmulator(t, testEmail, testKey)
	emu.AddCommands("db-1", time.Now(), map[string]int64{"get": 1})

	wrong, err := New(testEmail, "wrong-"+testKey, WithBaseURL(emu.URL()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.RedisStats(ctx, "db-1")
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong key: error = %v, want ErrUnauthorized", err)
	}
	if err != nil && strings.Contains(err.Error(), testKey) {
		t.Errorf("error %q contains the API key", err)
	}

	_, err = emu.Client(t).RedisStats(ctx, "missing")
	var apiErr *APIError
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &apiErr) || apiErr.Path != "/v2/redis/stats/missing" {
		t.Errorf("unknown id: error = %v, want ErrNotFound naming the path", err)
	}

	emu.FailNext(http.StatusTooManyRequests, `"slow down"`)
	if _, err := emu.Client(t).RedisStats(ctx, "db-1"); !errors.Is(err, ErrRateLimited) {
		t.Errorf("429: error = %v, want ErrRateLimited", err)
	}

	emu.FailNext(http.StatusOK, `{"daily_net_commands": "many"}`)
	if _, err := emu.Client(t).RedisStats(ctx, "db-1"); err == nil || !strings.Contains(err.Error(), "decode response") {
		t.Errorf("bad JSON: error = %v, want a decode error", err)
	}

	if _, err := emu.Client(t).RedisStats(ctx, ""); err == nil {
		t.Error("empty id accepted")
	}
	if _, err := emu.Client(t).RedisStats(ctx, "../databases"); err == nil || !strings.Contains(err.Error(), "invalid database id") {
		t.Errorf("path id: error = %v, want invalid database id", err)
	}
	if got := emu.Requests(); got != 4 {
		t.Errorf("emulator served %d requests, want 4 (invalid ids are rejected locally)", got)
	}
}

func TestRedisStatsHonoursContext(t *testing.T) {
	emu := StartEmulator(t, testEmail, testKey)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := emu.Client(t).RedisStats(ctx, "db-1"); !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New("", testKey); err == nil {
		t.Error("missing email accepted")
	}
	if _, err := New(testEmail, ""); err == nil {
		t.Error("missing key accepted")
	}
	if _, err := New(testEmail, testKey, WithBaseURL("ftp://x")); err == nil {
		t.Error("ftp base URL accepted")
	}
}

func TestPointRoundTrip(t *testing.T) {
	in := Point{Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Value: 7.5}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"2026-01-02 03:04:05.000000006 +0000 UTC"`) {
		t.Errorf("marshalled x = %s, want Go's time.String form", b)
	}
	var out Point
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !out.Time.Equal(in.Time) || out.Value != in.Value {
		t.Errorf("round trip = %+v, want %+v", out, in)
	}
}

func FuzzDecodeRedisStats(f *testing.F) {
	if b, err := os.ReadFile("testdata/stats.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"command_counts":[{"metric_identifier":"GET","data_points":[{"x":1,"y":"2"}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var s RedisStats
		if err := json.Unmarshal(body, &s); err != nil {
			return
		}
		totals := s.CommandTotals()
		for name := range totals {
			if name != strings.ToLower(name) {
				t.Fatalf("command total key %q is not lower-case", name)
			}
		}
		_ = Sum(s.Hits) + Last(s.Keyspace)
	})
}
