package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// KeyFunc returns the rate-limit key of a request. An error, such as
// ErrNoKey, makes the middleware fall back to the client IP key.
type KeyFunc func(r *http.Request) (string, error)

// ErrNoKey reports that a request carries no value for the key function,
// for example no API key header.
var ErrNoKey = errors.New("ratelimit: request has no rate-limit key")

// KeyByHeader returns a KeyFunc that keys requests by the value of the
// header name, such as "X-API-Key". The value is hashed with SHA-256 before
// it becomes part of a Redis key, so API keys never reach Redis, logs or
// errors in the clear. A request without the header has no key (ErrNoKey).
func KeyByHeader(name string) KeyFunc {
	return func(r *http.Request) (string, error) {
		v := strings.TrimSpace(r.Header.Get(name))
		if v == "" {
			return "", ErrNoKey
		}
		return "key:" + hashSecret(v), nil
	}
}

// KeyByBearerToken returns a KeyFunc that keys requests by the token of an
// "Authorization: Bearer" header, hashed with SHA-256 like KeyByHeader. A
// request without a bearer token has no key (ErrNoKey).
func KeyByBearerToken() KeyFunc {
	return func(r *http.Request) (string, error) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return "", ErrNoKey
		}
		return "bearer:" + hashSecret(token), nil
	}
}

// hashSecret returns the first 128 bits of the SHA-256 of s in hex: enough
// to keep distinct credentials apart, and irreversible for the random,
// high-entropy tokens that API keys are.
func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

type middlewareConfig struct {
	key           KeyFunc
	trusted       []netip.Prefix
	forwardHeader string
	cost          func(*http.Request) int
	denied        http.Handler
	legacy        bool
	policy        string
	ipv6Bits      int
}

// MiddlewareOption configures Middleware.
type MiddlewareOption interface{ applyMiddleware(*middlewareConfig) }

type middlewareOptionFunc func(*middlewareConfig)

func (f middlewareOptionFunc) applyMiddleware(c *middlewareConfig) { f(c) }

// WithKey sets how requests are keyed. The default keys by client IP (see
// WithTrustedProxies); KeyByHeader and KeyByBearerToken key by credentials.
func WithKey(f KeyFunc) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) { c.key = f })
}

// WithTrustedProxies sets the proxies whose forwarding header is believed
// when the middleware finds the client IP. By default no proxy is trusted
// and the key is the peer address of the connection, so a client cannot
// pick its own key by sending X-Forwarded-For.
func WithTrustedProxies(prefixes ...netip.Prefix) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) { c.trusted = append(c.trusted, prefixes...) })
}

// WithIPv6PrefixLength sets how many leading bits of an IPv6 client
// address form its key. The default is 64, because one client, a home
// network or a cloud instance, usually holds a whole /64 and can send from
// any address in it. 128 keys each address on its own; values outside
// [0, 128] keep the default. IPv4 clients are keyed by address.
func WithIPv6PrefixLength(bits int) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) {
		if bits >= 0 && bits <= 128 {
			c.ipv6Bits = bits
		}
	})
}

// WithForwardedHeader names the header that the trusted proxies write:
// "X-Forwarded-For" (the default) or "Forwarded" (RFC 7239). Only that
// header is read, because a proxy that appends to one of them passes a
// client's forged copy of the other through untouched.
func WithForwardedHeader(name string) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) { c.forwardHeader = name })
}

// WithCost sets the cost of each request. The default is 1; a cost below 1
// counts as 1.
func WithCost(f func(*http.Request) int) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) { c.cost = f })
}

// WithDeniedHandler sets the handler for denied requests. It runs after the
// rate-limit headers are set and can read the decision with
// ResultFromContext. The default responds with 429 Too Many Requests, or with 503
// Service Unavailable when the FailClosed policy denied because Redis failed.
func WithDeniedHandler(h http.Handler) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) { c.denied = h })
}

// WithLegacyHeaders adds X-RateLimit-Limit, X-RateLimit-Remaining and
// X-RateLimit-Reset (delta-seconds) to every response, for clients that
// predate the RateLimit fields.
func WithLegacyHeaders() MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) { c.legacy = true })
}

// WithPolicyName sets the policy name in the RateLimit and RateLimit-Policy
// fields. The default is "default". Characters other than ASCII letters,
// digits, '-', '_' and '.' become '_'.
func WithPolicyName(name string) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) { c.policy = name })
}

type resultKey struct{}

// ResultFromContext returns the decision that Middleware made for the
// request whose context ctx is.
func ResultFromContext(ctx context.Context) (Result, bool) {
	r, ok := ctx.Value(resultKey{}).(Result)
	return r, ok
}

