package heal

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestNormaliseMessage(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"Timeout after 30000ms calling step 4", "timeout after <n>ms calling step <n>"},
		{"order 8f14e45f-ceea-467f-a0e6-1d2a3b4c5d6e not found", "order <uuid> not found"},
		{"failed at 2026-01-05T09:15:02.123Z: boom", "failed at <time>: boom"},
		{"failed at 2026-01-05 09:15:02+02:00", "failed at <time>"},
		{"message msg_7YoJxFpwkEy5zBp378JgvD6YBDPBEqkBPje2 failed", "message <id> failed"},
		{"commit deadbeef42cafe01 broke it", "commit <hex> broke it"},
		{"pointer 0x7ffd3a2c", "pointer <hex>"},
		{"dial tcp 10.0.0.4:443: connect: connection refused", "dial tcp <n>:<n>: connect: connection refused"},
		{"  many\t\tspaces\n here ", "many spaces here"},
		{"api v2 returned E11000", "api v<n> returned <id>"},
	}
	for _, tt := range tests {
		if got := NormaliseMessage(tt.in); got != tt.want {
			t.Errorf("NormaliseMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormaliseMessageMergesRuns(t *testing.T) {
	a := NormaliseMessage("run wfr_rj0Upr1rvdzGfz96fXNHh: step 3 failed after 1234 ms at 2026-01-05T09:00:00Z")
	b := NormaliseMessage("run wfr_Zz81hQk2mP0a: step 3 failed after 877 ms at 2026-02-11T23:59:59Z")
	if a != b {
		t.Errorf("two runs of one failure normalise differently:\n%q\n%q", a, b)
	}
}

func TestNormaliseMessageBoundsOutput(t *testing.T) {
	got := NormaliseMessage(strings.Repeat("é word ", 1000))
	if len(got) > maxNormaliseOutput {
		t.Errorf("len = %d, want at most %d", len(got), maxNormaliseOutput)
	}
	if !utf8.ValidString(got) {
		t.Error("output is not valid UTF-8")
	}
}

func FuzzNormaliseMessage(f *testing.F) {
	for _, seed := range []string{
		"Timeout after 30000ms", "order 8f14e45f-ceea-467f-a0e6-1d2a3b4c5d6e", "2026-01-05T09:15:02.123Z",
		"0xDEADBEEF", "msg_7YoJxFpwkEy5zBp378", "\xff\xfe", "İstanbul 42", "a<n>b", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		got := NormaliseMessage(msg)
		if strings.ContainsAny(got, "0123456789") {
			t.Errorf("NormaliseMessage(%q) = %q still has digits", msg, got)
		}
		if len(got) > maxNormaliseOutput {
			t.Errorf("NormaliseMessage(%q) has %d bytes, want at most %d", msg, len(got), maxNormaliseOutput)
		}
		if again := NormaliseMessage(got); again != got {
			t.Errorf("not idempotent: %q -> %q -> %q", msg, got, again)
		}
		if utf8.ValidString(msg) && !utf8.ValidString(got) {
			t.Errorf("valid input %q gave invalid UTF-8 %q", msg, got)
		}
	})
}

func TestWindowCountsDistinctRuns(t *testing.T) {
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	w := newWindow(3, time.Hour, 10)
	fp := Fingerprint{Target: "https://app.test/wf", Step: "charge", Class: Transient, Status: 503}

	if _, n, _ := w.add(fp, "run-1", start); n != 1 {
		t.Errorf("first run counted %d, want 1", n)
	}
	if _, n, isNew := w.add(fp, "run-1", start.Add(time.Minute)); n != 1 || isNew {
		t.Errorf("retry of the same run counted %d, new=%v; want 1, not new", n, isNew)
	}
	if _, n, _ := w.add(fp, "run-2", start.Add(10*time.Minute)); n != 2 {
		t.Errorf("second run counted %d, want 2", n)
	}
	if _, n, _ := w.add(fp, "run-3", start.Add(65*time.Minute)); n != 2 {
		t.Errorf("run 3 after run 1 left the hour counted %d, want 2", n)
	}
	if _, n, _ := w.add(fp, "run-4", start.Add(66*time.Minute)); n != 3 {
		t.Errorf("run 4 counted %d, want 3", n)
	}
}

func TestWindowEvictsLeastRecentlySeen(t *testing.T) {
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	w := newWindow(3, time.Hour, 2)
	a, b, c := Fingerprint{Step: "a"}, Fingerprint{Step: "b"}, Fingerprint{Step: "c"}
	w.add(a, "r1", at)
	w.add(b, "r1", at)
	w.add(a, "r2", at) // a is now the most recently seen
	w.add(c, "r1", at) // evicts b
	if w.len() != 2 {
		t.Fatalf("len = %d, want 2", w.len())
	}
	if _, ok := w.entries[b]; ok {
		t.Error("b is still held, want it evicted as least recently seen")
	}
	if _, ok := w.entries[a]; !ok {
		t.Error("a was evicted, want it kept")
	}
}

func TestEscalateRepetition(t *testing.T) {
	timeout := Verdict{Class: Transient, Basis: BasisError, Signal: "timeout"}
	http503 := Verdict{Class: Transient, Basis: BasisStatus, Signal: "http-503"}
	marker := Verdict{Class: Configuration, Basis: BasisMarker, Signal: "bot-challenge"}
	http429 := Verdict{Class: Transient, Basis: BasisStatus, Signal: "http-429"}
	rateText := Verdict{Class: Transient, Basis: BasisError, Signal: "rate-limited"}
	tests := []struct {
		name string
		in   Verdict
		own  bool
		want Class
	}{
		{"own timeout", timeout, true, Configuration},
		{"own 503", http503, true, Logical},
		{"third-party 503", http503, false, Dependency},
		{"marker kept", marker, false, Configuration},
		{"own 429", http429, true, Configuration},
		{"own rate-limit text", rateText, true, Configuration},
		{"third-party 429", http429, false, Dependency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := escalate(tt.in, tt.own, "vendor.test", 3, time.Hour)
			if got.Class != tt.want {
				t.Errorf("Class = %v, want %v", got.Class, tt.want)
			}
			if got.Class != tt.in.Class && got.Basis != BasisRepetition {
				t.Errorf("Basis = %v, want repetition", got.Basis)
			}
		})
	}
}

