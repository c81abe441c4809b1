package keypattern

import (
	"strings"
	"testing"
)

// Keys that hold an e-mail address or an ISO 8601 timestamp must collapse
// to one pattern: otherwise every user or every hour makes a new pattern,
// and e-mail addresses, which are personal data, end up in reports.
func TestNormalizeEmailsAndTimestamps(t *testing.T) {
	tests := []struct{ a, b string }{
		{"user:by-email:ann@example.com", "user:by-email:bob.smith@mail.example.org"},
		{"login:ann@example.com:attempts", "login:zed+tag@corp.io:attempts"},
		{"ts:2026-01-05T12:00:00Z", "ts:2025-11-30T23:59:59Z"},
		{"log:2026-01-05T12:00:00.123Z:errors", "log:2026-02-17T08:41:07.999Z:errors"},
	}
	for _, tt := range tests {
		pa, pb := Normalize(tt.a), Normalize(tt.b)
		if pa != pb {
			t.Errorf("Normalize(%q) = %q and Normalize(%q) = %q, want one pattern", tt.a, pa, tt.b, pb)
		}
		for _, secret := range []string{"ann", "bob", "zed", "example"} {
			if strings.Contains(pa, secret) {
				t.Errorf("Normalize(%q) = %q keeps %q of the e-mail address", tt.a, pa, secret)
			}
		}
	}
	// Short words with a digit are names, not times.
	for _, key := range []string{"api:v1:user", "cache:h2:x", "grid:3d:42"} {
		if got := Normalize(key); strings.Contains(got, "{id}:") && !strings.HasPrefix(key, "grid") {
			t.Errorf("Normalize(%q) = %q, want the version word kept", key, got)
		}
	}
}
