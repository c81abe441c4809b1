package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestRunOnceOnEmbeddedDefaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, logs strings.Builder
	noEnv := func(string) string { return "" }
	if err := run(ctx, []string{"-once"}, &out, &logs, noEnv); err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, out.String(), logs.String())
	}
	text := out.String()
	if strings.Contains(text, "token") {
		t.Errorf("-once output shows a dashboard token, want none without a dashboard:\n%s", text)
	}
	if strings.Contains(text, "level=") {
		t.Errorf("-once output contains log lines, want them on stderr:\n%s", text)
	}
	if strings.Contains(text, "at step") {
		t.Errorf("-once output names a step, want none for the demo's unnamed step:\n%s", text)
	}
	if !strings.Contains(logs.String(), "level=") {
		t.Errorf("stderr has no log lines, want the alert log there:\n%s", logs.String())
	}
	for _, want := range []string{"KEYS", "configuration failure", "ratelimit.saturated", "pending approval: raise the limit of client-42", "schedule.endpoint_gone", "pending approval: delete schedule"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

func TestHelpListsEnvironment(t *testing.T) {
	var out, help strings.Builder
	if err := run(context.Background(), []string{"-help"}, &out, &help, func(string) string { return "" }); err != nil {
		t.Fatalf("run -help: %v", err)
	}
	for _, name := range []string{"REDIS_URL", "QSTASH_URL", "QSTASH_TOKEN", "SLACK_WEBHOOK_URL", "DASHBOARD_TOKEN", "real account"} {
		if !strings.Contains(help.String(), name) {
			t.Errorf("-help output lacks %q:\n%s", name, help.String())
		}
	}
}

// serveOutput runs the served example on a free loopback port with env,
// stops it once it prints its serving address, and returns its stdout.
func serveOutput(t *testing.T, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stdoutR, stdoutW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"-addr", "127.0.0.1:0"}, stdoutW, io.Discard, func(k string) string { return env[k] })
		stdoutW.CloseWithError(err)
		done <- err
	}()

	first, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil {
		t.Fatalf("read the serving address: %v", err)
	}
	cancel()
	rest, _ := io.ReadAll(stdoutR)
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	return first + string(rest)
}

func TestServePrintsGeneratedToken(t *testing.T) {
	out := serveOutput(t, nil)
	if !strings.HasPrefix(out, "serving on http://127.0.0.1:") {
		t.Errorf("output = %q, want the serving address first", out)
	}
	if !strings.Contains(out, "/debug/upstashops/login (token ") {
		t.Errorf("output = %q, want the login URL with the generated token", out)
	}
}

func TestServeHidesTokenFromEnvironment(t *testing.T) {
	const token = "token-from-the-environment"
	out := serveOutput(t, map[string]string{"DASHBOARD_TOKEN": token})
	if strings.Contains(out, token) {
		t.Errorf("output = %q shows DASHBOARD_TOKEN, want it kept out", out)
	}
	if strings.Contains(out, "login") {
		t.Errorf("output = %q prints a login line, want none for a token the user chose", out)
	}
}
