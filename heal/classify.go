package heal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StatusNonRetryable is the status an Upstash endpoint returns, together
// with the HeaderNonRetryable header, to tell QStash not to retry a message.
const StatusNonRetryable = 489

// HeaderNonRetryable is the header that marks a QStash delivery failure as
// not worth retrying.
const HeaderNonRetryable = "Upstash-NonRetryable-Error"

// Fix hints shared by several rules.
const (
	fixSignature = "the Upstash signature no longer verifies: check that the endpoint has the " +
		"current and next signing keys, and verify the raw body before any parser reads it, " +
		"because a changed Content-Type or body parser alters the body hash"
	fixBotProtection = "bot protection answered with a challenge page: allow QStash through " +
		"(a firewall skip rule for requests that carry the Upstash-Signature header)"
	fixTimeout = "the endpoint did not answer in time: raise the timeout or split the step " +
		"into shorter ones"
	fixDNS     = "the host name does not resolve: fix the host in the destination URL"
	fixScheme  = "the destination URL must start with https:// or http://"
	fixCertTLS = "the endpoint's TLS certificate is not valid: "
)

// classifyMarker applies the explicit markers, which beat status classes.
func classifyMarker(f Failure) (Verdict, bool) {
	if headerValue(f.Header, HeaderNonRetryable) != "" || f.Status == StatusNonRetryable {
		v := Verdict{
			Class: Logical, Confidence: 0.95, Basis: BasisMarker, Signal: "non-retryable",
			Fix: "the endpoint marked the message as not retryable: review the run's input " +
				"and fix the data or code before a manual retry",
		}
		v.Evidence = append(v.Evidence, fmt.Sprintf("status %d", f.Status))
		if h := headerValue(f.Header, HeaderNonRetryable); h != "" {
			v.Evidence = append(v.Evidence, HeaderNonRetryable+": "+clip(h, 100))
		}
		return v, true
	}
	// A Workflow step error or a QStash delivery error carries the response
	// body in its text, so the page can be in Message as well as in Body.
	if sign, ok := botChallenge(f.Status, f.Header, f.Body+"\n"+f.Message); ok {
		return Verdict{
			Class: Configuration, Confidence: 0.9, Basis: BasisMarker, Signal: "bot-challenge",
			Evidence: []string{fmt.Sprintf("status %d", f.Status), sign},
			Fix:      fixBotProtection,
		}, true
	}
	if v, ok := classifyCertificate(f.Err); ok {
		return v, true
	}
	lower := strings.ToLower(f.text() + " " + f.Body)
	if signatureText(lower) {
		return Verdict{
			Class: Configuration, Confidence: 0.9, Basis: BasisMarker, Signal: "signature",
			Evidence: []string{"error: " + clip(f.text()+" "+f.Body, 200)},
			Fix:      fixSignature,
		}, true
	}
	if strings.Contains(lower, "x509:") || strings.Contains(lower, "tls: failed to verify certificate") {
		return Verdict{
			Class: Configuration, Confidence: 0.85, Basis: BasisMarker, Signal: "tls-certificate",
			Evidence: []string{"error: " + clip(f.text(), 200)},
			Fix:      fixCertTLS + "renew it, or serve the full chain for the host name in the URL",
		}, true
	}
	return Verdict{}, false
}

