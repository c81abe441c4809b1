package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/upstash-ops/sdk/internal/clock"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// hangingRedis listens on a loopback port, accepts connections and reads
// from them, but never replies. It returns a client for it whose own read
// timeout is far above the limiter's, with a password that must never
// reach a log or an error.
func hangingRedis(t *testing.T) *redis.Client {
	t.Helper()
	return hangingRedisWith(t, false)
}

// hangingRedisWith is hangingRedis with the client's ContextTimeoutEnabled
// set, which makes the limiter call Redis on the caller's goroutine.
func hangingRedisWith(t *testing.T, contextTimeout bool) *redis.Client {
	t.Helper()
	rdb, _ := signallingHangingRedis(t, contextTimeout)
	return rdb
}

// signallingHangingRedis is hangingRedisWith, and also returns a channel
// that receives once the server has read the first bytes of a command.
func signallingHangingRedis(t *testing.T, contextTimeout bool) (*redis.Client, <-chan struct{}) {
	t.Helper()
	ln, track := listenLoopback(t)
	received := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			track(c)
			go func() {
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					select {
					case received <- struct{}{}:
					default:
					}
				}
			}()
		}
	}()
	rdb := redis.NewClient(&redis.Options{
		Addr:                  ln.Addr().String(),
		Password:              testPassword,
		ReadTimeout:           2 * time.Second,
		WriteTimeout:          2 * time.Second,
		DisableIdentity:       true,
		MaxRetries:            -1,
		ContextTimeoutEnabled: contextTimeout,
	})
	t.Cleanup(func() { rdb.Close() })
	return rdb, received
}

// closeOnCleanup returns a function that records a listener or connection
// to close when the test ends. It is safe for concurrent use.
func closeOnCleanup(t *testing.T) func(io.Closer) {
	var mu sync.Mutex
	var closers []io.Closer
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range closers {
			c.Close()
		}
	})
	return func(c io.Closer) {
		mu.Lock()
		closers = append(closers, c)
		mu.Unlock()
	}
}

// listenLoopback listens on a free 127.0.0.1 port. It returns the listener
// and a function that registers more resources to close when t ends, as the
// listener is.
func listenLoopback(t *testing.T) (net.Listener, func(io.Closer)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	track := closeOnCleanup(t)
	track(ln)
	return ln, track
}

const testPassword = "s3cret-redis-password"

// maxDecisionTime bounds how long a decision may take while Redis hangs:
// the 50 ms timeout plus scheduling slack for a 2-core machine shared with
// other builds. It is far below the client's 2 s read timeout, which is what
// a decision would wait without the limiter's own timeout.
const maxDecisionTime = DefaultTimeout + 350*time.Millisecond

func TestHangingRedisFailurePolicies(t *testing.T) {
	cases := []struct {
		policy      FailurePolicy
		wantAllowed []bool
		wantSource  Source
	}{
		{FailOpen, []bool{true, true, true}, SourceFailOpen},
		{FailClosed, []bool{false, false, false}, SourceFailClosed},
		{FailLocal, []bool{true, true, false}, SourceLocal},
	}
	for _, tc := range cases {
		for _, inline := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/inline=%v", tc.policy, inline), func(t *testing.T) {
				t.Parallel()
				var logs bytes.Buffer
				l, err := New(hangingRedisWith(t, inline), GCRA(2, time.Minute, 2),
					WithFailurePolicy(tc.policy),
					WithClock(clock.NewFake(epoch)),
					WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
				if err != nil {
					t.Fatal(err)
				}
				for i, want := range tc.wantAllowed {
					start := time.Now()
					res, err := l.Allow(context.Background(), "k")
					elapsed := time.Since(start)
					if err != nil {
						t.Fatalf("Allow %d: %v", i+1, err)
					}
					if elapsed > maxDecisionTime {
						t.Errorf("Allow %d took %v while Redis hangs, want at most %v", i+1, elapsed, maxDecisionTime)
					}
					if res.Allowed != want || res.Source != tc.wantSource {
						t.Errorf("Allow %d = allowed %v by %v, want %v by %v", i+1, res.Allowed, res.Source, want, tc.wantSource)
					}
					if !errors.Is(res.Err, ErrTimeout) {
						t.Errorf("Allow %d: Result.Err = %v, want ErrTimeout", i+1, res.Err)
					}
					if !res.Allowed && res.RetryAfter <= 0 {
						t.Errorf("Allow %d: denied with RetryAfter %v, want > 0", i+1, res.RetryAfter)
					}
					if res.Err != nil && strings.Contains(res.Err.Error(), testPassword) {
						t.Errorf("Result.Err contains the Redis password: %v", res.Err)
					}
				}
				if !strings.Contains(logs.String(), "redis failed") {
					t.Errorf("the failure was not logged: %q", logs.String())
				}
				if strings.Contains(logs.String(), testPassword) {
					t.Errorf("the log contains the Redis password: %q", logs.String())
				}
				if l.inline != inline {
					t.Errorf("limiter inline = %v, want %v", l.inline, inline)
				}
			})
		}
	}
}

