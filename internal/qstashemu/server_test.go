package qstashemu_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	qstash "github.com/upstash/qstash-go"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/qstashemu"
)

var epoch = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// do sends an authorized request to the emulator and returns the response
// with its body read.
func do(t *testing.T, s *qstashemu.Server, method, path string, header http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+s.Token())
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

func newClient(t *testing.T, s *qstashemu.Server) *qstash.Client {
	t.Helper()
	// qstash-go v1.0.0 lets QSTASH_URL override the URL given here.
	t.Setenv("QSTASH_URL", "")
	return qstash.NewClientWith(qstash.Options{Url: s.URL(), Token: s.Token(), Client: s.Client()})
}

func TestQStashGoSchedulesLifecycle(t *testing.T) {
	clk := clock.NewFake(epoch)
	s := qstashemu.StartT(t, qstashemu.WithClock(clk))
	c := newClient(t, s)

	id, err := c.Schedules().Create(qstash.ScheduleOptions{
		Destination: "https://example.com/api/cron?x=1",
		Cron:        "*/5 * * * *",
		Body:        `{"job":"sync"}`,
		ContentType: "application/json",
		Retries:     qstash.RetryCount(2),
		Headers:     map[string]string{"X-Team": "billing"},
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	got, err := c.Schedules().Get(id)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	want := qstash.Schedule{
		Id: id, CreatedAt: epoch.UnixMilli(), Cron: "*/5 * * * *", Destination: "https://example.com/api/cron?x=1",
		Method: "POST", Header: map[string][]string{"Content-Type": {"application/json"}, "X-Team": {"billing"}},
		Body: `{"job":"sync"}`, Retries: 2, NextScheduleTime: epoch.Add(5 * time.Minute).UnixMilli(), CallerIP: "127.0.0.1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Get mismatch (-want +got):\n%s", diff)
	}

	if err := c.Schedules().Pause(id); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if got, _ := c.Schedules().Get(id); !got.IsPaused {
		t.Errorf("IsPaused after Pause = false")
	}
	if err := c.Schedules().Resume(id); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	list, err := c.Schedules().List()
	if err != nil || len(list) != 1 || list[0].IsPaused {
		t.Fatalf("List = %+v, %v; want one active schedule", list, err)
	}
	if err := c.Schedules().Delete(id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := c.Schedules().Get(id); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Get after Delete error = %v, want not found", err)
	}
}

func TestScheduleIDHeaderUpdates(t *testing.T) {
	s := qstashemu.StartT(t)
	for _, cron := range []string{"0 * * * *", "0 9 * * *"} {
		resp, _ := do(t, s, http.MethodPost, "/v2/schedules/https://example.com/hook",
			http.Header{"Upstash-Cron": {cron}, "Upstash-Schedule-Id": {"nightly"}}, "{}")
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create status = %d", resp.StatusCode)
		}
	}
	if ids := s.ScheduleIDs(); len(ids) != 1 || ids[0] != "nightly" {
		t.Fatalf("ScheduleIDs = %v, want [nightly]", ids)
	}
	if sc, _ := s.Schedule("nightly"); sc.Cron != "0 9 * * *" {
		t.Errorf("Cron = %q, want the update", sc.Cron)
	}
}

func TestPauseResumeWithPost(t *testing.T) {
	s := qstashemu.StartT(t)
	id, _ := s.AddSchedule(qstashemu.Schedule{Cron: "* * * * *", Destination: "https://example.com"})
	for _, action := range []string{"pause", "resume"} {
		resp, _ := do(t, s, http.MethodPost, "/v2/schedules/"+id+"/"+action, nil, "")
		sc, _ := s.Schedule(id)
		if resp.StatusCode != http.StatusOK || sc.Paused != (action == "pause") {
			t.Errorf("POST %s: status %d, paused %v", action, resp.StatusCode, sc.Paused)
		}
	}
}

func TestPauseMissingScheduleNotFound(t *testing.T) {
	s := qstashemu.StartT(t)
	for _, method := range []string{http.MethodPost, http.MethodPatch} {
		for _, action := range []string{"pause", "resume"} {
			resp, body := do(t, s, method, "/v2/schedules/scd_missing/"+action, nil, "")
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s %s of a missing schedule: status %d %s, want 404", method, action, resp.StatusCode, body)
			}
		}
	}
	if ids := s.ScheduleIDs(); len(ids) != 0 {
		t.Errorf("pausing a missing schedule created schedules %v", ids)
	}
}