// signatureText reports whether lower-cased error text is a QStash
// signature or body-hash verification failure.
func signatureText(lower string) bool {
	if strings.Contains(lower, "body hash") || strings.Contains(lower, "bodyhash") {
		return true
	}
	if !strings.Contains(lower, "signature") {
		return false
	}
	for _, w := range []string{"invalid", "verif", "mismatch", "missing", "expired", "not valid", "failed"} {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// botChallenge reports whether a response is a bot-protection challenge
// page, and which sign gave it away. The signs are the challenge headers
// Cloudflare and Vercel set, and the text of their challenge pages.
func botChallenge(status int, h http.Header, body string) (string, bool) {
	for _, name := range []string{"Cf-Mitigated", "X-Vercel-Mitigated"} {
		if strings.EqualFold(headerValue(h, name), "challenge") {
			return name + ": challenge", true
		}
	}
	if status != http.StatusForbidden && status != http.StatusServiceUnavailable &&
		status != http.StatusTooManyRequests {
		return "", false
	}
	lower := strings.ToLower(body)
	for _, sign := range []string{
		"challenge-platform", "cf-chl", "just a moment...", "attention required! | cloudflare",
		"checking your browser", "vercel security checkpoint", "captcha",
	} {
		if strings.Contains(lower, sign) {
			return "challenge page: " + strconv.Quote(sign), true
		}
	}
	return "", false
}

// classifyCertificate recognises x509 verification errors.
func classifyCertificate(err error) (Verdict, bool) {
	if err == nil {
		return Verdict{}, false
	}
	v := Verdict{Class: Configuration, Confidence: 0.95, Basis: BasisMarker}
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		v.Signal = "tls-unknown-authority"
		v.Fix = fixCertTLS + "it is signed by an unknown authority; use a certificate from a " +
			"public CA or serve the intermediate certificates"
	case errors.As(err, &hostname):
		v.Signal = "tls-hostname"
		v.Fix = fixCertTLS + "it does not cover host " + strconv.Quote(hostname.Host) +
			"; fix the URL or reissue the certificate"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		v.Signal = "tls-expired"
		v.Fix = fixCertTLS + "it has expired; renew it"
	case errors.As(err, &invalid):
		v.Signal = "tls-invalid"
		v.Fix = fixCertTLS + invalid.Error()
	default:
		var verify *tls.CertificateVerificationError
		if !errors.As(err, &verify) {
			return Verdict{}, false
		}
		v.Signal = "tls-verify"
		v.Fix = fixCertTLS + "renew it or fix the chain"
	}
	v.Evidence = []string{"error: " + clip(err.Error(), 200)}
	return v, true
}

// classifyStatus applies HTTP status classes.
func classifyStatus(f Failure) (Verdict, bool) {
	s := f.Status
	if s == 0 || (s >= 200 && s < 300) {
		return Verdict{}, false
	}
	v := Verdict{Basis: BasisStatus, Signal: "http-" + strconv.Itoa(s)}
	v.Evidence = append(v.Evidence, fmt.Sprintf("status %d", s))
	switch {
	case s >= 300 && s < 400:
		v.Class, v.Confidence = Configuration, 0.85
		loc := f.Header.Get("Location")
		if loc != "" {
			v.Evidence = append(v.Evidence, "Location: "+clip(redactURL(loc), 200))
			v.Fix = "the endpoint redirects: change the URL to its new location " + strconv.Quote(clip(redactURL(loc), 200))
		} else {
			v.Fix = "the endpoint redirects without a Location header: find its new URL"
		}
	case s == http.StatusUnauthorized:
		v.Class, v.Confidence = Configuration, 0.85
		v.Fix = "the endpoint rejected the credentials: rotate the credential or token and update the caller"
	case s == http.StatusForbidden:
		v.Class, v.Confidence = Configuration, 0.8
		v.Fix = "the endpoint denied access: check the credential's permissions or IP allow-list"
	case s == http.StatusNotFound:
		v.Class, v.Confidence = Configuration, 0.75
		v.Fix = "the endpoint was not found: fix the URL path or deploy the route"
	case s == http.StatusGone:
		v.Class, v.Confidence = Configuration, 0.9
		v.Fix = "the endpoint is gone: point the job at its replacement or delete it"
	case s == http.StatusMethodNotAllowed:
		v.Class, v.Confidence = Configuration, 0.85
		v.Fix = "the endpoint does not accept this method: QStash sends POST unless " +
			"Upstash-Method says otherwise, so change the route or the method"
	case s == http.StatusRequestTimeout || s == http.StatusTooEarly || s == http.StatusTooManyRequests:
		v.Class, v.Confidence = Transient, 0.8
		v.RetryAfter = retryAfter(f.Header)
	case s == http.StatusRequestEntityTooLarge:
		v.Class, v.Confidence = Logical, 0.7
		v.Fix = "the request body is larger than the endpoint accepts: shrink the payload or raise the body-size limit"
	case s == http.StatusBadRequest || s == http.StatusUnprocessableEntity:
		v.Class, v.Confidence = Logical, 0.6
		v.Fix = "the endpoint rejected the input: review the run's payload"
		if sign, ok := validationBody(f.Body + "\n" + f.Message); ok {
			v.Confidence = 0.85
			v.Evidence = append(v.Evidence, "validation error in body: "+sign)
		}
	case s >= 400 && s < 500:
		v.Class, v.Confidence = Logical, 0.5
		v.Fix = "the endpoint rejected the request: review the run's input and the endpoint's contract"
	case s == http.StatusNotImplemented || s == http.StatusHTTPVersionNotSupported:
		v.Class, v.Confidence = Configuration, 0.7
		v.Fix = "the endpoint does not support this request: check the URL and method"
	case s == http.StatusBadGateway || s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout:
		v.Class, v.Confidence = Transient, 0.7
		v.RetryAfter = retryAfter(f.Header)
	case s >= 500 && s < 600:
		// A 500 is as often a bug as a passing fault; repetition decides.
		v.Class, v.Confidence = Transient, 0.5
		v.RetryAfter = retryAfter(f.Header)
	default:
		return Verdict{}, false
	}
	if v.RetryAfter > 0 {
		v.Evidence = append(v.Evidence, "Retry-After: "+v.RetryAfter.String())
	}
	if b := strings.TrimSpace(f.Body); b != "" {
		v.Evidence = append(v.Evidence, "body: "+clip(b, 200))
	}
	return v, true
}

// validationBody reports whether a 400 or 422 body reads as a validation
// error, and which word showed it.
func validationBody(body string) (string, bool) {
	lower := strings.ToLower(body)
	for _, sign := range []string{
		"validation", `"errors"`, "invalid", "is required", "required field", "must be",
		"missing", "unprocessable", "malformed",
	} {
		if strings.Contains(lower, sign) {
			return strconv.Quote(sign), true
		}
	}
	return "", false
}

// retryAfter parses a Retry-After header as seconds or an HTTP date. A date
// is measured from the response's Date header when present, so that a
// skewed local clock does not change the wait, and from time.Now otherwise.
func retryAfter(h http.Header) time.Duration {
	raw := strings.TrimSpace(h.Get("Retry-After"))
	if raw == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(raw, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		const maxSeconds = int64(24 * time.Hour / time.Second)
		return time.Duration(min(secs, maxSeconds)) * time.Second
	}
	at, err := http.ParseTime(raw)
	if err != nil {
		return 0
	}
	now := time.Now()
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		now = date
	}
	if d := at.Sub(now); d > 0 {
		return min(d, 24*time.Hour)
	}
	return 0
}

