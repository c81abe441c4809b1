package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/upstash-ops/sdk/internal/redistest"
)

func TestDemoEmbedded(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"10:05 raise applied acme     trusted key at 45 per 1m0s, 90% of its limit 50 and 4.5x its baseline: raised to 100 for 1h0m0s",
		"10:25 tighten applied k-7f3a   unknown key at 40 per 1m0s, 20.0x its baseline of 2.0: limit cut from 50 to 25",
		"limit cut from 25 to 12.5",
		"acme     allowed  2025  denied     0  limit now 50/min", // the raise expired
		"beta     allowed  1200  denied     0  limit now 50/min",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "applied beta") || strings.Contains(got, "recommended beta") {
		t.Errorf("beta's steady traffic changed its limit:\n%s", got)
	}
}

func TestDemoRealServer(t *testing.T) {
	srv := redistest.Start(t)
	t.Setenv("REDIS_URL", srv.URL())
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"raise applied acme",
		"tighten applied k-7f3a",
		"acme     allowed  2025  denied     0  limit now 100/min", // TTLs run on the server's clock
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	keys, err := srv.Client(t).Keys(context.Background(), "*adaptive-demo-*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("the demo left keys behind: %v", keys)
	}
}