func TestQStashGoEventsPaging(t *testing.T) {
	s := qstashemu.StartT(t, qstashemu.WithClock(clock.NewFake(epoch)))
	c := newClient(t, s)
	id, _ := s.AddSchedule(qstashemu.Schedule{ID: "hourly", Cron: "0 * * * *", Destination: "https://example.com/a", Retries: 1})
	other, _ := s.AddSchedule(qstashemu.Schedule{Cron: "0 * * * *", Destination: "https://example.com/b"})
	for h := range 5 {
		at := epoch.Add(-time.Duration(h+1) * time.Hour)
		if _, err := s.Trigger(id, at, qstashemu.Fail(500, "boom"), qstashemu.Fail(502, "bad gateway")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Trigger(other, at, qstashemu.OK()); err != nil {
			t.Fatal(err)
		}
	}

	var all []qstash.Event
	cursor, pages := "", 0
	for {
		events, next, err := c.Events().List(qstash.ListEventsOptions{
			Cursor: cursor, Count: 7, Filter: qstash.EventFilter{ScheduleId: id},
		})
		if err != nil {
			t.Fatalf("List page %d: %v", pages, err)
		}
		all = append(all, events...)
		pages++
		if next == "" {
			break
		}
		cursor = next
	}
	// Each trigger: CREATED, ACTIVE, ERROR, RETRY, ACTIVE, FAILED.
	if len(all) != 30 || pages != 5 {
		t.Fatalf("got %d events in %d pages, want 30 in 5", len(all), pages)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Time > all[i-1].Time {
			t.Fatalf("events not newest first at %d", i)
		}
	}
	if all[0].State != qstash.Failed || all[0].ScheduleId != id {
		t.Errorf("newest event = %+v, want FAILED of %s", all[0], id)
	}
	failed, _, err := c.Events().List(qstash.ListEventsOptions{Filter: qstash.EventFilter{State: qstash.Failed}})
	if err != nil || len(failed) != 5 {
		t.Errorf("FAILED filter: %d events, %v; want 5", len(failed), err)
	}
}

func TestEventsCarryResponse(t *testing.T) {
	s := qstashemu.StartT(t)
	id, _ := s.AddSchedule(qstashemu.Schedule{Cron: "0 * * * *", Destination: "https://example.com/a", Retries: 0})
	_, _ = s.Trigger(id, epoch, qstashemu.Attempt{Status: 308, Header: http.Header{"Location": {"https://new.example.com/a"}}, Body: "moved"})

	_, data := do(t, s, http.MethodGet, "/v2/events?state=FAILED&scheduleId="+id, nil, "")
	var page struct {
		Events []struct {
			ResponseStatus  int                 `json:"responseStatus"`
			ResponseBody    string              `json:"responseBody"`
			ResponseHeaders map[string][]string `json:"responseHeaders"`
		} `json:"events"`
	}
	if err := json.Unmarshal(data, &page); err != nil || len(page.Events) != 1 {
		t.Fatalf("decode: %v, %d events", err, len(page.Events))
	}
	e := page.Events[0]
	body, _ := base64.StdEncoding.DecodeString(e.ResponseBody)
	if e.ResponseStatus != 308 || string(body) != "moved" || e.ResponseHeaders["Location"][0] != "https://new.example.com/a" {
		t.Errorf("event = %+v (body %q)", e, body)
	}
}

func TestQStashGoDLQ(t *testing.T) {
	s := qstashemu.StartT(t)
	c := newClient(t, s)
	id, _ := s.AddSchedule(qstashemu.Schedule{Cron: "0 * * * *", Destination: "https://example.com/a", Retries: 0})
	for i := range 3 {
		_, _ = s.Trigger(id, epoch.Add(time.Duration(i)*time.Hour), qstashemu.Fail(410, "gone"))
	}
	msgs, cursor, err := c.Dlq().List(qstash.ListDlqOptions{Count: 2, Filter: qstash.DlqFilter{ScheduleId: id}})
	if err != nil || len(msgs) != 2 || cursor == "" {
		t.Fatalf("List = %d messages, cursor %q, %v", len(msgs), cursor, err)
	}
	if msgs[0].ResponseStatus != 410 || msgs[0].ResponseBody != "gone" || msgs[0].ScheduleId != id {
		t.Errorf("first DLQ entry = %+v", msgs[0])
	}
	rest, cursor, err := c.Dlq().List(qstash.ListDlqOptions{Count: 2, Cursor: cursor})
	if err != nil || len(rest) != 1 || cursor != "" {
		t.Fatalf("second page = %d messages, cursor %q, %v", len(rest), cursor, err)
	}
	if err := c.Dlq().Delete(rest[0].DlqId); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	n, err := c.Dlq().DeleteMany([]string{msgs[0].DlqId, msgs[1].DlqId, "missing"})
	if err != nil || n != 2 {
		t.Errorf("DeleteMany = %d, %v; want 2", n, err)
	}
}

func TestQStashGoMessagesAndQueues(t *testing.T) {
	s := qstashemu.StartT(t)
	c := newClient(t, s)
	res, err := c.Enqueue(qstash.EnqueueOptions{Queue: "emails", PublishOptions: qstash.PublishOptions{Url: "https://example.com/send", Body: "hi"}})
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	q, err := c.Queues().Get("emails")
	if err != nil || q.Lag != 1 {
		t.Fatalf("queue = %+v, %v; want lag 1", q, err)
	}
	if err := c.Queues().Pause("emails"); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Messages().Get(res.MessageId); err != nil || m.Queue != "emails" || m.Body != "hi" {
		t.Fatalf("Get = %+v, %v", m, err)
	}
	if err := c.Messages().Cancel(res.MessageId); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if err := c.Messages().Cancel(res.MessageId); err == nil {
		t.Errorf("second Cancel succeeded, want not found")
	}
	queues, err := c.Queues().List()
	if err != nil || len(queues) != 1 || queues[0].Lag != 0 || !queues[0].IsPaused {
		t.Errorf("List = %+v, %v", queues, err)
	}

	pub, err := c.Publish(qstash.PublishOptions{Url: "https://example.com/x"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.Messages().CancelMany([]string{pub.MessageId})
	if err != nil || n != 1 {
		t.Errorf("CancelMany = %d, %v", n, err)
	}
	if err := c.Queues().Delete("emails"); err != nil {
		t.Errorf("Delete queue: %v", err)
	}
}

func TestInFlightAndDeliver(t *testing.T) {
	s := qstashemu.StartT(t)
	id, _ := s.AddSchedule(qstashemu.Schedule{Cron: "0 * * * *", Destination: "https://example.com/a", Retries: 3})
	msg, _ := s.Trigger(id, epoch, qstashemu.Fail(503, "busy"))
	if got := s.InFlight(id); len(got) != 1 || got[0] != msg {
		t.Fatalf("InFlight = %v, want [%s]", got, msg)
	}
	if err := s.Deliver(msg, qstashemu.OK()); err != nil {
		t.Fatal(err)
	}
	if got := s.InFlight(id); len(got) != 0 {
		t.Errorf("InFlight after delivery = %v", got)
	}
	if err := s.Deliver(msg, qstashemu.OK()); err == nil {
		t.Errorf("Deliver to a finished message succeeded")
	}
	if sc, _ := s.Schedule(id); sc.LastScheduleStates[msg] != qstashemu.StateDelivered {
		t.Errorf("LastScheduleStates = %v", sc.LastScheduleStates)
	}
}

func TestAuthAndErrors(t *testing.T) {
	s := qstashemu.StartT(t)
	t.Setenv("QSTASH_URL", "")
	c := qstash.NewClientWith(qstash.Options{Url: s.URL(), Token: "wrong", Client: s.Client()})
	if _, err := c.Schedules().List(); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Errorf("List with a wrong token: %v, want Unauthorized", err)
	}

	// Outside the base path, nothing is served: absolute-path mistakes fail.
	req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(s.URL(), qstashemu.DefaultBasePath)+"/v2/schedules", nil)
	req.Header.Set("Authorization", "Bearer "+s.Token())
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `"error"`) {
		t.Errorf("root path: %d %s", resp.StatusCode, body)
	}

	c = newClient(t, s)
	if _, err := c.Schedules().Create(qstash.ScheduleOptions{Destination: "https://example.com", Cron: "61 * * * *"}); err == nil ||
		!strings.Contains(err.Error(), "invalid cron") {
		t.Errorf("Create with a bad cron: %v", err)
	}
}