// Middleware returns net/http middleware that decides every request with l
// before it reaches the next handler. Every response carries the
// RateLimit-Policy and RateLimit fields of the IETF draft
// (draft-ietf-httpapi-ratelimit-headers-11), for example
//
//	RateLimit-Policy: "default";q=100;w=60
//	RateLimit: "default";r=42;t=17
//
// with delta-seconds, and a denial carries Retry-After in delta-seconds,
// rounded up and at least 1. When Redis fails, the limiter's failure policy
// decides; the middleware never responds with 500 for a Redis failure.
func Middleware(l *Limiter, opts ...MiddlewareOption) func(http.Handler) http.Handler {
	cfg := middlewareConfig{forwardHeader: "X-Forwarded-For", policy: "default", ipv6Bits: 64}
	for _, opt := range opts {
		opt.applyMiddleware(&cfg)
	}
	cfg.policy = sanitizePolicyName(cfg.policy)
	if cfg.denied == nil {
		cfg.denied = http.HandlerFunc(defaultDenied)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := cfg.requestKey(r)
			cost := 1
			if cfg.cost != nil {
				cost = max(cfg.cost(r), 1)
			}

			res, err := l.AllowN(r.Context(), key, cost)
			if err != nil {
				// The client went away before a decision.
				http.Error(w, "rate limit decision canceled", http.StatusServiceUnavailable)
				return
			}

			cfg.setHeaders(w.Header(), res)
			r = r.WithContext(context.WithValue(r.Context(), resultKey{}, res))
			if !res.Allowed {
				cfg.denied.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// requestKey returns the key for r: the key function's, else "ip:" and the
// client IP (for IPv6, its prefix of ipv6Bits bits, such as
// "2001:db8:1:2::/64"), else "ip:unknown".
func (c *middlewareConfig) requestKey(r *http.Request) string {
	if c.key != nil {
		if key, err := c.key(r); err == nil {
			return key
		}
	}
	addr, ok := clientIP(r, c.trusted, c.forwardHeader)
	if !ok {
		return "ip:unknown"
	}
	if addr.Is6() && c.ipv6Bits < 128 {
		prefix, _ := addr.Prefix(c.ipv6Bits)
		return "ip:" + prefix.String()
	}
	return "ip:" + addr.String()
}

// maxFieldInteger is the largest Integer of HTTP Structured Fields
// (RFC 9651), which the RateLimit fields use; larger counts are sent as it.
const maxFieldInteger = 999_999_999_999_999

// setHeaders sets the RateLimit fields, the legacy ones when configured,
// and Retry-After on a denial. On a denial the effective window t is at
// most Retry-After, because the draft forbids a Retry-After that ends
// before the window: a bucket may take far longer to refill in full than
// to admit the next request.
func (c *middlewareConfig) setHeaders(h http.Header, res Result) {
	quota := min(quotaUnits(res.Limit), maxFieldInteger)
	window := ceilSeconds(res.Period, 1)
	reset := ceilSeconds(res.ResetAfter, 0)
	remaining := min(max(res.Remaining, 0), maxFieldInteger)
	if !res.Allowed {
		retry := ceilSeconds(res.RetryAfter, 1)
		reset = min(reset, retry)
		h.Set("Retry-After", strconv.FormatInt(retry, 10))
	}
	h.Set("RateLimit-Policy", fmt.Sprintf("%q;q=%d;w=%d", c.policy, quota, window))
	h.Set("RateLimit", fmt.Sprintf("%q;r=%d;t=%d", c.policy, remaining, reset))
	if c.legacy {
		h.Set("X-RateLimit-Limit", strconv.FormatInt(quota, 10))
		h.Set("X-RateLimit-Remaining", strconv.FormatInt(remaining, 10))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
	}
}

func defaultDenied(w http.ResponseWriter, r *http.Request) {
	res, _ := ResultFromContext(r.Context())
	if res.Reason == ReasonBackendFailure {
		http.Error(w, "rate limiter unavailable, retry later", http.StatusServiceUnavailable)
		return
	}
	http.Error(w, "rate limit exceeded, retry after "+w.Header().Get("Retry-After")+" s", http.StatusTooManyRequests)
}

// ceilSeconds rounds d up to whole seconds, and to at least floor.
func ceilSeconds(d time.Duration, floor int64) int64 {
	s := int64(d / time.Second)
	if d%time.Second > 0 {
		s++
	}
	return max(s, floor)
}

// quotaUnits is the limit as the whole number of units a header can carry.
func quotaUnits(limit float64) int64 {
	return int64(min(math.Floor(limit), MaxLimit))
}

func sanitizePolicyName(name string) string {
	if name == "" {
		return "default"
	}
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}
