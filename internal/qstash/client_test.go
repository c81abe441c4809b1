package qstash_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/qstash"
	"github.com/upstash-ops/sdk/internal/qstashemu"
)

var epoch = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func newPair(t *testing.T, opts ...qstash.Option) (*qstashemu.Server, *qstash.Client, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(epoch)
	s := qstashemu.StartT(t, qstashemu.WithClock(clk))
	c, err := qstash.New(s.URL(), s.Token(), append([]qstash.Option{qstash.WithClock(clk)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s, c, clk
}

// advanceWhileWaiting moves clk forward whenever something waits on it,
// until the test ends.
func advanceWhileWaiting(t *testing.T, clk *clock.Fake) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for clk.BlockUntil(ctx, 1) == nil {
			clk.Advance(time.Second)
		}
	}()
}

func TestNewEmptyTokenIsError(t *testing.T) {
	for _, token := range []string{"", "  "} {
		c, err := qstash.New("http://127.0.0.1:1", token)
		if !errors.Is(err, qstash.ErrMissingToken) || c != nil {
			t.Errorf("New(token %q) = %v, %v; want ErrMissingToken", token, c, err)
		}
	}
	if _, err := qstash.New("ftp://x", "t"); !errors.Is(err, qstash.ErrInvalidURL) {
		t.Errorf("New(ftp URL) error = %v, want ErrInvalidURL", err)
	}
}

func TestQStashURLEnvIgnored(t *testing.T) {
	decoy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request reached the QSTASH_URL server: %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusTeapot)
	}))
	defer decoy.Close()
	t.Setenv("QSTASH_URL", decoy.URL+"/elsewhere")

	s, c, _ := newPair(t)
	id, _ := s.AddSchedule(qstashemu.Schedule{Cron: "0 * * * *", Destination: "https://example.com/v2/hook"})
	if err := c.PauseSchedule(context.Background(), id); err != nil {
		t.Fatalf("PauseSchedule: %v", err)
	}
	if sc, _ := s.Schedule(id); !sc.Paused {
		t.Errorf("schedule not paused on the configured server")
	}
}

func TestStatusKeptOnQStashGoErrors(t *testing.T) {
	_, c, _ := newPair(t)
	err := c.DeleteSchedule(context.Background(), "missing")
	var apiErr *qstash.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || !errors.Is(err, qstash.ErrNotFound) {
		t.Fatalf("DeleteSchedule(missing) error = %v, want *APIError 404", err)
	}
	if apiErr.Method != http.MethodDelete || apiErr.Path != "/v2/schedules/missing" {
		t.Errorf("APIError = %+v", apiErr)
	}
}

func TestUnauthorizedKeepsTokenSecret(t *testing.T) {
	s := qstashemu.StartT(t)
	const secret = "sk-very-secret-token"
	c, _ := qstash.New(s.URL(), secret)
	_, err := c.ListSchedules(context.Background())
	if !errors.Is(err, qstash.ErrUnauthorized) {
		t.Fatalf("error = %v, want ErrUnauthorized", err)
	}
	err2 := c.PauseSchedule(context.Background(), "x")
	for _, e := range []error{err, err2} {
		if strings.Contains(e.Error(), secret) {
			t.Errorf("error reveals the token: %v", e)
		}
	}
}

func TestRateLimitMidPagination(t *testing.T) {
	s, c, clk := newPair(t)
	advanceWhileWaiting(t, clk)
	id, _ := s.AddSchedule(qstashemu.Schedule{Cron: "0 * * * *", Destination: "https://example.com/a"})
	for h := range 50 {
		_, _ = s.Trigger(id, epoch.Add(-time.Duration(h)*time.Hour), qstashemu.OK())
	}
	// Fail the second and third page requests with 429.
	s.InjectRateLimit("/v2/events", 1, 2, 2*time.Second)

	n := 0
	err := c.EachEvent(context.Background(), qstash.EventFilter{ScheduleID: id}, 40, func(qstash.Event) bool { n++; return true })
	if err != nil {
		t.Fatalf("EachEvent: %v", err)
	}
	// Each trigger with one successful attempt makes 3 events.
	if n != 150 {
		t.Fatalf("read %d events, want 150", n)
	}
	if got := s.RequestCounts()["GET /v2/events"]; got != 6 {
		t.Errorf("events requests = %d, want 6 (4 pages + 2 rate-limited)", got)
	}
}

func TestRateLimitBeyondMaxWait(t *testing.T) {
	s, c, _ := newPair(t, qstash.WithMaxRateLimitWait(time.Second))
	s.InjectRateLimit("/v2/schedules", 0, 1, time.Hour)
	_, err := c.ListSchedules(context.Background())
	var apiErr *qstash.APIError
	if !errors.As(err, &apiErr) || !errors.Is(err, qstash.ErrRateLimited) {
		t.Fatalf("error = %v, want a rate-limited *APIError", err)
	}
	if apiErr.RetryAfter != time.Hour {
		t.Errorf("RetryAfter = %v, want 1h", apiErr.RetryAfter)
	}
}

