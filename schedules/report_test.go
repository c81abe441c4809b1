package schedules_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/qstashemu"
	"github.com/upstash-ops/sdk/schedules"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// goldenReport audits a fixed set of histories: a deleted preview
// deployment, a zombie, a redirect and a duplicate pair.
func goldenReport(t *testing.T) *schedules.Report {
	e := newEnv(t)
	e.gone("https://shop-git-feature-acme.vercel.app/api/cron")
	e.zombie("https://api.example.com/jobs/report")
	redirect := e.create(now.Add(-10*24*time.Hour), "https://old.example.com/api/cron", "0 3 * * 1-5", 0, "")
	e.fire(redirect, now.Add(-5*24*time.Hour), now.Add(-24*time.Hour), 24*time.Hour, func(time.Time) []qstashemu.Attempt {
		return []qstashemu.Attempt{qstashemu.Fail(308, "Permanent Redirect")}
	})
	for i := range 2 {
		e.create(now.Add(-7*24*time.Hour+time.Duration(i)*time.Minute), "https://api.example.com/digest", "0 8 * * *", 3, `{"kind":"daily"}`)
	}
	return e.audit()
}

func TestReportGolden(t *testing.T) {
	r := goldenReport(t)
	outputs := map[string]func(*bytes.Buffer) error{
		"report.txt":  func(b *bytes.Buffer) error { return r.WriteText(b) },
		"report.md":   func(b *bytes.Buffer) error { return r.WriteMarkdown(b) },
		"report.json": func(b *bytes.Buffer) error { return r.WriteJSON(b) },
	}
	for name, write := range outputs {
		t.Run(name, func(t *testing.T) {
			var got bytes.Buffer
			if err := write(&got); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s differs from %s (run go test -update after checking):\n%s", name, path, got.String())
			}
		})
	}

	var decoded schedules.Report
	var buf bytes.Buffer
	_ = r.WriteJSON(&buf)
	if err := json.Unmarshal(buf.Bytes(), &decoded); err != nil || len(decoded.Findings) != len(r.Findings) {
		t.Errorf("JSON does not round-trip: %v", err)
	}
}