func TestWindowEventsOutOfOrder(t *testing.T) {
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	fp := Fingerprint{Target: "https://app.test/wf", Step: "charge", Class: Transient, Status: 503}
	day := 24 * time.Hour

	w := newWindow(3, time.Hour, 10)
	for _, d := range []time.Duration{10 * day, 5 * day, day} {
		if _, n, _ := w.add(fp, d.String(), start.Add(d)); n != 1 {
			t.Errorf("run at +%s counted %d, want 1: runs days apart are not a pattern", d, n)
		}
	}

	w = newWindow(3, time.Hour, 10)
	for i, d := range []time.Duration{30 * time.Minute, 10 * time.Minute, 20 * time.Minute} {
		if _, n, _ := w.add(fp, d.String(), start.Add(d)); n != i+1 {
			t.Errorf("run at +%s counted %d, want %d", d, n, i+1)
		}
	}
	// A fourth run in the span drops the oldest by time (+10m), not the
	// first added.
	w.add(fp, "late", start.Add(25*time.Minute))
	e := w.entries[fp].Value.(*windowEntry)
	var got []time.Duration
	for _, r := range e.runs {
		got = append(got, r.at.Sub(start))
	}
	want := []time.Duration{20 * time.Minute, 25 * time.Minute, 30 * time.Minute}
	if !slices.Equal(got, want) {
		t.Errorf("runs kept at %v, want %v", got, want)
	}
}
