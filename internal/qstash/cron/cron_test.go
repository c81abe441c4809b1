package cron

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDescribe(t *testing.T) {
	tests := []struct {
		expr string
		want string
	}{
		{"* * * * *", "every minute, every day (UTC)"},
		{"*/15 * * * *", "every 15 minutes, every day (UTC)"},
		{"0 * * * *", "every hour, on the hour, every day (UTC)"},
		{"30 * * * *", "every hour at minute 30, every day (UTC)"},
		{"5 */6 * * *", "every 6 hours at minute 5, every day (UTC)"},
		{"0 9 * * 1-5", "at 09:00, on Monday through Friday (UTC)"},
		{"0 9,17 * * *", "at 09:00 and 17:00, every day (UTC)"},
		{"0 0 1 * *", "at 00:00, on day 1 of the month (UTC)"},
		{"0 0 1 1 *", "at 00:00, on day 1 of the month in January (UTC)"},
		{"@daily", "at 00:00, every day (UTC)"},
		{"CRON_TZ=Europe/Berlin 0 8 * * MON,WED", "at 08:00, on Monday and Wednesday (Europe/Berlin)"},
		{"0,10,20,30,40,50 1-23 * * *", "every 10 minutes past hours 1 through 23, every day (UTC)"},
		{"0 12 * * 0,7", "at 12:00, on Sunday (UTC)"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s, err := Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.expr, err)
			}
			if got := s.Describe(); got != tt.want {
				t.Errorf("Describe(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, expr := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
		"* * * * 8", "*/0 * * * *", "5-1 * * * *", "a * * * *", "CRON_TZ=Nowhere/City * * * * *", "1,,2 * * * *"} {
		if _, err := Parse(expr); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) error = %v, want ErrSyntax", expr, err)
		}
	}
}

func TestNext(t *testing.T) {
	base := time.Date(2026, 3, 1, 10, 7, 30, 0, time.UTC)
	tests := []struct {
		expr string
		want time.Time
	}{
		{"*/15 * * * *", time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)},
		{"0 9 * * 1-5", time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)},
		{"0 0 29 2 *", time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"0 0 1 * 5", time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC)},
		{"0 0 30 2 *", time.Time{}},
	}
	for _, tt := range tests {
		s, err := Parse(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Next(base); !got.Equal(tt.want) {
			t.Errorf("Next(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
}

func TestNextTimeZone(t *testing.T) {
	s, err := Parse("CRON_TZ=America/New_York 30 2 * * *")
	if err != nil {
		t.Fatal(err)
	}
	// 2026-03-08 is the spring-forward day in New York: 02:30 does not exist.
	got := s.Next(time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC))
	if got.IsZero() || got.UTC().Before(time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("Next = %v", got)
	}
}

func TestCount(t *testing.T) {
	s, _ := Parse("0 * * * *")
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if n, trunc := s.Count(from, from.Add(30*24*time.Hour), 1e6); n != 720 || trunc {
		t.Errorf("hourly over 30 days = %d (truncated %v), want 720", n, trunc)
	}
	if n, trunc := s.Count(from, from.Add(30*24*time.Hour), 10); n != 10 || !trunc {
		t.Errorf("limited count = %d (truncated %v), want 10, true", n, trunc)
	}
	if got := s.Interval(from); got != time.Hour {
		t.Errorf("Interval = %v, want 1h", got)
	}
}

func FuzzParseDescribe(f *testing.F) {
	for _, seed := range []string{"* * * * *", "*/5 1-3 1,15 JAN-MAR MON-FRI", "CRON_TZ=Asia/Tokyo 0 9 * * *", "@hourly", "0 0 31 2 *"} {
		f.Add(seed)
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Parse(expr)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrSyntax", expr, err)
			}
			return
		}
		d := s.Describe()
		if d == "" || strings.Contains(d, "  ") {
			t.Fatalf("Describe(%q) = %q", expr, d)
		}
		if next := s.Next(from); !next.IsZero() && !next.After(from) {
			t.Fatalf("Next(%q) = %v, not after %v", expr, next, from)
		}
	})
}

// matches reports whether t matches s, by definition.
func matches(s *Schedule, t time.Time) bool {
	t = t.In(s.loc)
	return s.minute&(1<<uint(t.Minute())) != 0 && s.hour&(1<<uint(t.Hour())) != 0 &&
		s.month&(1<<uint(t.Month())) != 0 && s.dayMatches(t)
}

func TestNextAgreesWithMinuteScan(t *testing.T) {
	start := time.Date(2026, 3, 5, 22, 13, 0, 0, time.UTC)
	for _, expr := range []string{"*/7 * * * *", "5,50 9-17 * * 1-5", "0 0 1,15 * 3", "CRON_TZ=America/New_York 30 1-3 * * *", "59 23 31 12 *"} {
		s, err := Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		want := start
		for want = want.Add(time.Minute); !matches(s, want); want = want.Add(time.Minute) {
		}
		if got := s.Next(start); !got.Equal(want) {
			t.Errorf("Next(%q) = %v, want %v", expr, got, want)
		}
	}
}
