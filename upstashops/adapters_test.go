package upstashops

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/correlate"
	"github.com/upstash-ops/sdk/ratelimit"
)

func TestRateLimitReviewRaisesLimit(t *testing.T) {
	rdb, prefix := testRedis(t)
	lim, err := ratelimit.New(rdb, ratelimit.FixedWindow(20, time.Hour), ratelimit.WithPrefix(fmt.Sprintf("rl%d", prefixSeq.Add(1))), ratelimit.WithoutDenyCache())
	if err != nil {
		t.Fatal(err)
	}
	op := newTestOperator(t, WithRedis(rdb), prefix, WithoutDefaultJobs(), WithRateLimiter(lim),
		WithPolicy(ObserveOnly.With(ActionRateLimitChange, Autonomous)))
	review := op.RateLimitReview()
	if review == nil {
		t.Fatal("RateLimitReview() = nil after WithRateLimiter")
	}
	ctx := ctxT(t)
	for range 150 {
		if _, err := review.AllowN(ctx, "tenant-a", 1); err != nil {
			t.Fatal(err)
		}
	}
	for range 120 { // a quiet key that never comes close to its limit
		review.Observe("tenant-b", ratelimit.Result{Allowed: true, Limit: 1000, Remaining: 999})
	}
	findings, err := op.RunOnce(ctx, RateLimitJob)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, f := range findings {
		kinds[f.Subject] = f.Kind
	}
	if kinds["tenant-a"] != "ratelimit.saturated" || kinds["tenant-b"] != "ratelimit.oversized" {
		t.Fatalf("findings by key = %v", kinds)
	}
	got, err := lim.EffectiveLimit(ctx, "tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	if got != 30 {
		t.Errorf("limit after the autonomous change = %v, want 30", got)
	}
	// The next window starts empty: nothing to report.
	if findings, _ := op.RunOnce(ctx, RateLimitJob); len(findings) != 0 {
		t.Errorf("second run found %v, want nothing", findings)
	}
}

func TestCorrelationJobReportsCollectorError(t *testing.T) {
	det, err := correlate.NewDetector()
	if err != nil {
		t.Fatal(err)
	}
	cor, err := correlate.NewCorrelator()
	if err != nil {
		t.Fatal(err)
	}
	clk := fakeClock()
	var n int
	good := correlate.CollectorFunc(func(context.Context) ([]correlate.Sample, error) {
		n++
		return []correlate.Sample{{Series: "app.requests", Time: clk.Now(), Value: 100 + math.Sin(float64(n))}}, nil
	})
	bad := correlate.CollectorFunc(func(context.Context) ([]correlate.Sample, error) {
		return nil, errors.New("vector info: status 503")
	})
	op := newTestOperator(t, WithClock(clk), WithJob(NewCorrelationJob(det, cor, good, bad)))
	_, err = op.RunOnce(ctxT(t), CorrelationJob)
	if err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Fatalf("err = %v, want the failing collector's error", err)
	}
	if n != 1 {
		t.Errorf("good collector read %d times, want 1 despite the other failing", n)
	}
}

func TestRecentFindingsExpireAndBound(t *testing.T) {
	r := newRecentFindings(time.Hour, 2)
	r.add(Finding{Kind: "k", Subject: "a"}, epoch)
	r.add(Finding{Kind: "k", Subject: "b"}, epoch.Add(time.Minute))
	r.add(Finding{Kind: "k", Subject: "a"}, epoch.Add(2*time.Minute)) // seen again: kept, first seen unchanged
	r.add(Finding{Kind: "k", Subject: "c"}, epoch.Add(3*time.Minute)) // over the bound: b, seen least recently, goes
	var subjects []string
	for _, f := range r.open(epoch.Add(30 * time.Minute)) {
		subjects = append(subjects, f.Subject)
	}
	if strings.Join(subjects, ",") != "a,c" && strings.Join(subjects, ",") != "c,a" {
		t.Errorf("open = %v, want a and c", subjects)
	}
	if got := r.open(epoch.Add(2 * time.Hour)); len(got) != 0 {
		t.Errorf("after keep passed, open = %v", got)
	}
}

func TestRateLimitReviewSeesMiddleware(t *testing.T) {
	rdb, prefix := testRedis(t)
	review := NewRateLimitReview()
	lim, err := ratelimit.New(rdb, ratelimit.FixedWindow(20, time.Hour), ratelimit.WithPrefix(fmt.Sprintf("rl%d", prefixSeq.Add(1))),
		ratelimit.WithoutDenyCache(), ratelimit.WithOnDecision(review.Observe))
	if err != nil {
		t.Fatal(err)
	}
	op := newTestOperator(t, WithRedis(rdb), prefix, WithoutDefaultJobs(), WithRateLimitReview(review, lim))
	if op.RateLimitReview() != review {
		t.Fatal("RateLimitReview() is not the review given to WithRateLimitReview")
	}
	h := ratelimit.Middleware(lim, ratelimit.WithKey(ratelimit.KeyByHeader("X-Tenant")))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for range 150 {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("X-Tenant", "tenant-a")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	ctx := ctxT(t)
	for range 10 { // through the review: counted once, not twice
		if _, err := review.AllowN(ctx, "tenant-c", 1); err != nil {
			t.Fatal(err)
		}
	}
	review.mu.Lock()
	c := *review.keys["tenant-c"]
	review.mu.Unlock()
	if c.allowed != 10 {
		t.Errorf("tenant-c allowed count = %d, want 10", c.allowed)
	}

	findings, err := op.RunOnce(ctx, RateLimitJob)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 1 || findings[0].Kind != "ratelimit.saturated" {
		t.Fatalf("findings = %+v, want one ratelimit.saturated", findings)
	}
	// Each request is counted at most once. A Redis call that times out on
	// a loaded machine is decided by the failure policy, which the review
	// does not count, so fewer than 150 may be.
	allowed, _ := strconv.Atoi(findings[0].Evidence[0].Value)
	denied, _ := strconv.Atoi(findings[0].Evidence[1].Value)
	if total := allowed + denied; total < 100 || total > 150 {
		t.Errorf("decisions counted = %d allowed + %d denied, want 100 to 150", allowed, denied)
	}
}

// TestRateLimitReviewIgnoresFailurePolicy feeds the review decisions made
// while Redis was down: they say nothing about the key's traffic against
// its limit, so they must not yield a proposal to raise or lower it.
func TestRateLimitReviewIgnoresFailurePolicy(t *testing.T) {
	review := NewRateLimitReview()
	outage := errors.New("dial tcp 127.0.0.1:6379: connection refused")
	for range 150 {
		review.Observe("closed", ratelimit.Result{Allowed: false, Limit: 20, Source: ratelimit.SourceFailClosed, Err: outage})
		review.Observe("open", ratelimit.Result{Allowed: true, Limit: 20, Remaining: 20, Source: ratelimit.SourceFailOpen, Err: outage})
	}
	res, err := review.Run(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 0 {
		t.Errorf("findings from failure-policy decisions = %+v, want none", res.Findings)
	}
}
