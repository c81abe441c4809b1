package schedules

import (
	"net/http"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	html := http.Header{"Content-Type": {"text/html; charset=UTF-8"}}
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		err    string
		want   outcome
	}{
		{"success", 204, nil, "", "", outcomeSuccess},
		{"server error", 500, nil, "oops", "", outcomeServerError},
		{"plain 503", 503, nil, "upstream connect error", "", outcomeServerError},
		{"challenge 503", 503, html, "<html><title>Just a moment...</title>", "", outcomeChallenge},
		{"challenge header", 403, http.Header{"Cf-Mitigated": {"challenge"}}, "", "", outcomeChallenge},
		{"html 403 without challenge", 403, html, "<html>Forbidden</html>", "", outcomeClientError},
		{"vercel checkpoint", 429, html, "<!doctype html><title>Vercel Security Checkpoint</title>", "", outcomeChallenge},
		{"signature", 401, nil, "Invalid Upstash-Signature", "", outcomeSignature},
		{"plain 401", 401, nil, "login required", "", outcomeClientError},
		{"gone 410", 410, nil, "", "", outcomeGone},
		{"redirect", 301, http.Header{"Location": {"/new"}}, "", "", outcomeRedirect},
		{"gateway timeout", 504, nil, "", "", outcomeTimeout},
		{"dns", 0, nil, "", "dial tcp: lookup x.example: no such host", outcomeGone},
		{"refused", 0, nil, "", "dial tcp 10.0.0.1:443: connect: connection refused", outcomeConnRefused},
		{"tls", 0, nil, "", "x509: certificate signed by unknown authority", outcomeTLS},
		{"timeout", 0, nil, "", "i/o timeout", outcomeTimeout},
		{"unknown transport error", 0, nil, "", "EOF", outcomeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.status, tt.header, []byte(tt.body), tt.err); got != tt.want {
				t.Errorf("classify = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestExcerptBody(t *testing.T) {
	long := make([]byte, 400)
	for i := range long {
		long[i] = 'a'
	}
	long[bodyExcerptBytes-1] = 0xe2 // start of a cut multi-byte rune
	got := excerptBody(long)
	if len(got) > bodyExcerptBytes+3 || got[len(got)-3:] != "..." {
		t.Errorf("excerpt = %q", got)
	}
	if got := excerptBody([]byte("a\n  b\tc")); got != "a b c" {
		t.Errorf("excerpt = %q, want one line", got)
	}
}

func TestBuildHistoryOrderIndependent(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	events := []Event{
		{Time: t0, MessageID: "m1", State: "CREATED"},
		{Time: t0, MessageID: "m1", State: "ACTIVE"},
		{Time: t0, MessageID: "m1", State: "ERROR", ResponseStatus: 503},
		{Time: t0.Add(time.Minute), MessageID: "m1", State: "FAILED", ResponseStatus: 404},
		{Time: t0.Add(time.Hour), MessageID: "m2", State: "DELIVERED", ResponseStatus: 200},
	}
	for name, order := range map[string][]Event{"oldest first": events, "newest first": reversed(events)} {
		h := buildHistory(order)
		if len(h.triggers) != 2 || h.triggers[0].messageID != "m2" {
			t.Fatalf("%s: triggers = %+v", name, h.triggers)
		}
		m1 := h.triggers[1]
		if m1.state != "FAILED" || m1.status != 404 || m1.outcome != outcomeGone || m1.attempts != 2 {
			t.Errorf("%s: m1 = %+v", name, m1)
		}
		if !h.lastSuccess.Equal(t0.Add(time.Hour)) {
			t.Errorf("%s: lastSuccess = %v", name, h.lastSuccess)
		}
	}
}

func reversed(in []Event) []Event {
	out := make([]Event, len(in))
	for i, e := range in {
		out[len(in)-1-i] = e
	}
	return out
}

func FuzzClassify(f *testing.F) {
	f.Add(403, "text/html", "<html><title>Just a moment...</title>", "")
	f.Add(401, "", `{"error":"invalid signature"}`, "")
	f.Add(0, "", "", "dial tcp: lookup x: no such host")
	f.Add(308, "", "moved", "")
	f.Fuzz(func(t *testing.T, status int, contentType, body, errText string) {
		got := classify(status, http.Header{"Content-Type": {contentType}}, []byte(body), errText)
		if got < outcomeSuccess || got > outcomeOther {
			t.Fatalf("classify returned unknown outcome %d", got)
		}
		if got == outcomeSuccess && (status < 200 || status > 299 || errText != "") {
			t.Fatalf("classify(%d, %q) = success", status, errText)
		}
		_ = excerptBody([]byte(body))
	})
}
