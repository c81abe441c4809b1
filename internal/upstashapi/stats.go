package upstashapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RedisStats is the body of GET /v2/redis/stats/{id}. Series are points in
// time order as the API sends them. Fields the API adds later are ignored.
type RedisStats struct {
	MonitorCount       Point `json:"monitor_count"`
	DailyNetCommands   int64 `json:"daily_net_commands"`
	DailyReadRequests  int64 `json:"daily_read_requests"`
	DailyWriteRequests int64 `json:"daily_write_requests"`

	ConnectionCount  []Point  `json:"connection_count"`
	Keyspace         []Point  `json:"keyspace"`
	Throughput       []Point  `json:"throughput"`
	DiskUsage        []Point  `json:"diskusage"`
	LatencyMean      []Point  `json:"latencymean"`
	Latency99        []Point  `json:"latency_99"`
	ReadLatencyMean  []Point  `json:"read_latency_mean"`
	ReadLatency99    []Point  `json:"read_latency_99"`
	WriteLatencyMean []Point  `json:"write_latency_mean"`
	WriteLatency99   []Point  `json:"write_latency_99"`
	Hits             []Point  `json:"hits"`
	Misses           []Point  `json:"misses"`
	Read             []Point  `json:"read"`
	Write            []Point  `json:"write"`
	DailyRequests    []Point  `json:"dailyrequests"`
	Days             []string `json:"days"`
	DailyBilling     []Point  `json:"dailybilling"`
	// DailyBandwidth is in bytes.
	DailyBandwidth int64   `json:"dailybandwidth"`
	Bandwidths     []Point `json:"bandwidths"`

	// TotalMonthlyBandwidth and the storage fields are in bytes.
	TotalMonthlyBandwidth      int64 `json:"total_monthly_bandwidth"`
	TotalMonthlyRequests       int64 `json:"total_monthly_requests"`
	TotalMonthlyReadRequests   int64 `json:"total_monthly_read_requests"`
	TotalMonthlyWriteRequests  int64 `json:"total_monthly_write_requests"`
	TotalMonthlyScriptRequests int64 `json:"total_monthly_script_requests"`
	QueueOptimized             bool  `json:"queue_optimized"`
	TotalMonthlyStorage        int64 `json:"total_monthly_storage"`
	CurrentStorage             int64 `json:"current_storage"`
	// TotalMonthlyBilling is the month's cost so far in dollars.
	TotalMonthlyBilling float64        `json:"total_monthly_billing"`
	CommandCounts       []CommandCount `json:"command_counts"`
}

// CommandCount is the series of one command's calls.
type CommandCount struct {
	Command    string  `json:"metric_identifier"`
	DataPoints []Point `json:"data_points"`
}

// Total returns the sum of the series.
func (c CommandCount) Total() float64 { return Sum(c.DataPoints) }

// CommandTotals returns each command's summed calls, keyed by lower-case
// command name.
func (s *RedisStats) CommandTotals() map[string]float64 {
	out := make(map[string]float64, len(s.CommandCounts))
	for _, c := range s.CommandCounts {
		out[strings.ToLower(c.Command)] += c.Total()
	}
	return out
}

// Point is one measurement. The API writes X as Go's time.Time.String
// form ("2025-08-31 15:12:52.799480932 +0000 UTC"); RFC 3339 and Unix
// seconds are accepted too. Y is a JSON number.
type Point struct {
	Time  time.Time
	Value float64
}

type rawPoint struct {
	X json.RawMessage `json:"x"`
	Y json.RawMessage `json:"y"`
}

// UnmarshalJSON decodes {"x": ..., "y": ...}.
func (p *Point) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil
	}
	var raw rawPoint
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("point: %w", err)
	}
	t, err := parseX(raw.X)
	if err != nil {
		return err
	}
	v, err := parseY(raw.Y)
	if err != nil {
		return err
	}
	p.Time, p.Value = t, v
	return nil
}

// MarshalJSON encodes the point the way the API does.
func (p Point) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		X string  `json:"x"`
		Y float64 `json:"y"`
	}{p.Time.UTC().Format(goTimeLayout), p.Value})
}

// goTimeLayout is time.Time.String's layout without the monotonic reading.
const goTimeLayout = "2006-01-02 15:04:05.999999999 -0700 MST"

func parseX(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n float64
		if err := json.Unmarshal(raw, &n); err != nil {
			return time.Time{}, fmt.Errorf("point x %s: not a time", raw)
		}
		return time.Unix(int64(n), 0).UTC(), nil
	}
	for _, layout := range []string{goTimeLayout, time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("point x %q: not a known time format", s)
}

func parseY(raw json.RawMessage) (float64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err == nil {
		return v, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, nil
		}
	}
	return 0, fmt.Errorf("point y %s: not a number", raw)
}

// Sum returns the sum of the points' values.
func Sum(points []Point) float64 {
	var total float64
	for _, p := range points {
		total += p.Value
	}
	return total
}

// Last returns the value of the last point, or 0 for an empty series.
func Last(points []Point) float64 {
	if len(points) == 0 {
		return 0
	}
	return points[len(points)-1].Value
}
