package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRunOnceOnEmbeddedDefaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	noEnv := func(string) string { return "" }
	if err := run(ctx, []string{"-once"}, &out, noEnv); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{"KEYS", "configuration failure", "ratelimit.saturated", "pending approval: raise the limit of client-42", "schedule.endpoint_gone", "pending approval: delete schedule"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}
