package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestRunAgainstEmulator(t *testing.T) {
	t.Setenv("QSTASH_TOKEN", "")
	t.Setenv("QSTASH_URL", "http://127.0.0.1:1/never-contacted")
	var out bytes.Buffer
	logger := slog.New(slog.DiscardHandler)
	if err := run(context.Background(), &out, logger, "markdown", "http://127.0.0.1:1", "dry-run", "approval"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"zombie: `nightly-report`", "endpoint_gone: `preview-cart-sync`", "misconfigured (bot_challenge)",
		"redirects to https://api.acme.dev/billing/sweep", "duplicates schedule", "delete preview-cart-sync: denied (policy approval)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParsePolicyRejectsAutonomousDelete(t *testing.T) {
	if _, err := parsePolicy("dry-run", "autonomous"); err == nil {
		t.Error("parsePolicy accepted -delete autonomous")
	}
}

func TestRunRejectsUnknownFormat(t *testing.T) {
	t.Setenv("QSTASH_TOKEN", "")
	var out bytes.Buffer
	err := run(context.Background(), &out, slog.New(slog.DiscardHandler), "yaml", "http://127.0.0.1:1", "dry-run", "dry-run")
	if err == nil || !strings.Contains(err.Error(), "yaml") {
		t.Errorf("run(-format yaml) error = %v, want one naming the format", err)
	}
	if out.Len() != 0 {
		t.Errorf("run(-format yaml) printed a report:\n%s", out.String())
	}
}