func TestInjectRateLimit(t *testing.T) {
	clk := clock.NewFake(epoch)
	s := qstashemu.StartT(t, qstashemu.WithClock(clk))
	s.InjectRateLimit("/v2/events", 1, 2, 3*time.Second)
	get := func() *http.Response {
		resp, _ := do(t, s, http.MethodGet, "/v2/events", nil, "")
		return resp
	}
	var statuses []int
	for range 4 {
		statuses = append(statuses, get().StatusCode)
	}
	if diff := cmp.Diff([]int{200, 429, 429, 200}, statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	s.InjectRateLimit("", 0, 1, 3*time.Second)
	resp := get()
	if got, want := resp.Header.Get("Burst-RateLimit-Reset"), "1793534403"; got != want {
		t.Errorf("Burst-RateLimit-Reset = %s, want %s (clock + 3s)", got, want)
	}
	if got := s.RequestCounts()["GET /v2/events"]; got != 5 {
		t.Errorf("RequestCounts[GET /v2/events] = %d, want 5", got)
	}
}

func TestHandleFuncExtension(t *testing.T) {
	s := qstashemu.StartT(t)
	s.HandleFunc("GET /v2/workflows/logs", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"runs":[]}`)
	})
	resp, body := do(t, s, http.MethodGet, "/v2/workflows/logs", nil, "")
	if resp.StatusCode != 200 || string(body) != `{"runs":[]}` {
		t.Errorf("extension: %d %s", resp.StatusCode, body)
	}
}

func TestExtensionsRegisteredAtStart(t *testing.T) {
	s := qstashemu.StartT(t)
	resp, body := do(t, s, http.MethodGet, "/v2/emulator/ping", nil, "")
	if resp.StatusCode != http.StatusOK || string(body) != "pong" {
		t.Errorf("extension route: %d %s", resp.StatusCode, body)
	}
}
