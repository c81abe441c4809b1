// Package upstashapi is a client for Upstash's developer API (the
// management API at api.upstash.com), with an in-process emulator of the
// same JSON for tests.
//
// The client authenticates with HTTP Basic auth: the account email as the
// user name and a developer API key as the password. The key never appears
// in errors.
package upstashapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultBaseURL is the developer API's address. Tests point clients at an
// Emulator instead.
const DefaultBaseURL = "https://api.upstash.com"

// maxBody bounds the response bytes read, so a broken server cannot make
// the client buffer without limit.
const maxBody = 16 << 20

// Sentinel errors for conditions callers branch on; an *APIError matches
// them with errors.Is.
var (
	// ErrUnauthorized reports a rejected email or API key (401 or 403).
	ErrUnauthorized = errors.New("upstashapi: unauthorized")
	// ErrNotFound reports an unknown database id (404).
	ErrNotFound = errors.New("upstashapi: not found")
	// ErrRateLimited reports too many requests (429).
	ErrRateLimited = errors.New("upstashapi: rate limited")
)

// APIError is a non-2xx response.
type APIError struct {
	Method     string
	Path       string
	StatusCode int
	// Message is the start of the response body, at most 200 bytes.
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("upstashapi: %s %s: HTTP %d: %s", e.Method, e.Path, e.StatusCode, e.Message)
}

// Is matches the sentinel that fits the status code.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

// Client calls the developer API. It is safe for concurrent use.
type Client struct {
	base   *url.URL
	email  string
	apiKey string
	http   *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithBaseURL sets the API address, which may carry a path prefix. The
// default is DefaultBaseURL.
func WithBaseURL(u string) Option {
	return func(c *Client) {
		if parsed, err := url.Parse(strings.TrimRight(u, "/")); err == nil {
			c.base = parsed
		}
	}
}

// WithHTTPClient sets the HTTP client. The default has a 30-second
// timeout.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) { c.http = h }
}

// New returns a client for the account email and developer API key.
func New(email, apiKey string, opts ...Option) (*Client, error) {
	if email == "" {
		return nil, errors.New("upstashapi: missing account email")
	}
	if apiKey == "" {
		return nil, errors.New("upstashapi: missing API key")
	}
	base, _ := url.Parse(DefaultBaseURL)
	c := &Client{base: base, email: email, apiKey: apiKey, http: &http.Client{Timeout: 30 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	if c.base.Scheme != "http" && c.base.Scheme != "https" {
		return nil, fmt.Errorf("upstashapi: invalid base URL scheme %q: want http or https", c.base.Scheme)
	}
	return c, nil
}

// RedisStats fetches GET /v2/redis/stats/{id}: the database's command,
// bandwidth, latency and billing statistics.
func (c *Client) RedisStats(ctx context.Context, databaseID string) (*RedisStats, error) {
	if err := validID(databaseID); err != nil {
		return nil, err
	}
	var stats RedisStats
	if err := c.get(ctx, "/v2/redis/stats/"+databaseID, &stats); err != nil {
		return nil, err
	}
	return &stats, nil
}

func (c *Client) get(ctx context.Context, path string, out any) error {
	u := *c.base
	u.Path = c.base.Path + path // path holds no bytes that need escaping
	u.RawPath = ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("upstashapi: GET %s: %w", path, err)
	}
	req.SetBasicAuth(c.email, c.apiKey)
	req.Header.Set("Accept", "application/json")

	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("upstashapi: GET %s: %w", path, redact(err, c.apiKey))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("upstashapi: GET %s: read body: %w", path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		msg = strings.ReplaceAll(msg, c.apiKey, "[redacted]")
		return &APIError{Method: http.MethodGet, Path: path, StatusCode: resp.StatusCode, Message: msg}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("upstashapi: GET %s: decode response: %w", path, err)
	}
	return nil
}

// validID rejects database ids that would change the request path. Upstash
// ids are UUIDs, so letters, digits, '-' and '_' suffice.
func validID(id string) error {
	if id == "" {
		return errors.New("upstashapi: missing database id")
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return fmt.Errorf("upstashapi: invalid database id %q: use letters, digits, '-' and '_'", id)
		}
	}
	return nil
}

// redact removes the API key from an error's text; a url.Error would
// otherwise print a URL that carries credentials.
func redact(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[redacted]"))
}