func TestHangingRedisOtherCalls(t *testing.T) {
	l, err := New(hangingRedis(t), FixedWindow(2, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	if _, err := l.Remaining(ctx, "k"); !errors.Is(err, ErrTimeout) {
		t.Errorf("Remaining = %v, want ErrTimeout", err)
	}
	if err := l.Reset(ctx, "k"); !errors.Is(err, ErrTimeout) {
		t.Errorf("Reset = %v, want ErrTimeout", err)
	}
	if err := l.SetOverride(ctx, "k", 5, time.Minute); !errors.Is(err, ErrTimeout) {
		t.Errorf("SetOverride = %v, want ErrTimeout", err)
	}
	if elapsed := time.Since(start); elapsed > 3*maxDecisionTime {
		t.Errorf("three calls took %v while Redis hangs, want at most %v", elapsed, 3*maxDecisionTime)
	}
}

func TestInFlightBound(t *testing.T) {
	l, err := New(hangingRedis(t), FixedWindow(2, time.Minute), WithMaxInFlight(1), WithTimeout(20*time.Millisecond), WithFailClosed())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The first call times out but its goroutine still waits on the
	// client's read timeout, holding the only slot.
	if res, _ := l.Allow(ctx, "k"); !errors.Is(res.Err, ErrTimeout) {
		t.Fatalf("first Allow: Err = %v, want ErrTimeout", res.Err)
	}
	start := time.Now()
	res, _ := l.Allow(ctx, "k")
	if !errors.Is(res.Err, ErrOverloaded) {
		t.Errorf("second Allow: Err = %v, want ErrOverloaded", res.Err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Millisecond+maxDecisionTime-DefaultTimeout {
		t.Errorf("an overloaded decision took %v, want no wait", elapsed)
	}
}

func TestRefusedConnectionFailsOver(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DisableIdentity: true})
	t.Cleanup(func() { rdb.Close() })
	l, err := New(rdb, SlidingWindow(1, time.Minute), WithFailOpen())
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Allow(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	// go-redis may retry the dial until the timeout, so the cause is
	// either the refused connection or the timeout.
	if !res.Allowed || res.Source != SourceFailOpen || !(errors.Is(res.Err, ErrBackend) || errors.Is(res.Err, ErrTimeout)) {
		t.Errorf("Allow with Redis down = %+v, want allowed by fail_open with the Redis error", res)
	}
}

func TestCanceledContextIsAnError(t *testing.T) {
	l, err := New(hangingRedis(t), FixedWindow(2, time.Minute), WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := l.Allow(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Allow with an expiring context = %v, want context.DeadlineExceeded", err)
	}
}

func TestSpansCarryNoSecrets(t *testing.T) {
	const token = "tok_live_span-secret"
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	l, err := New(hangingRedis(t), FixedWindow(10, time.Minute), WithTracerProvider(tp), WithFailOpen())
	if err != nil {
		t.Fatal(err)
	}
	h := Middleware(l, WithKey(KeyByBearerToken()))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	// The limiter starts its span only inside a recorded trace.
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	req := httptest.NewRequestWithContext(ctx, "GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	h.ServeHTTP(httptest.NewRecorder(), req)
	parent.End()

	spans := recorder.Ended()
	if len(spans) < 2 {
		t.Fatalf("%d spans recorded, want the request's and the Redis call's", len(spans))
	}
	for _, s := range spans {
		text := fmt.Sprint(s.Name(), s.Attributes(), s.Status(), s.Events())
		for _, secret := range []string{token, testPassword} {
			if strings.Contains(text, secret) {
				t.Errorf("span %q contains a secret: %s", s.Name(), text)
			}
		}
	}
}

// closingRedis listens on a loopback port and closes every connection as
// soon as it accepts it.
func closingRedis(t *testing.T, contextTimeout bool) *redis.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	rdb := redis.NewClient(&redis.Options{
		Addr:                  ln.Addr().String(),
		Password:              testPassword,
		DisableIdentity:       true,
		ContextTimeoutEnabled: contextTimeout,
	})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// TestClosingRedisWithinTimeout decides against a Redis that closes every
// connection at once, with go-redis's default retries and dial backoff,
// which alone would hold a call for hundreds of milliseconds.
func TestClosingRedisWithinTimeout(t *testing.T) {
	for _, policy := range []FailurePolicy{FailOpen, FailClosed, FailLocal} {
		for _, inline := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/inline=%v", policy, inline), func(t *testing.T) {
				t.Parallel()
				l, err := New(closingRedis(t, inline), SlidingWindow(5, time.Minute), WithFailurePolicy(policy))
				if err != nil {
					t.Fatal(err)
				}
				for i := range 3 {
					start := time.Now()
					res, err := l.Allow(context.Background(), "k")
					elapsed := time.Since(start)
					if err != nil {
						t.Fatalf("Allow %d: %v", i+1, err)
					}
					if elapsed > maxDecisionTime {
						t.Errorf("Allow %d took %v against a closing Redis, want at most %v", i+1, elapsed, maxDecisionTime)
					}
					if res.Source == SourceRedis || res.Err == nil {
						t.Errorf("Allow %d = %+v, want a decision of the failure policy", i+1, res)
					}
					if res.Err != nil && strings.Contains(res.Err.Error(), testPassword) {
						t.Errorf("Result.Err contains the Redis password: %v", res.Err)
					}
				}
			})
		}
	}
}