// classifyError recognises Go error values from the net, syscall and
// context packages.
func classifyError(err error) (Verdict, bool) {
	if err == nil {
		return Verdict{}, false
	}
	v := Verdict{Basis: BasisError, Evidence: []string{"error: " + clip(err.Error(), 200)}}
	var dns *net.DNSError
	var netErr net.Error
	switch {
	case errors.As(err, &dns) && dns.IsNotFound:
		v.Class, v.Confidence, v.Signal = Configuration, 0.8, "dns-not-found"
		v.Fix = fixDNS + " (" + strconv.Quote(dns.Name) + ")"
	case errors.As(err, &dns) && (dns.IsTemporary || dns.IsTimeout):
		v.Class, v.Confidence, v.Signal = Transient, 0.7, "dns-temporary"
	case errors.As(err, &dns):
		v.Class, v.Confidence, v.Signal = Transient, 0.4, "dns-error"
	case errors.Is(err, syscall.ECONNREFUSED):
		v.Class, v.Confidence, v.Signal = Dependency, 0.6, "connection-refused"
		v.Fix = "nothing accepts connections at the destination: check that the service is running"
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		v.Class, v.Confidence, v.Signal = Dependency, 0.5, "host-unreachable"
		v.Fix = "the destination host is unreachable: check the network path and that the host is up"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		v.Class, v.Confidence, v.Signal = Transient, 0.7, "connection-reset"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT):
		v.Class, v.Confidence, v.Signal = Transient, 0.7, "timeout"
		v.Fix = fixTimeout
	case errors.As(err, &netErr) && netErr.Timeout():
		v.Class, v.Confidence, v.Signal = Transient, 0.7, "timeout"
		v.Fix = fixTimeout
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		v.Class, v.Confidence, v.Signal = Transient, 0.5, "unexpected-eof"
	default:
		return Verdict{}, false
	}
	return v, true
}

// textRules map phrases of error text, such as QStash delivery errors that
// arrive only as text, to verdicts. The first matching rule wins.
var textRules = []struct {
	phrases []string
	verdict Verdict
}{
	{[]string{"invalid scheme", "unsupported protocol scheme"},
		Verdict{Class: Configuration, Confidence: 0.9, Signal: "invalid-scheme", Fix: fixScheme}},
	{[]string{"unable to resolve host", "no such host", "name or service not known"},
		Verdict{Class: Configuration, Confidence: 0.8, Signal: "dns-not-found", Fix: fixDNS}},
	{[]string{"stopped after 10 redirects", "too many redirects"},
		Verdict{Class: Configuration, Confidence: 0.85, Signal: "redirect-loop",
			Fix: "the endpoint redirects in a loop: fix the URL or the redirect rules"}},
	{[]string{"context deadline exceeded", "client.timeout exceeded", "i/o timeout", "timed out", "timeout"},
		Verdict{Class: Transient, Confidence: 0.6, Signal: "timeout", Fix: fixTimeout}},
	{[]string{"connection refused"},
		Verdict{Class: Dependency, Confidence: 0.6, Signal: "connection-refused",
			Fix: "nothing accepts connections at the destination: check that the service is running"}},
	{[]string{"connection reset", "broken pipe", "unexpected eof", "server closed"},
		Verdict{Class: Transient, Confidence: 0.6, Signal: "connection-reset"}},
	{[]string{"too many requests", "rate limit"},
		Verdict{Class: Transient, Confidence: 0.7, Signal: "rate-limited"}},
}

// classifyText classifies error text by phrase.
func classifyText(text string) (Verdict, bool) {
	if text == "" {
		return Verdict{}, false
	}
	lower := strings.ToLower(text)
	for _, r := range textRules {
		for _, p := range r.phrases {
			if !strings.Contains(lower, p) {
				continue
			}
			v := r.verdict
			v.Basis = BasisError
			v.Evidence = []string{"error: " + clip(text, 200)}
			return v, true
		}
	}
	return Verdict{}, false
}

// headerValue returns the first value of the header name. It also finds
// keys that were set without canonical case, as in a header map decoded
// from JSON or built by hand.
func headerValue(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}
