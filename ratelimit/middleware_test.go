package ratelimit

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
)

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestMiddlewareHeaders(t *testing.T) {
	f := newFixture(t, FixedWindow(2, time.Minute), WithPrefix(uniquePrefix("mw-headers")))
	f.clock.Advance(10*time.Second + 500*time.Millisecond)
	h := Middleware(f.l, WithLegacyHeaders(), WithPolicyName("per ip"))(okHandler())
	srv := httptest.NewServer(h)
	defer srv.Close()

	type want struct {
		status                int
		rateLimit, retryAfter string
		legacyRemaining       string
	}
	steps := []want{
		{200, `"per_ip";r=1;t=50`, "", "1"},
		{200, `"per_ip";r=0;t=50`, "", "0"},
		{429, `"per_ip";r=0;t=50`, "50", "0"},
	}
	for i, w := range steps {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != w.status {
			t.Errorf("request %d: status %d, want %d", i+1, resp.StatusCode, w.status)
		}
		if got := resp.Header.Get("RateLimit-Policy"); got != `"per_ip";q=2;w=60` {
			t.Errorf("request %d: RateLimit-Policy = %q", i+1, got)
		}
		if got := resp.Header.Get("RateLimit"); got != w.rateLimit {
			t.Errorf("request %d: RateLimit = %q, want %q", i+1, got, w.rateLimit)
		}
		if got := resp.Header.Get("Retry-After"); got != w.retryAfter {
			t.Errorf("request %d: Retry-After = %q, want %q", i+1, got, w.retryAfter)
		}
		if got := resp.Header.Get("X-RateLimit-Remaining"); got != w.legacyRemaining {
			t.Errorf("request %d: X-RateLimit-Remaining = %q, want %q", i+1, got, w.legacyRemaining)
		}
		if got := resp.Header.Get("X-RateLimit-Limit"); got != "2" {
			t.Errorf("request %d: X-RateLimit-Limit = %q, want 2", i+1, got)
		}
	}
}