func TestRateLimitThroughQStashGo(t *testing.T) {
	s, c, clk := newPair(t)
	advanceWhileWaiting(t, clk)
	id, _ := s.AddSchedule(qstashemu.Schedule{Cron: "0 * * * *", Destination: "https://example.com/a"})
	s.InjectRateLimit("/v2/schedules", 0, 2, time.Second)
	if err := c.DeleteSchedule(context.Background(), id); err != nil {
		t.Fatalf("DeleteSchedule: %v", err)
	}
	if _, ok := s.Schedule(id); ok {
		t.Errorf("schedule still exists")
	}
}

func TestMalformedJSON(t *testing.T) {
	tests := []struct{ name, body string }{
		{"truncated", `[{"scheduleId":"a","cron":"0 * * *`},
		{"html", `<html>oops</html>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c, _ := newPair(t)
			s.InjectFault(qstashemu.Fault{Path: "/v2/schedules", Status: 200, Body: tt.body})
			_, err := c.ListSchedules(context.Background())
			var decErr *qstash.DecodeError
			if !errors.Is(err, qstash.ErrDecode) || !errors.As(err, &decErr) || decErr.StatusCode != 200 {
				t.Fatalf("error = %v, want a *DecodeError", err)
			}
		})
	}
}

func TestContextHonoured(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)

	c, _ := qstash.New(slow.URL, "t", qstash.WithTimeout(50*time.Millisecond))
	if _, err := c.ListSchedules(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("raw call error = %v, want DeadlineExceeded", err)
	}
	if err := c.PauseSchedule(context.Background(), "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("qstash-go call error = %v, want DeadlineExceeded", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ListSchedules(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled call error = %v, want Canceled", err)
	}
}

func TestTolerantDecoding(t *testing.T) {
	var e qstash.Event
	raw := `{"time":"1793534400000","state":"CANCELLED","responseStatus":"503","responseBody":"YnVzeQ==",
		"responseHeaders":{"retry-after":"5"},"scheduleId":"s","unknown":{"x":1}}`
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		t.Fatal(err)
	}
	if e.State != qstash.StateCanceled || e.ResponseStatus != 503 || string(e.ResponseBody) != "busy" ||
		e.ResponseHeaders.Get("Retry-After") != "5" || !e.Time.Equal(epoch) {
		t.Errorf("event = %+v", e)
	}
	var sc qstash.Schedule
	if err := json.Unmarshal([]byte(`{"scheduleId":"a","callerIp":"10.0.0.1","delay":"10s","retries":"2","isPaused":"true"}`), &sc); err != nil {
		t.Fatal(err)
	}
	if sc.CallerIP != "10.0.0.1" || sc.Delay != 10*time.Second || sc.Retries != 2 || !sc.Paused || sc.Method != "POST" {
		t.Errorf("schedule = %+v", sc)
	}
}

func FuzzDecodeEvents(f *testing.F) {
	f.Add([]byte(`{"cursor":"1-2","events":[{"time":1,"state":"FAILED","responseStatus":500,"responseBody":"eA=="}]}`))
	f.Add([]byte(`{"events":[{"time":"x","responseHeaders":{"a":["b"],"c":"d"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var page struct {
			Cursor string         `json:"cursor"`
			Events []qstash.Event `json:"events"`
		}
		if json.Unmarshal(data, &page) != nil {
			return
		}
		for _, e := range page.Events {
			if e.State != strings.ToUpper(e.State) {
				t.Fatalf("state %q not normalized", e.State)
			}
		}
	})
}

func TestPagingStopsOnCursorCycle(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		// Cursors go a, b, c, a, b, c...; after 60 requests the cycle ends
		// so that a failing test stops.
		next := map[string]string{"": "a", "a": "b", "b": "c", "c": "a"}[r.URL.Query().Get("cursor")]
		if n >= 60 {
			next = ""
		}
		fmt.Fprintf(w, `{"cursor":%q,"events":[],"messages":[]}`, next)
	}))
	defer srv.Close()
	c, err := qstash.New(srv.URL, "token")
	if err != nil {
		t.Fatal(err)
	}

	err = c.EachEvent(context.Background(), qstash.EventFilter{}, 0, func(qstash.Event) bool { return true })
	if !errors.Is(err, qstash.ErrCursorRepeated) {
		t.Errorf("EachEvent error = %v, want ErrCursorRepeated", err)
	}
	if n := requests.Swap(0); n > 4 {
		t.Errorf("EachEvent sent %d requests over a three-cursor cycle, want at most 4", n)
	}

	err = c.EachDLQ(context.Background(), qstash.DLQFilter{}, func(qstash.DLQMessage) bool { return true })
	if !errors.Is(err, qstash.ErrCursorRepeated) {
		t.Errorf("EachDLQ error = %v, want ErrCursorRepeated", err)
	}
	if n := requests.Load(); n > 4 {
		t.Errorf("EachDLQ sent %d requests over a three-cursor cycle, want at most 4", n)
	}
}

func TestWrongKindFieldsDecodeAsZero(t *testing.T) {
	var e qstash.Event
	raw := `{"time":1793534400000,"messageId":42,"state":"FAILED","error":{"reason":"x"},"responseStatus":500,"url":["u"]}`
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		t.Fatalf("event with wrong-kind fields: %v", err)
	}
	if e.State != qstash.StateFailed || e.ResponseStatus != 500 || e.MessageID != "" || e.Error != "" {
		t.Errorf("event = %+v", e)
	}

	var sc qstash.Schedule
	if err := json.Unmarshal([]byte(`{"scheduleId":"a","cron":"0 * * * *","lastScheduleStates":["x"],"callback":1}`), &sc); err != nil {
		t.Fatalf("schedule with wrong-kind fields: %v", err)
	}
	if sc.ID != "a" || sc.Cron != "0 * * * *" {
		t.Errorf("schedule = %+v", sc)
	}

	var d qstash.DLQMessage
	if err := json.Unmarshal([]byte(`{"dlqId":"d","scheduleId":"s","responseBody":{"html":true},"responseStatus":404}`), &d); err != nil {
		t.Fatalf("DLQ entry with wrong-kind fields: %v", err)
	}
	if d.DLQID != "d" || d.ScheduleID != "s" || d.ResponseStatus != 404 {
		t.Errorf("DLQ entry = %+v", d)
	}

	if err := json.Unmarshal([]byte(`{"scheduleId":`), &sc); err == nil {
		t.Errorf("truncated schedule decoded without error")
	}
}

