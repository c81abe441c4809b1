package qstash

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrMissingToken is returned by New for an empty token.
	ErrMissingToken = errors.New("qstash: missing token: set QSTASH_TOKEN or pass the token from the Upstash console")
	// ErrInvalidURL is returned by New for a base URL it cannot use.
	ErrInvalidURL = errors.New("qstash: invalid base URL")
	// ErrNotFound matches an *APIError with status 404.
	ErrNotFound = errors.New("qstash: not found")
	// ErrUnauthorized matches an *APIError with status 401 or 403.
	ErrUnauthorized = errors.New("qstash: unauthorized")
	// ErrRateLimited matches an *APIError with status 429.
	ErrRateLimited = errors.New("qstash: rate limited")
	// ErrDecode matches a *DecodeError: a response that is not the JSON the
	// endpoint documents, such as a truncated body.
	ErrDecode = errors.New("qstash: invalid response body")
	// ErrCursorRepeated matches a listing that stopped because the API sent
	// a page cursor it had sent before, so the listing is incomplete.
	ErrCursorRepeated = errors.New("qstash: page cursor repeated")
	// ErrPanic wraps a panic recovered from the qstash-go client.
	ErrPanic = errors.New("qstash: qstash-go client panicked")
)

// APIError is an error status from the QStash API.
type APIError struct {
	Method, Path string
	StatusCode   int
	// Message is the "error" field of the JSON body, or an excerpt of the
	// body when it is not JSON.
	Message string
	// RetryAfter is the wait the rate-limit headers of a 429 announced, or 0.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("qstash: %s %s: %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

// Is maps the status to ErrNotFound, ErrUnauthorized and ErrRateLimited.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

func newAPIError(method, path string, resp *http.Response, body []byte, now time.Time) *APIError {
	e := &APIError{Method: method, Path: path, StatusCode: resp.StatusCode}
	var payload struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &payload) == nil && payload.Error != "" {
		e.Message = payload.Error
	} else {
		e.Message = strings.TrimSpace(excerpt(body, 200))
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		if wait, known := rateLimitWait(resp.Header, now, 0); known {
			e.RetryAfter = wait
		}
	}
	return e
}

// RequestError is a request that got no HTTP response: a connection error,
// a timeout or a canceled context.
type RequestError struct {
	Method, Path string
	Err          error
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("qstash: %s %s: %v", e.Method, e.Path, e.Err)
}

func (e *RequestError) Unwrap() error { return e.Err }

// DecodeError is a response body that could not be decoded.
type DecodeError struct {
	Method, Path string
	StatusCode   int
	Err          error
	// Excerpt is the start of the body.
	Excerpt string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("qstash: %s %s: status %d with an invalid JSON body (%v): %q", e.Method, e.Path, e.StatusCode, e.Err, e.Excerpt)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Is matches ErrDecode.
func (e *DecodeError) Is(target error) bool { return target == ErrDecode }

// Rate-limit headers QStash sends with 429: the burst (per second) limit and
// the daily limit. Their Reset values are Unix times in seconds. A value too
// small to be one (before 2001) is read as seconds from now, and a value
// above 10^12 as Unix milliseconds.
var resetHeaders = []string{"Burst-RateLimit-Reset", "RateLimit-Reset"}

// maxAnnouncedWait caps the wait read from a header, so that an absurd value
// cannot overflow time.Duration.
const maxAnnouncedWait = 48 * time.Hour

// rateLimitWait returns how long to wait before retrying a 429, and whether
// the headers announced it. Without headers it returns an exponential
// back-off of 250ms doubling per attempt, capped at 8s.
func rateLimitWait(h http.Header, now time.Time, attempt int) (time.Duration, bool) {
	if v := h.Get("Retry-After"); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
			return time.Duration(min(secs, maxAnnouncedWait.Seconds()) * float64(time.Second)), true
		}
		if at, err := http.ParseTime(v); err == nil {
			return min(max(at.Sub(now), 0), maxAnnouncedWait), true
		}
	}
	var latest time.Duration
	known := false
	for _, name := range resetHeaders {
		v := h.Get(name)
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if v == "" || err != nil || n <= 0 {
			continue
		}
		// A daily limit with requests left does not block this request.
		// Without a Remaining header the reset is all there is to go by.
		if remaining := h.Get("RateLimit-Remaining"); name == "RateLimit-Reset" && remaining != "" && remaining != "0" {
			continue
		}
		var wait time.Duration
		switch {
		case n < 1e9: // seconds from now
			wait = time.Duration(min(n, int64(maxAnnouncedWait/time.Second))) * time.Second
		case n > 1e12: // Unix milliseconds
			wait = time.UnixMilli(n).Sub(now)
		default:
			wait = time.Unix(n, 0).Sub(now)
		}
		known = true
		latest = max(latest, min(wait, maxAnnouncedWait))
	}
	if known {
		// Reset times have one-second resolution, so a reset in the current
		// second still needs a short wait.
		return max(latest, 100*time.Millisecond), true
	}
	return min(250*time.Millisecond<<min(attempt, 5), 8*time.Second), false
}