func TestRetryAfterRounding(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want int64
	}{
		{0, 1},
		{-time.Second, 1},
		{time.Nanosecond, 1},
		{time.Second, 1},
		{time.Second + time.Microsecond, 2},
		{49*time.Second + 500*time.Millisecond, 50},
		{time.Hour, 3600},
	}
	for _, tc := range cases {
		if got := ceilSeconds(tc.d, 1); got != tc.want {
			t.Errorf("ceilSeconds(%v, 1) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

func TestMiddlewareRetryAfterWhileDenied(t *testing.T) {
	// A denial 1 µs before the window ends must still carry Retry-After: 1.
	f := newFixture(t, FixedWindow(1, time.Second), WithPrefix(uniquePrefix("mw-retry")))
	h := Middleware(f.l)(okHandler())
	req := httptest.NewRequest("GET", "/", nil)
	serve(h, req)
	f.clock.Advance(time.Second - time.Microsecond)
	rec := serve(h, req)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("status %d, Retry-After %q; want 429 and 1", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestMiddlewareCostAndDeniedHandler(t *testing.T) {
	f := newFixture(t, TokenBucket(5, time.Minute, 5), WithPrefix(uniquePrefix("mw-cost")))
	var deniedReason Reason
	h := Middleware(f.l,
		WithCost(func(r *http.Request) int { return 3 }),
		WithDeniedHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			res, _ := ResultFromContext(r.Context())
			deniedReason = res.Reason
			w.WriteHeader(http.StatusTeapot)
		})),
	)(okHandler())
	req := httptest.NewRequest("GET", "/", nil)
	if rec := serve(h, req); rec.Code != http.StatusOK {
		t.Fatalf("first request of cost 3: status %d", rec.Code)
	}
	if rec := serve(h, req); rec.Code != http.StatusTeapot || deniedReason != ReasonLimitExceeded {
		t.Errorf("second request of cost 3 with 2 left: status %d, reason %v; want the denied handler with limit_exceeded", rec.Code, deniedReason)
	}
}

func TestMiddlewareKeysHashCredentials(t *testing.T) {
	const token = "tok_live_very-secret-value"
	f := newFixture(t, GCRA(10, time.Minute, 10), WithPrefix(uniquePrefix("mw-secret")))
	ctx := context.Background()
	cases := []struct {
		name   string
		key    KeyFunc
		header string
		value  string
	}{
		{"bearer", KeyByBearerToken(), "Authorization", "Bearer " + token},
		{"api key", KeyByHeader("X-API-Key"), "X-API-Key", token},
	}
	for _, tc := range cases {
		h := Middleware(f.l, WithKey(tc.key))(okHandler())
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set(tc.header, tc.value)
		rec := serve(h, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d", tc.name, rec.Code)
		}
	}
	keys, err := f.rdb.Keys(ctx, "{"+f.l.cfg.prefix+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Errorf("Redis keys %q, want one per credential kind", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, token) {
			t.Errorf("Redis key %q contains the credential", k)
		}
	}
}

func TestMiddlewareMissingCredentialUsesIP(t *testing.T) {
	f := newFixture(t, FixedWindow(1, time.Minute), WithPrefix(uniquePrefix("mw-fallback")))
	h := Middleware(f.l, WithKey(KeyByBearerToken()))(okHandler())
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "198.51.100.7:5555"
	serve(h, req)
	if n, _ := f.rdb.Exists(context.Background(), f.l.StateKey("ip:198.51.100.7")).Result(); n != 1 {
		t.Error("a request without a bearer token was not keyed by its client IP")
	}
}

func TestMiddlewareFailClosed(t *testing.T) {
	l, err := New(hangingRedis(t), FixedWindow(10, time.Minute), WithFailClosed(), WithClock(clock.NewFake(epoch)))
	if err != nil {
		t.Fatal(err)
	}
	rec := serve(Middleware(l)(okHandler()), httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d while Redis hangs under FailClosed, want 503", rec.Code)
	}
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
}

func TestMiddlewareFailOpenServes(t *testing.T) {
	l, err := New(hangingRedis(t), FixedWindow(10, time.Minute), WithFailOpen())
	if err != nil {
		t.Fatal(err)
	}
	rec := serve(Middleware(l)(okHandler()), httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("status %d while Redis hangs under FailOpen, want 200", rec.Code)
	}
}

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	cases := []struct {
		name    string
		remote  string
		trusted []netip.Prefix
		header  string
		values  map[string]string
		want    string
	}{
		{"no proxy trusted ignores spoofed header", "203.0.113.5:4000", nil, "X-Forwarded-For",
			map[string]string{"X-Forwarded-For": "1.1.1.1"}, "203.0.113.5"},
		{"untrusted peer ignores header", "203.0.113.5:4000", proxies, "X-Forwarded-For",
			map[string]string{"X-Forwarded-For": "1.1.1.1"}, "203.0.113.5"},
		{"trusted proxy gives client", "10.0.0.1:4000", proxies, "X-Forwarded-For",
			map[string]string{"X-Forwarded-For": "198.51.100.9"}, "198.51.100.9"},
		{"spoofed left hop ignored", "10.0.0.1:4000", proxies, "X-Forwarded-For",
			map[string]string{"X-Forwarded-For": "1.1.1.1, 198.51.100.9"}, "198.51.100.9"},
		{"chain of trusted proxies", "10.0.0.1:4000", proxies, "X-Forwarded-For",
			map[string]string{"X-Forwarded-For": "1.1.1.1, 198.51.100.9, 10.2.3.4, 10.0.0.9"}, "198.51.100.9"},
		{"every hop trusted gives leftmost", "10.0.0.1:4000", proxies, "X-Forwarded-For",
			map[string]string{"X-Forwarded-For": "10.9.9.9, 10.0.0.2"}, "10.9.9.9"},
		{"garbage hop stops at last address", "10.0.0.1:4000", proxies, "X-Forwarded-For",
			map[string]string{"X-Forwarded-For": "1.1.1.1, nonsense, 10.0.0.2"}, "10.0.0.2"},
		{"forwarded header", "10.0.0.1:4000", proxies, "Forwarded",
			map[string]string{"Forwarded": `for=1.1.1.1, for="[2001:db8::7]:4711";proto=https`}, "2001:db8::7"},
		{"forged forwarded ignored when proxy writes XFF", "10.0.0.1:4000", proxies, "X-Forwarded-For",
			map[string]string{"Forwarded": "for=1.1.1.1", "X-Forwarded-For": "198.51.100.9"}, "198.51.100.9"},
		{"forged XFF ignored when proxy writes forwarded", "10.0.0.1:4000", proxies, "Forwarded",
			map[string]string{"Forwarded": "for=198.51.100.9", "X-Forwarded-For": "1.1.1.1"}, "198.51.100.9"},
		{"ipv6 peer", "[fd00::1]:4000", proxies, "X-Forwarded-For",
			map[string]string{"X-Forwarded-For": "[2001:db8::1]:80"}, "2001:db8::1"},
		{"mapped ipv4 peer", "[::ffff:203.0.113.5]:4000", nil, "X-Forwarded-For", nil, "203.0.113.5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tc.remote
			for k, v := range tc.values {
				req.Header.Set(k, v)
			}
			got, ok := clientIP(req, tc.trusted, tc.header)
			if !ok || got.String() != tc.want {
				t.Errorf("clientIP = %v, %v; want %s", got, ok, tc.want)
			}
		})
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:80", "1.1.1.1, 10.0.0.2", `for=1.1.1.1;proto=http, for="[::1]:80"`)
	f.Add("[fd00::1]:1", ",,, ,", `for=`)
	f.Add("garbage", "[::1", `for="unknown"`)
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	f.Fuzz(func(t *testing.T, remote, xff, forwarded string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = remote
		req.Header.Set("X-Forwarded-For", xff)
		req.Header.Set("Forwarded", forwarded)
		for _, header := range []string{"X-Forwarded-For", "Forwarded"} {
			addr, ok := clientIP(req, trusted, header)
			if !ok {
				continue
			}
			if !addr.IsValid() || addr.Zone() != "" || addr.Is4In6() {
				t.Fatalf("clientIP(%q, %q, %q) = %v, want a valid address without zone or mapping", remote, xff, forwarded, addr)
			}
			peer, _ := parseHost(remote)
			if !isTrusted(peer, trusted) && addr != peer {
				t.Fatalf("untrusted peer %v but clientIP = %v", peer, addr)
			}
		}
	})
}

// uniquePrefix returns a key prefix that no other test or run uses on the
// shared server, even under -count.
func uniquePrefix(name string) string {
	return fmt.Sprintf("%s-%d", name, keySeq.Add(1))
}

// TestMiddlewareRetryAfterCoversWindow checks the rule of the RateLimit
// fields draft that Retry-After must not point before the end of the
// effective window t. A token bucket denial waits for one token while the
// bucket refills in full much later.
func TestMiddlewareRetryAfterCoversWindow(t *testing.T) {
	for name, alg := range map[string]Algorithm{
		"token_bucket":   TokenBucket(1, time.Second, 4),
		"gcra":           GCRA(1, time.Second, 4),
		"sliding_window": SlidingWindow(4, 4*time.Second),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, alg, WithPrefix(uniquePrefix("mw-window")))
			h := Middleware(f.l)(okHandler())
			req := httptest.NewRequest("GET", "/", nil)
			for range 4 {
				serve(h, req)
			}
			rec := serve(h, req)
			if rec.Code != http.StatusTooManyRequests {
				t.Fatalf("fifth request: status %d, want 429", rec.Code)
			}
			var r, window int64
			if _, err := fmt.Sscanf(rec.Header().Get("RateLimit"), `"default";r=%d;t=%d`, &r, &window); err != nil {
				t.Fatalf("RateLimit %q: %v", rec.Header().Get("RateLimit"), err)
			}
			retry, err := strconv.ParseInt(rec.Header().Get("Retry-After"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			if retry < window {
				t.Errorf("Retry-After %d is before the end of the effective window t=%d", retry, window)
			}
		})
	}
}

