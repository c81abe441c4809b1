package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/redistest"
)

func TestQuickstartEmbedded(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	var out bytes.Buffer
	if err := run(context.Background(), &out, io.Discard, 1500*time.Millisecond, 20, "text"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"N+1: GET of qs:user:{id}:profile", "KEYS in production", "EXPIRE after every INCR on qs:hits:home", "MGET"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestQuickstartRealServerJSON(t *testing.T) {
	srv := redistest.Start(t)
	t.Setenv("REDIS_URL", srv.URL())
	var out bytes.Buffer
	if err := run(context.Background(), &out, io.Discard, time.Second, 20, "json"); err != nil {
		t.Fatal(err)
	}
	// The report alone goes to out, so it parses as one JSON document.
	body := out.String()
	var rep struct {
		Findings []struct{ Rule string } `json:"findings"`
	}
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, body)
	}
	rules := map[string]bool{}
	for _, f := range rep.Findings {
		rules[f.Rule] = true
	}
	for _, want := range []string{"n-plus-one", "keys-command", "redundant-ttl-refresh"} {
		if !rules[want] {
			t.Errorf("findings lack %s: %v", want, rules)
		}
	}

	// The demo deletes its keys from a real server.
	n, err := srv.Client(t).DBSize(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d keys left on the server", n)
	}
}

func TestQuickstartRejectsBadFormat(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	err := run(context.Background(), &bytes.Buffer{}, io.Discard, 10*time.Millisecond, 20, "yaml")
	if err == nil || !strings.Contains(err.Error(), `invalid -format "yaml"`) {
		t.Errorf("error = %v, want invalid -format", err)
	}
}
