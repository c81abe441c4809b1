package heal

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
)

var epoch = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// retryResult is what a Retry call running in a goroutine returned.
type retryResult struct {
	verdict Verdict
	err     error
}

// startRetry runs Retry in a goroutine and returns its result channel.
func startRetry(ctx context.Context, fn func(context.Context) error, opts ...RetryOption) <-chan retryResult {
	done := make(chan retryResult, 1)
	go func() {
		v, err := Retry(ctx, fn, opts...)
		done <- retryResult{v, err}
	}()
	return done
}

// advanceWhenWaiting waits until Retry sleeps on clk, then moves clk by d.
func advanceWhenWaiting(t *testing.T, clk *clock.Fake, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatalf("Retry never waited: %v", err)
	}
	clk.Advance(d)
}

// flakyServer answers 503 to the first failures requests, then 200.
func flakyServer(t *testing.T, failures int32, header http.Header) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= failures {
			for k, v := range header {
				w.Header()[k] = v
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func callServer(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return ResponseError(resp)
	}
}

func TestRetryRecoversFromTransient(t *testing.T) {
	srv, calls := flakyServer(t, 2, nil)
	clk := clock.NewFake(epoch)
	done := startRetry(context.Background(), callServer(srv.URL),
		WithRetryClock(clk), WithBackoff(time.Second, time.Minute))

	advanceWhenWaiting(t, clk, time.Second)
	advanceWhenWaiting(t, clk, 2*time.Second)
	got := <-done
	if got.err != nil {
		t.Fatalf("Retry = %v, want nil", got.err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("server got %d calls, want 3", n)
	}
	if got.verdict.Class != Unknown {
		t.Errorf("verdict on success = %v, want zero", got.verdict)
	}
}

func TestRetryStopsOnConfiguration(t *testing.T) {
	var calls int
	v, err := Retry(context.Background(), func(context.Context) error {
		calls++
		return &HTTPError{Status: http.StatusUnauthorized, URL: "https://api.vendor.test/charge"}
	}, WithRetryClock(clock.NewFake(epoch)))
	if calls != 1 {
		t.Errorf("fn called %d times, want 1", calls)
	}
	if v.Class != Configuration {
		t.Errorf("verdict = %v, want configuration", v.Class)
	}
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != 401 {
		t.Errorf("err = %v, want the last *HTTPError", err)
	}
}

func TestRetryStopsOnLogical(t *testing.T) {
	var calls int
	v, _ := Retry(context.Background(), func(context.Context) error {
		calls++
		return &HTTPError{Status: 422, Body: `{"errors":{"email":"is required"}}`}
	}, WithRetryClock(clock.NewFake(epoch)))
	if calls != 1 || v.Class != Logical {
		t.Errorf("calls = %d, class = %v; want 1, logical", calls, v.Class)
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	srv, calls := flakyServer(t, 1, http.Header{"Retry-After": {"10"}})
	clk := clock.NewFake(epoch)
	done := startRetry(context.Background(), callServer(srv.URL),
		WithRetryClock(clk), WithBackoff(100*time.Millisecond, time.Second))

	advanceWhenWaiting(t, clk, 9*time.Second)
	if n := calls.Load(); n != 1 {
		t.Fatalf("after 9s of a 10s Retry-After the server got %d calls, want 1", n)
	}
	clk.Advance(time.Second)
	if got := <-done; got.err != nil {
		t.Fatalf("Retry = %v, want nil", got.err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("server got %d calls, want 2", n)
	}
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	srv, calls := flakyServer(t, 100, nil)
	clk := clock.NewFake(epoch)
	done := startRetry(context.Background(), callServer(srv.URL),
		WithRetryClock(clk), WithMaxAttempts(3), WithBackoff(time.Second, time.Second))
	advanceWhenWaiting(t, clk, time.Second)
	advanceWhenWaiting(t, clk, time.Second)
	got := <-done
	if n := calls.Load(); n != 3 {
		t.Errorf("server got %d calls, want 3", n)
	}
	if got.verdict.Class != Transient || got.verdict.Signal != "http-503" {
		t.Errorf("verdict = %v, want transient http-503", got.verdict)
	}
	var he *HTTPError
	if !errors.As(got.err, &he) {
		t.Errorf("err = %v, want *HTTPError", got.err)
	}
}

func TestRetryStopsBeforeDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	last := &HTTPError{Status: 429, Header: http.Header{"Retry-After": {"3600"}}}
	v, err := Retry(ctx, func(context.Context) error { return last },
		WithRetryClock(clock.NewFake(epoch)))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
	}
	if !errors.Is(err, last) {
		t.Errorf("err = %v, want it to wrap the last error", err)
	}
	if v.RetryAfter != time.Hour {
		t.Errorf("RetryAfter = %v, want 1h", v.RetryAfter)
	}
}

func TestRetryStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clk := clock.NewFake(epoch)
	done := startRetry(ctx, func(context.Context) error { return context.DeadlineExceeded }, WithRetryClock(clk))
	if err := clk.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	got := <-done
	if !errors.Is(got.err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", got.err)
	}
}

func TestNilHTTPErrorDoesNotPanic(t *testing.T) {
	var nilErr *HTTPError
	if got := Classify(Failure{Err: nilErr}); got.Basis == BasisStatus {
		t.Errorf("Classify(nil *HTTPError) = %v, want no status verdict", got)
	}
	if got := nilErr.Error(); got == "" {
		t.Error("(*HTTPError)(nil).Error() is empty, want a message")
	}
	v, err := Retry(context.Background(), func(context.Context) error { return nilErr }, WithMaxAttempts(1))
	if err == nil {
		t.Errorf("Retry = %v, nil; want the typed nil error back", v)
	}
}

func TestResponseErrorNilResponse(t *testing.T) {
	if err := ResponseError(nil); err == nil {
		t.Error("ResponseError(nil) = nil, want an error: a missing response is not a success")
	}
}