// TestMiddlewareHeaderIntegersInRange checks that q and r stay within the
// 15 digits of a Structured Fields Integer (RFC 9651) for the largest
// limits.
func TestMiddlewareHeaderIntegersInRange(t *testing.T) {
	f := newFixture(t, GCRA(math.Inf(1), time.Second, math.Inf(1)), WithPrefix(uniquePrefix("mw-huge")))
	rec := serve(Middleware(f.l, WithLegacyHeaders())(okHandler()), httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	const maxSFInteger = 999_999_999_999_999
	var q, w, r, reset int64
	if _, err := fmt.Sscanf(rec.Header().Get("RateLimit-Policy"), `"default";q=%d;w=%d`, &q, &w); err != nil {
		t.Fatalf("RateLimit-Policy %q: %v", rec.Header().Get("RateLimit-Policy"), err)
	}
	if _, err := fmt.Sscanf(rec.Header().Get("RateLimit"), `"default";r=%d;t=%d`, &r, &reset); err != nil {
		t.Fatalf("RateLimit %q: %v", rec.Header().Get("RateLimit"), err)
	}
	for name, v := range map[string]int64{"q": q, "w": w, "r": r, "t": reset} {
		if v < 0 || v > maxSFInteger {
			t.Errorf("%s=%d is outside a Structured Fields Integer", name, v)
		}
	}
}

// TestMiddlewareIPv6KeyedByPrefix sends from two addresses of one /64, as a
// client that holds the prefix can, and from another /64.
func TestMiddlewareIPv6KeyedByPrefix(t *testing.T) {
	f := newFixture(t, FixedWindow(1, time.Minute), WithPrefix(uniquePrefix("mw-ipv6")))
	h := Middleware(f.l)(okHandler())
	send := func(remote string) int {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = remote
		return serve(h, req).Code
	}
	if code := send("[2001:db8:1:2::1]:5000"); code != http.StatusOK {
		t.Fatalf("first request: status %d", code)
	}
	if code := send("[2001:db8:1:2:ffff::9]:5001"); code != http.StatusTooManyRequests {
		t.Errorf("second address of the same /64: status %d, want 429", code)
	}
	if code := send("[2001:db8:1:3::1]:5000"); code != http.StatusOK {
		t.Errorf("address of another /64: status %d, want 200", code)
	}
	if code := send("198.51.100.7:5000"); code != http.StatusOK {
		t.Errorf("IPv4 client: status %d, want 200", code)
	}

	perAddress := Middleware(f.l, WithIPv6PrefixLength(128))(okHandler())
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "[2001:db8:9::5]:1"
	if code := serve(perAddress, req).Code; code != http.StatusOK {
		t.Errorf("per-address keys: status %d, want 200", code)
	}
	req.RemoteAddr = "[2001:db8:9::6]:1"
	if code := serve(perAddress, req).Code; code != http.StatusOK {
		t.Errorf("per-address keys, second address: status %d, want 200", code)
	}
}
