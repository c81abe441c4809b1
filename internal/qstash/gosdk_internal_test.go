package qstash

import (
	"context"
	"errors"
	"testing"

	qstashgo "github.com/upstash/qstash-go"
)

func TestCallGoRecoversPanic(t *testing.T) {
	c, err := New("http://127.0.0.1:1", "token")
	if err != nil {
		t.Fatal(err)
	}
	err = c.callGo(context.Background(), false, func(*qstashgo.Client) error { panic("boom") }, nil)
	if !errors.Is(err, ErrPanic) {
		t.Fatalf("error = %v, want ErrPanic", err)
	}
}

func TestAPIPath(t *testing.T) {
	tests := []struct{ path, base, want string }{
		{"/qstash-emu/v2/schedules/abc", "http://127.0.0.1:1/qstash-emu", "/v2/schedules/abc"},
		{"/v2/schedules/https://x.example.com/v2/hook", "https://qstash.upstash.io", "/v2/schedules/https://x.example.com/v2/hook"},
		{"/elsewhere/v2/dlq", "http://decoy/other", "/v2/dlq"},
	}
	for _, tt := range tests {
		if got := apiPath(tt.path, tt.base); got != tt.want {
			t.Errorf("apiPath(%q, %q) = %q, want %q", tt.path, tt.base, got, tt.want)
		}
	}
}

// qstash-go v1.0.0 panics on an empty token; New must reject the token
// before the call ever reaches it.
func TestQStashGoPanicsOnEmptyToken(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Log("qstash-go no longer panics on an empty token; the guard in New stays harmless")
		}
	}()
	qstashgo.NewClientWith(qstashgo.Options{Url: "http://127.0.0.1:1"})
	t.Log("no panic")
}
