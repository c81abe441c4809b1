package costlint

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenSnapshot is a fixed Snapshot that makes several rules fire, so the
// report formats can be compared byte for byte.
func goldenSnapshot() *Snapshot {
	start := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	return &Snapshot{
		Start: start, End: start.Add(10 * time.Second), Window: 10 * time.Second,
		Pricing: UpstashPayAsYouGo, MinBurst: DefaultMinBurst, HandshakeCommands: 3,
		Commands: []CommandTotal{
			{Name: "get", Calls: 4000, Billed: 4000},
			{Name: "incr", Calls: 100, Billed: 100},
			{Name: "expire", Calls: 100, Billed: 100},
			{Name: "keys", Calls: 10, Billed: 10},
			{Name: "ping", Calls: 3, Free: true},
		},
		BilledCommands: 4210,
		KeyedCommands:  4200,
		Sites: []Site{
			{CallSite: "main.profiles (app/handler.go:42)", Command: "get", Pattern: "user:{id}:profile", Mode: Single,
				Calls: 4000, Keys: 4000, Bursts: 20, BurstCalls: 4000, BatchCalls: 20, MaxBurst: 200},
			{CallSite: "main.sessions (app/admin.go:17)", Command: "keys", Mode: Single, Calls: 10},
		},
		Patterns: []Pattern{
			{Pattern: "user:{id}:profile", Calls: 4000, Reads: 4000, DistinctKeys: 200},
			{Pattern: "rl:{id}", Calls: 200, Writes: 100, Expires: 100, Refreshes: 99, RefreshAfter: "incr", DistinctKeys: 1},
		},
		Dials: 1, ArgBytes: 80_000, ReplyBytes: 400_000,
		Overflow: Overflow{Patterns: 7},
	}
}

func TestReportGolden(t *testing.T) {
	rep := New().ReportFrom(goldenSnapshot())
	formats := []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"report.txt", func(b *bytes.Buffer) error { return rep.WriteText(b) }},
		{"report.md", func(b *bytes.Buffer) error { return rep.WriteMarkdown(b) }},
		{"report.json", func(b *bytes.Buffer) error { return rep.WriteJSON(b) }},
	}
	for _, f := range formats {
		t.Run(f.file, func(t *testing.T) {
			var got bytes.Buffer
			if err := f.write(&got); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", f.file)
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got.String()); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
			}
		})
	}
}

// TestReportJSONSchema pins the top-level and finding field names of the
// JSON report, which callers parse.
func TestReportJSONSchema(t *testing.T) {
	var buf bytes.Buffer
	if err := New().ReportFrom(goldenSnapshot()).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"schema_version", "pricing", "window_start", "window_end", "window_seconds",
		"commands_observed", "commands_per_month", "bandwidth_per_month_gb", "cost_per_month_usd",
		"commands_per_second", "findings", "monthly_savings_usd", "overflow"} {
		if _, ok := doc[field]; !ok {
			t.Errorf("JSON report lacks %q", field)
		}
	}
	finding := doc["findings"].([]any)[0].(map[string]any)
	for _, field := range []string{"rule", "title", "severity", "evidence", "recommendation",
		"commands_per_month", "commands_per_month_after", "monthly_savings_usd"} {
		if _, ok := finding[field]; !ok {
			t.Errorf("JSON finding lacks %q", field)
		}
	}
	if doc["schema_version"] != float64(SchemaVersion) {
		t.Errorf("schema_version = %v", doc["schema_version"])
	}
}

func TestMoneyFormat(t *testing.T) {
	tests := map[float64]string{0: "$0.00", 2063.232: "$2,063.23", 0.005: "$0.01", 1234567.891: "$1,234,567.89", 10.368: "$10.37"}
	for in, want := range tests {
		if got := money(in); got != want {
			t.Errorf("money(%v) = %q, want %q", in, got, want)
		}
	}
}
