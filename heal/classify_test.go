package heal

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestClassifyGoErrors(t *testing.T) {
	tlsServer := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	quietTLS(tlsServer)
	t.Cleanup(tlsServer.Close)
	trusted := tlsServer.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	expired, expiredRoots := expiredTLSServer(t)

	tests := []struct {
		name       string
		err        func(t *testing.T) error
		wantClass  Class
		wantSignal string
	}{
		{"closed loopback port", dialClosedPort, Dependency, "connection-refused"},
		{"reset by peer", readAfterReset, Transient, "connection-reset"},
		{"client timeout", clientTimeout, Transient, "timeout"},
		{"context deadline", contextDeadline, Transient, "timeout"},
		{"dns not found", func(t *testing.T) error { return lookupInvalid(t, 3) }, Configuration, "dns-not-found"},
		{"dns server failure", func(t *testing.T) error { return lookupInvalid(t, 2) }, Transient, "dns-temporary"},
		{"tls self-signed", func(t *testing.T) error { return tlsError(t, tlsServer, nil, "") }, Configuration, "tls-unknown-authority"},
		{"tls wrong hostname", func(t *testing.T) error { return tlsError(t, tlsServer, trusted, "billing.internal.test") }, Configuration, "tls-hostname"},
		{"tls expired", func(t *testing.T) error { return tlsError(t, expired, expiredRoots, "") }, Configuration, "tls-expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err(t)
			got := Classify(Failure{Err: err})
			if got.Class != tt.wantClass {
				t.Errorf("Classify(%v).Class = %v, want %v", err, got.Class, tt.wantClass)
			}
			if got.Signal != tt.wantSignal {
				t.Errorf("Classify(%v).Signal = %q, want %q", err, got.Signal, tt.wantSignal)
			}
			if got.Confidence <= 0 || got.Confidence > 1 {
				t.Errorf("Confidence = %v, want in (0, 1]", got.Confidence)
			}
			if len(got.Evidence) == 0 {
				t.Error("Evidence is empty")
			}
			if got.Class == Configuration && got.Fix == "" {
				t.Error("configuration verdict has no Fix")
			}
		})
	}
}

func TestClassifyUnreachableErrnos(t *testing.T) {
	// Loopback cannot produce these errors, so the test builds the values
	// the net package returns for them.
	tests := []struct {
		errno syscall.Errno
		want  Class
	}{
		{syscall.EHOSTUNREACH, Dependency},
		{syscall.ENETUNREACH, Dependency},
		{syscall.ETIMEDOUT, Transient},
	}
	for _, tt := range tests {
		err := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", tt.errno)}
		if got := Classify(Failure{Err: err}); got.Class != tt.want {
			t.Errorf("Classify(%v) = %v, want %v", err, got.Class, tt.want)
		}
	}
}

func TestClassifyHTTPStatus(t *testing.T) {
	tests := []struct {
		name           string
		status         int
		header         http.Header
		body           string
		wantClass      Class
		wantBasis      Basis
		wantRetryAfter time.Duration
		wantFix        string // a phrase of Fix
	}{
		{"408", 408, nil, "", Transient, BasisStatus, 0, ""},
		{"425", 425, nil, "", Transient, BasisStatus, 0, ""},
		{"429 retry-after seconds", 429, http.Header{"Retry-After": {"30"}}, "", Transient, BasisStatus, 30 * time.Second, ""},
		{"500", 500, nil, "panic: nil map", Transient, BasisStatus, 0, ""},
		{"502", 502, nil, "", Transient, BasisStatus, 0, ""},
		{"503 retry-after", 503, http.Header{"Retry-After": {"120"}}, "", Transient, BasisStatus, 2 * time.Minute, ""},
		{"504", 504, nil, "", Transient, BasisStatus, 0, ""},
		{"301 location", 301, http.Header{"Location": {"https://api.example.com/v2/hook"}}, "", Configuration, BasisStatus, 0, "https://api.example.com/v2/hook"},
		{"308 location", 308, http.Header{"Location": {"/new"}}, "", Configuration, BasisStatus, 0, "/new"},
		{"401", 401, nil, "", Configuration, BasisStatus, 0, "rotate the credential"},
		{"403", 403, nil, "forbidden", Configuration, BasisStatus, 0, "permissions"},
		{"404", 404, nil, "", Configuration, BasisStatus, 0, "URL"},
		{"410", 410, nil, "", Configuration, BasisStatus, 0, "gone"},
		{"405", 405, nil, "", Configuration, BasisStatus, 0, "method"},
		{"413", 413, nil, "", Logical, BasisStatus, 0, "payload"},
		{"400 validation", 400, nil, `{"errors":[{"field":"email","message":"is required"}]}`, Logical, BasisStatus, 0, "input"},
		{"422 validation", 422, nil, `{"error":"validation failed: amount must be positive"}`, Logical, BasisStatus, 0, "input"},
		{"489 non-retryable", 489, http.Header{HeaderNonRetryable: {"true"}}, "order already refunded", Logical, BasisMarker, 0, "not retryable"},
		{"503 cloudflare challenge", 503, http.Header{"Server": {"cloudflare"}}, "<title>Just a moment...</title><script src=/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1>", Configuration, BasisMarker, 0, "bot protection"},
		{"403 cf-mitigated header", 403, http.Header{"Cf-Mitigated": {"challenge"}}, "", Configuration, BasisMarker, 0, "Upstash-Signature"},
		{"429 vercel checkpoint", 429, http.Header{"X-Vercel-Mitigated": {"challenge"}}, "Vercel Security Checkpoint", Configuration, BasisMarker, 0, "bot protection"},
		{"401 signature body", 401, nil, "invalid signature: body hash does not match", Configuration, BasisMarker, 0, "Content-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := statusResponse(t, tt.status, tt.header, tt.body)
			got := Classify(f)
			if got.Class != tt.wantClass {
				t.Errorf("Class = %v, want %v (verdict %v)", got.Class, tt.wantClass, got)
			}
			if got.Basis != tt.wantBasis {
				t.Errorf("Basis = %v, want %v", got.Basis, tt.wantBasis)
			}
			if got.RetryAfter != tt.wantRetryAfter {
				t.Errorf("RetryAfter = %v, want %v", got.RetryAfter, tt.wantRetryAfter)
			}
			if !strings.Contains(got.Fix, tt.wantFix) {
				t.Errorf("Fix = %q, want it to contain %q", got.Fix, tt.wantFix)
			}
		})
	}
}