func TestWritesIgnoreMalformedQStashURL(t *testing.T) {
	for _, env := range []string{"::not a url", "http://127.0.0.1:1?region=eu", "http://127.0.0.1:1/#v1"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv("QSTASH_URL", env)
			s, c, _ := newPair(t)
			ctx := context.Background()
			id, _ := s.AddSchedule(qstashemu.Schedule{Cron: "0 * * * *", Destination: "https://example.com/hook", Retries: 3})

			if err := c.PauseSchedule(ctx, id); err != nil {
				t.Fatalf("PauseSchedule: %v", err)
			}
			if sc, _ := s.Schedule(id); !sc.Paused {
				t.Errorf("schedule not paused")
			}
			if err := c.ResumeSchedule(ctx, id); err != nil {
				t.Fatalf("ResumeSchedule: %v", err)
			}
			msg, _ := s.Trigger(id, epoch, qstashemu.Fail(500, "x"))
			if n, err := c.CancelMessages(ctx, []string{msg}); err != nil || n != 1 {
				t.Errorf("CancelMessages = %d, %v; want 1", n, err)
			}
			if err := c.DeleteSchedule(ctx, id); err != nil {
				t.Fatalf("DeleteSchedule: %v", err)
			}
			if _, ok := s.Schedule(id); ok {
				t.Errorf("schedule not deleted")
			}
			if err := c.DeleteSchedule(ctx, id); !errors.Is(err, qstash.ErrNotFound) {
				t.Errorf("DeleteSchedule(deleted) error = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestInvalidURLErrorHidesPassword(t *testing.T) {
	_, err := qstash.New("ftp://admin:hunter2-secret@qstash.example.com", "token")
	if !errors.Is(err, qstash.ErrInvalidURL) {
		t.Fatalf("error = %v, want ErrInvalidURL", err)
	}
	if strings.Contains(err.Error(), "hunter2-secret") {
		t.Errorf("error reveals the URL password: %v", err)
	}
}

func TestWritesEscapeScheduleIDs(t *testing.T) {
	s, c, _ := newPair(t)
	ctx := context.Background()
	for _, odd := range []string{"nightly#2", "nightly?env=prod", "team/nightly"} {
		t.Run(odd, func(t *testing.T) {
			other, _ := s.AddSchedule(qstashemu.Schedule{ID: "nightly", Cron: "0 * * * *", Destination: "https://example.com/a"})
			id, err := s.AddSchedule(qstashemu.Schedule{ID: odd, Cron: "0 * * * *", Destination: "https://example.com/b"})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.PauseSchedule(ctx, id); err != nil {
				t.Errorf("PauseSchedule(%q): %v", id, err)
			}
			if sc, _ := s.Schedule(id); !sc.Paused {
				t.Errorf("schedule %q not paused", id)
			}
			if got, err := c.GetSchedule(ctx, id); err != nil || got.ID != id || !got.Paused {
				t.Errorf("GetSchedule(%q) = %q paused %v, %v", id, got.ID, got.Paused, err)
			}
			if err := c.DeleteSchedule(ctx, id); err != nil {
				t.Errorf("DeleteSchedule(%q): %v", id, err)
			}
			if _, ok := s.Schedule(id); ok {
				t.Errorf("schedule %q not deleted", id)
			}
			if sc, ok := s.Schedule(other); !ok || sc.Paused {
				t.Errorf("schedule %q was changed by actions on %q (exists %v, paused %v)", other, id, ok, sc.Paused)
			}
		})
	}
}
