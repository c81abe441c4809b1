package clock

import (
	"context"
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func TestFakeAfterFiresOnAdvance(t *testing.T) {
	f := NewFake(epoch)
	ch := f.After(time.Minute)
	f.Advance(59 * time.Second)
	select {
	case <-ch:
		t.Fatal("After(1m) fired after 59s")
	default:
	}
	f.Advance(time.Second)
	select {
	case got := <-ch:
		if want := epoch.Add(time.Minute); !got.Equal(want) {
			t.Errorf("After sent %v, want %v", got, want)
		}
	default:
		t.Fatal("After(1m) did not fire after 1m")
	}
	if n := f.Waiters(); n != 0 {
		t.Errorf("Waiters = %d after firing, want 0", n)
	}
}

func TestFakeAfterZeroFiresAtOnce(t *testing.T) {
	f := NewFake(epoch)
	select {
	case <-f.After(0):
	default:
		t.Fatal("After(0) did not fire at once")
	}
}

func TestSleepWakesOnAdvance(t *testing.T) {
	f := NewFake(epoch)
	done := make(chan error, 1)
	go func() { done <- Sleep(context.Background(), f, time.Hour) }()
	if err := f.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	f.Advance(time.Hour)
	if err := <-done; err != nil {
		t.Errorf("Sleep = %v, want nil", err)
	}
}

func TestSleepStopsOnCancel(t *testing.T) {
	f := NewFake(epoch)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, f, time.Hour); err != context.Canceled {
		t.Errorf("Sleep with canceled ctx = %v, want context.Canceled", err)
	}
}

func TestOrDefaultsToReal(t *testing.T) {
	if Or(nil) != Real {
		t.Error("Or(nil) is not Real")
	}
	f := NewFake(epoch)
	if Or(f) != Clock(f) {
		t.Error("Or(f) is not f")
	}
}