func TestClassifyValidationRaisesConfidence(t *testing.T) {
	plain := Classify(Failure{Status: 400, Body: "bad request"})
	validation := Classify(Failure{Status: 400, Body: `{"message":"validation failed","errors":{"sku":"missing"}}`})
	if validation.Confidence <= plain.Confidence {
		t.Errorf("confidence with validation body = %v, without = %v; want higher", validation.Confidence, plain.Confidence)
	}
}

func TestClassifyRetryAfterDate(t *testing.T) {
	date := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h := http.Header{
		"Date":        {date.Format(http.TimeFormat)},
		"Retry-After": {date.Add(90 * time.Second).Format(http.TimeFormat)},
	}
	got := Classify(Failure{Status: 503, Header: h})
	if got.RetryAfter != 90*time.Second {
		t.Errorf("RetryAfter = %v, want 1m30s measured from the Date header", got.RetryAfter)
	}
}

func TestClassifyQStashText(t *testing.T) {
	tests := []struct {
		message    string
		wantClass  Class
		wantSignal string
	}{
		{`Post "https://app.example.com/api/wf": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, Transient, "timeout"},
		{"unable to resolve host app.example.invalid", Configuration, "dns-not-found"},
		{`invalid scheme: "ftp"`, Configuration, "invalid-scheme"},
		{`Post "localhost:3000/api": unsupported protocol scheme "localhost"`, Configuration, "invalid-scheme"},
		{"failed to verify signature: signature mismatch", Configuration, "signature"},
		{"invalid body hash", Configuration, "signature"},
		{"dial tcp 10.0.0.4:443: connect: connection refused", Dependency, "connection-refused"},
		{"read tcp: connection reset by peer", Transient, "connection-reset"},
		{"x509: certificate has expired or is not yet valid", Configuration, "tls-certificate"},
		{"stopped after 10 redirects", Configuration, "redirect-loop"},
	}
	for _, tt := range tests {
		t.Run(tt.wantSignal, func(t *testing.T) {
			got := Classify(Failure{Message: tt.message})
			if got.Class != tt.wantClass {
				t.Errorf("Classify(%q).Class = %v, want %v", tt.message, got.Class, tt.wantClass)
			}
			if got.Signal != tt.wantSignal {
				t.Errorf("Classify(%q).Signal = %q, want %q", tt.message, got.Signal, tt.wantSignal)
			}
		})
	}
}

func TestClassifyPrecedence(t *testing.T) {
	tests := []struct {
		name       string
		failure    Failure
		wantClass  Class
		wantSignal string
	}{
		{"marker beats 5xx", Failure{Status: 503, Header: http.Header{HeaderNonRetryable: {"true"}}}, Logical, "non-retryable"},
		{"challenge beats 503", Failure{Status: 503, Body: "Checking your browser before accessing"}, Configuration, "bot-challenge"},
		{"signature beats 500", Failure{Status: 500, Body: "Error: Invalid signature"}, Configuration, "signature"},
		{"status beats error text", Failure{Status: 404, Message: "context deadline exceeded"}, Configuration, "http-404"},
		{"plain 503 stays transient", Failure{Status: 503, Body: "upstream unavailable"}, Transient, "http-503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.failure)
			if got.Class != tt.wantClass || got.Signal != tt.wantSignal {
				t.Errorf("Classify = %v %s, want %v %s", got.Class, got.Signal, tt.wantClass, tt.wantSignal)
			}
		})
	}
}

func TestClassifyUnknown(t *testing.T) {
	got := Classify(Failure{Err: errors.New("boom")})
	if got.Class != Unknown {
		t.Errorf("Class = %v, want unknown", got.Class)
	}
	if !got.Class.Retryable() {
		t.Error("Unknown is not retryable, want retryable")
	}
}

func TestClassifierRulesRunFirst(t *testing.T) {
	errQuota := errors.New("vendor quota exhausted")
	rule := RuleFunc(func(f Failure) (Verdict, bool) {
		if errors.Is(f.Err, errQuota) {
			return Verdict{Class: Dependency, Confidence: 1, Signal: "vendor-quota"}, true
		}
		return Verdict{}, false
	})
	c := NewClassifier(nil, rule)

	got := c.Classify(Failure{Err: fmt.Errorf("charge: %w", errQuota), Status: 400})
	if got.Class != Dependency || got.Basis != BasisRule {
		t.Errorf("rule verdict = %v %v, want dependency rule", got.Class, got.Basis)
	}
	got = c.Classify(Failure{Status: 401})
	if got.Class != Configuration {
		t.Errorf("fallback verdict = %v, want configuration from the built-in rules", got.Class)
	}
	var zero Classifier
	if got := zero.Classify(Failure{Status: 429}); got.Class != Transient {
		t.Errorf("zero Classifier = %v, want transient", got.Class)
	}
}

func TestEvidenceRedactsSecrets(t *testing.T) {
	const secret = "sk_live_51Hx9secretvalue"
	f := statusResponse(t, 401, nil, `{"error":"bad token","token":"`+secret+`"}`)
	f.Message = "Authorization: Bearer " + secret
	v := Classify(f)
	all := v.String() + strings.Join(v.Evidence, "\n")
	if strings.Contains(all, secret) {
		t.Errorf("verdict leaks the secret: %s", all)
	}
	if strings.Contains(f.URL, "s3cr3t") {
		t.Errorf("Failure.URL leaks the query token: %s", f.URL)
	}
}

func TestRedactText(t *testing.T) {
	tests := map[string]string{
		"Authorization: Bearer abc.def":                        "Authorization: REDACTED",
		`{"token":"t0k3n","ok":true}`:                          `{"token":"REDACTED","ok":true}`,
		"password=hunter2&user=bob":                            "password=REDACTED&user=bob",
		"api_key: sk_live_1":                                   "api_key: REDACTED",
		"no secrets in this upstream failure":                  "no secrets in this upstream failure",
		`Get "https://api.example.com/v1?key=k3y&page=2": EOF`: `Get "https://api.example.com/v1?key=REDACTED&page=REDACTED": EOF`,
		"POST https://bob:pa55@hooks.example.com/x failed":     "POST https://REDACTED@hooks.example.com/x failed",
		"see https://status.example.com/ for details":          "see https://status.example.com/ for details",
	}
	for in, want := range tests {
		if got := redactText(in); got != want {
			t.Errorf("redactText(%q) = %q, want %q", in, got, want)
		}
	}
}

// A Workflow step error carries the response body as its error text, with
// no separate body field.
func TestClassifyResponseBodyInMessage(t *testing.T) {
	tests := []struct {
		name       string
		failure    Failure
		wantClass  Class
		wantSignal string
		wantConf   float64
	}{
		{"challenge page behind 503",
			Failure{Status: 503, Message: "<!DOCTYPE html><html><head><title>Just a moment...</title>"},
			Configuration, "bot-challenge", 0.9},
		{"vercel checkpoint behind 429",
			Failure{Status: 429, Message: "<title>Vercel Security Checkpoint</title>"},
			Configuration, "bot-challenge", 0.9},
		{"validation error in 422 text",
			Failure{Status: 422, Message: `{"errors":{"amount":"must be positive"}}`},
			Logical, "http-422", 0.85},
		{"plain 503 text stays transient",
			Failure{Status: 503, Message: "upstream connect error"},
			Transient, "http-503", 0.7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.failure)
			if got.Class != tt.wantClass || got.Signal != tt.wantSignal {
				t.Errorf("Classify = %v %s, want %v %s", got.Class, got.Signal, tt.wantClass, tt.wantSignal)
			}
			if got.Confidence != tt.wantConf {
				t.Errorf("Confidence = %.2f, want %.2f", got.Confidence, tt.wantConf)
			}
		})
	}
}
