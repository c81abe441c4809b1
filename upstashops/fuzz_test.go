package upstashops

import (
	"net/http"
	"testing"
	"time"
)

// FuzzVerifyWebhookSignature feeds arbitrary headers and bodies to the
// verifier: it must never panic and must accept only the signature it
// computes itself.
func FuzzVerifyWebhookSignature(f *testing.F) {
	f.Add("1767225600", "v1=00", []byte(`{"event":"alert"}`))
	f.Add("", "", []byte{})
	f.Add("-9223372036854775808", "v1=", []byte("x"))
	secret := []byte("fuzz-secret")
	now := time.Unix(1767225600, 0)
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(WebhookTimestampHeader, ts)
		h.Set(WebhookSignatureHeader, sig)
		err := VerifyWebhookSignature(secret, h, body, now, time.Hour)
		if err == nil && sig != "v1="+webhookMAC(secret, ts, body) {
			t.Fatalf("accepted a signature it did not compute: ts %q sig %q", ts, sig)
		}
	})
}

// FuzzSeverityText checks that every accepted severity name round-trips.
func FuzzSeverityText(f *testing.F) {
	for _, s := range []string{"info", "WARNING", "critical", "", "fatal"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var sev Severity
		if sev.UnmarshalText([]byte(s)) != nil {
			return
		}
		b, _ := sev.MarshalText()
		var again Severity
		if err := again.UnmarshalText(b); err != nil || again != sev {
			t.Fatalf("%q parsed as %v but does not round-trip: %v", s, sev, err)
		}
	})
}
