package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDeadlinesShareOneTimerPerTick(t *testing.T) {
	d := newDeadlines(20 * time.Millisecond)
	start := time.Now()
	a, b := d.start(context.Background()), d.start(context.Background())

	da, _ := a.Deadline()
	db, _ := b.Deadline()
	if min := start.Add(20 * time.Millisecond); da.Before(min) || da.After(min.Add(2*d.tick)) {
		t.Fatalf("deadline %v, want within [%v, %v]", da, min, min.Add(2*d.tick))
	}
	if a.Err() != nil {
		t.Fatalf("Err before the deadline = %v", a.Err())
	}
	if da.Equal(db) && a.Done() != b.Done() {
		t.Error("two calls in the same tick got different channels")
	}

	select {
	case <-a.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("context not done 5 s after a 20 ms timeout")
	}
	if !errors.Is(a.Err(), context.DeadlineExceeded) {
		t.Errorf("Err after the deadline = %v, want DeadlineExceeded", a.Err())
	}
	if time.Now().Before(da) {
		t.Errorf("done at %v, before its deadline %v", time.Now(), da)
	}

	// The timer that closed the channel removes the bucket right after.
	waitBucketsDrained(t, d)
}

// waitBucketsDrained polls until d holds no bucket, for at most 5 s.
func waitBucketsDrained(t *testing.T, d *deadlines) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		d.mu.Lock()
		n := len(d.buckets)
		d.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d buckets left 5 s after their deadlines", n)
		}
		<-time.After(time.Millisecond)
	}
}

func TestDeadlinesKeepEarlierParentDeadline(t *testing.T) {
	d := newDeadlines(time.Hour)
	parent, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if got := d.start(parent); got != parent {
		t.Error("a parent that ends before the timeout was wrapped")
	}
}

func TestDeadlinesReportParentCancellation(t *testing.T) {
	d := newDeadlines(time.Hour)
	parent, cancel := context.WithCancel(context.Background())
	ctx := d.start(parent)
	cancel()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("Err after the parent was cancelled = %v, want Canceled", ctx.Err())
	}
	if ctx.Value(tracerName) != nil {
		t.Error("Value of a missing key is not nil")
	}
}
