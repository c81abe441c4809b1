package qstash

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestRateLimitWait(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	unix := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	tests := []struct {
		name      string
		header    http.Header
		want      time.Duration
		wantKnown bool
	}{
		{"burst reset", http.Header{"Burst-Ratelimit-Reset": {unix(3 * time.Second)}}, 3 * time.Second, true},
		{"daily reset without remaining", http.Header{"Ratelimit-Reset": {unix(2 * time.Hour)}}, 2 * time.Hour, true},
		{"daily reset with requests left", http.Header{"Ratelimit-Reset": {unix(2 * time.Hour)}, "Ratelimit-Remaining": {"10"}}, 250 * time.Millisecond, false},
		{"reset in seconds from now", http.Header{"Burst-Ratelimit-Reset": {"4"}}, 4 * time.Second, true},
		{"retry-after seconds", http.Header{"Retry-After": {"7"}}, 7 * time.Second, true},
		{"retry-after overflowing", http.Header{"Retry-After": {"1e300"}}, maxAnnouncedWait, true},
		{"retry-after date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second, true},
		{"no headers", http.Header{}, 250 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, known := rateLimitWait(tt.header, now, 0)
			if got != tt.want || known != tt.wantKnown {
				t.Errorf("rateLimitWait = %v, %v; want %v, %v", got, known, tt.want, tt.wantKnown)
			}
		})
	}
}
