package upstashops

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a Notifier that keeps what it receives.
type recorder struct {
	mu   sync.Mutex
	got  []Notification
	fail atomic.Int32  // fail this many more calls
	hold chan struct{} // when set, Notify waits on it
}

func (r *recorder) Notify(ctx context.Context, n Notification) error {
	if r.hold != nil {
		select {
		case <-r.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if r.fail.Add(-1) >= 0 {
		return errors.New("receiver unavailable")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, n)
	return nil
}

func (r *recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.got {
		s := string(n.Event)
		if n.Finding != nil {
			s += ":" + n.Finding.Subject
		}
		out = append(out, s)
	}
	return out
}

// findingsJob returns a job whose findings the test sets between runs.
type findingsJob struct {
	name JobName
	mu   sync.Mutex
	fs   []Finding
	mets []Metric
}

func (j *findingsJob) Name() JobName { return j.name }
func (j *findingsJob) Run(context.Context) (Result, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return Result{Findings: append([]Finding(nil), j.fs...), Metrics: j.mets}, nil
}
func (j *findingsJob) set(fs ...Finding) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.fs = fs
}

func finding(kind, subject string, s Severity) Finding {
	return Finding{Kind: kind, Subject: subject, Severity: s, Summary: kind + " on " + subject, Recommendation: "Fix " + subject + "."}
}

func flush(t *testing.T, op *Operator) {
	t.Helper()
	if err := op.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRoutingBySeverity(t *testing.T) {
	digest, chat, page := &recorder{}, &recorder{}, &recorder{}
	job := &findingsJob{name: "j"}
	op := newTestOperator(t, WithClock(fakeClock()), WithJob(job),
		WithNotifier(digest, Routes(RouteDigest), Named("digest")),
		WithNotifier(chat, Routes(RouteChat), Named("chat")),
		WithNotifier(page, Routes(RoutePage), Named("page")),
	)
	job.set(finding("k", "info", Info), finding("k", "warn", Warning), finding("k", "crit", Critical))
	if _, err := op.RunOnce(ctxT(t), "j"); err != nil {
		t.Fatal(err)
	}
	flush(t, op)
	if got, want := digest.events(), []string(nil); !equalStrings(got, want) {
		t.Errorf("digest channel got %v before the digest, want nothing", got)
	}
	if got, want := chat.events(), []string{"alert:warn", "alert:crit"}; !equalStrings(got, want) {
		t.Errorf("chat channel got %v, want %v", got, want)
	}
	if got, want := page.events(), []string{"alert:crit"}; !equalStrings(got, want) {
		t.Errorf("page channel got %v, want %v", got, want)
	}

	op.SendDigest(ctxT(t))
	flush(t, op)
	if got := digest.events(); len(got) != 1 || got[0] != "digest" {
		t.Fatalf("digest channel got %v, want one digest", got)
	}
	d := digest.got[0]
	if len(d.Findings) != 3 || d.Findings[0].Severity != Critical || !strings.Contains(d.Narrative, "3 open findings") {
		t.Errorf("digest = %d findings, first %v, narrative %q", len(d.Findings), d.Findings[0].Severity, d.Narrative)
	}
}

func TestMinSeverityFiltersChannel(t *testing.T) {
	chat := &recorder{}
	job := &findingsJob{name: "j"}
	op := newTestOperator(t, WithJob(job), WithNotifier(chat, Routes(RouteChat), MinSeverity(Critical)))
	job.set(finding("k", "warn", Warning), finding("k", "crit", Critical))
	if _, err := op.RunOnce(ctxT(t), "j"); err != nil {
		t.Fatal(err)
	}
	flush(t, op)
	if got, want := chat.events(), []string{"alert:crit"}; !equalStrings(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestCooldownEscalationAndResolution(t *testing.T) {
	clk := fakeClock()
	chat := &recorder{}
	job := &findingsJob{name: "j"}
	op := newTestOperator(t, WithClock(clk), WithJob(job), WithCooldown(time.Hour), WithNotifier(chat, Routes(RouteChat|RoutePage)))
	run := func() {
		t.Helper()
		if _, err := op.RunOnce(ctxT(t), "j"); err != nil {
			t.Fatal(err)
		}
		flush(t, op)
	}
	job.set(finding("k", "a", Warning))
	run()
	run() // within the cooldown: not sent again
	clk.Advance(30 * time.Minute)
	run()
	if got := chat.events(); !equalStrings(got, []string{"alert:a"}) {
		t.Fatalf("within the cooldown got %v, want one alert", got)
	}
	job.set(finding("k", "a", Critical)) // escalation passes the cooldown
	run()
	clk.Advance(2 * time.Hour) // past the cooldown: sent again
	run()
	job.set() // cleared: one resolution
	run()
	run()
	want := []string{"alert:a", "alert:a", "alert:a", "resolved:a"}
	if got := chat.events(); !equalStrings(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if len(op.Findings()) != 0 {
		t.Errorf("open findings after resolution = %v", op.Findings())
	}
}

func TestDeliveryRetriesWithBackoff(t *testing.T) {
	clk := fakeClock()
	chat := &recorder{}
	chat.fail.Store(2)
	job := &findingsJob{name: "j"}
	op := newTestOperator(t, WithClock(clk), WithJob(job), WithDeliveryRetry(5, time.Second), WithNotifier(chat, Routes(RouteChat)))
	job.set(finding("k", "a", Warning))
	if _, err := op.RunOnce(ctxT(t), "j"); err != nil {
		t.Fatal(err)
	}
	// Two failures: backoff of 1s, then 2s. The run's timeout timer also
	// waits on the clock.
	for _, d := range []time.Duration{time.Second, 2 * time.Second} {
		if err := clk.BlockUntil(ctxT(t), 2); err != nil {
			t.Fatal(err)
		}
		clk.Advance(d)
	}
	flush(t, op)
	if got := chat.events(); !equalStrings(got, []string{"alert:a"}) {
		t.Errorf("got %v, want the alert after two retries", got)
	}
	st := op.Channels()[0]
	if st.Sent != 1 || st.Failed != 0 || st.LastError != "" {
		t.Errorf("channel status = %+v", st)
	}
}

// TestFailedChannelNeverBlocksJobs holds a channel's Notify forever; runs
// must still finish.
func TestFailedChannelNeverBlocksJobs(t *testing.T) {
	stuck := &recorder{hold: make(chan struct{})}
	job := &findingsJob{name: "j"}
	op := newTestOperator(t, WithJob(job), WithQueueSize(2), WithNotifier(stuck, Routes(RouteChat)))
	for i := range 10 {
		job.set(finding("k", string(rune('a'+i)), Warning))
		if _, err := op.RunOnce(ctxT(t), "j"); err != nil {
			t.Fatal(err)
		}
	}
	if st := op.Channels()[0]; st.Dropped == 0 || st.Queued > 2 {
		t.Errorf("channel status = %+v, want drops and a queue of at most 2", st)
	}
	close(stuck.hold)
}

func TestCriticalRoutedAroundFailedChannel(t *testing.T) {
	broken, backup := &recorder{}, &recorder{}
	broken.fail.Store(1 << 20)
	var failures []DeliveryFailure
	var mu sync.Mutex
	job := &findingsJob{name: "j"}
	op := newTestOperator(t, WithJob(job), WithDeliveryRetry(2, time.Millisecond),
		WithNotifier(broken, Routes(RoutePage), Named("pager")),
		WithNotifier(backup, Routes(RouteChat|RoutePage), Named("chat")),
		OnDeliveryFailure(func(f DeliveryFailure) { mu.Lock(); failures = append(failures, f); mu.Unlock() }),
	)
	job.set(finding("k", "db", Critical))
	if _, err := op.RunOnce(ctxT(t), "j"); err != nil {
		t.Fatal(err)
	}
	flush(t, op)
	mu.Lock()
	if len(failures) != 1 || failures[0].Channel != "pager" || failures[0].Dropped {
		t.Errorf("failures = %+v, want one from pager", failures)
	}
	mu.Unlock()
	// The chat channel got the alert directly; the reroute skips it.
	if got := backup.events(); !equalStrings(got, []string{"alert:db"}) {
		t.Errorf("backup got %v", got)
	}
	st := op.Channels()[0]
	if st.Failed != 1 || !strings.Contains(st.LastError, "receiver unavailable") {
		t.Errorf("pager status = %+v", st)
	}
	audit, err := op.Audit(ctxT(t), 10)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { audit, _ = op.Audit(ctxT(t), 10); return len(audit) > 0 })
	if audit[0].Event != AuditDeliveryFailed {
		t.Errorf("audit = %+v, want a delivery_failed entry", audit)
	}
}

func TestCriticalKeptWhenNoChannelDelivers(t *testing.T) {
	broken := &recorder{}
	broken.fail.Store(1 << 20)
	job := &findingsJob{name: "j"}
	op := newTestOperator(t, WithJob(job), WithDeliveryRetry(1, time.Millisecond), WithNotifier(broken))
	job.set(finding("k", "db", Critical), finding("k", "cache", Warning))
	if _, err := op.RunOnce(ctxT(t), "j"); err != nil {
		t.Fatal(err)
	}
	flush(t, op)
	un := op.Undelivered()
	if len(un) != 1 || un[0].Finding.Subject != "db" {
		t.Fatalf("undelivered = %+v, want the critical finding", un)
	}
}

func TestFullQueueKeepsCritical(t *testing.T) {
	stuck := &recorder{hold: make(chan struct{})}
	job := &findingsJob{name: "j"}
	op := newTestOperator(t, WithJob(job), WithQueueSize(2), WithNotifier(stuck, Routes(RouteChat|RoutePage)))
	// The first alert is taken by the worker and held; two more fill the
	// queue; the critical one replaces the oldest warning.
	job.set(finding("k", "w1", Warning), finding("k", "w2", Warning), finding("k", "w3", Warning), finding("k", "c", Critical))
	if _, err := op.RunOnce(ctxT(t), "j"); err != nil {
		t.Fatal(err)
	}
	close(stuck.hold)
	flush(t, op)
	got := stuck.events()
	if len(got) == 0 || got[len(got)-1] != "alert:c" {
		t.Errorf("delivered %v, want the critical alert among them", got)
	}
	if st := op.Channels()[0]; st.Dropped == 0 {
		t.Errorf("status %+v, want drops counted", st)
	}
}

func TestSlackBlockKit(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	n := Slack(srv.URL + "/services/T000/B000/XXXX")
	f := finding("cost.missing_ttl", "session:*", Warning)
	f.SavingsUSD = 12.5
	f.Evidence = []Evidence{{"keys without TTL", "1.2M"}, {"<script>", "a & b"}}
	f.normalize(CostJob, epoch)
	p := PendingApproval{Action: Action{ID: "act-1", Class: ActionDeleteSchedule, Target: "scd_1"}, Summary: "zombie", ApproveURL: "https://x/approve", RejectURL: "https://x/reject"}
	for _, msg := range []Notification{{Event: EventAlert, Finding: &f}, {Event: EventApprovalRequest, Approval: &p}} {
		if err := n.Notify(ctxT(t), msg); err != nil {
			t.Fatalf("Notify %s: %v", msg.Event, err)
		}
	}
	alert := marshalRaw(t, bodies[0])
	for _, want := range []string{`"type":"header"`, `WARNING: cost.missing_ttl on session:*`, `$12.50/month`, `&lt;script&gt;`, `a &amp; b`, `"type":"context"`} {
		if !strings.Contains(string(alert), want) {
			t.Errorf("alert payload lacks %s:\n%s", want, alert)
		}
	}
	if bodies[0]["text"] == "" {
		t.Error("alert payload has no fallback text")
	}
	relative := p
	relative.ApproveURL, relative.RejectURL = "/approval/act-1?d=approve", "/approval/act-1?d=reject"
	if err := n.Notify(ctxT(t), Notification{Event: EventApprovalRequest, Approval: &relative}); err != nil {
		t.Fatal(err)
	}
	if got := marshalRaw(t, bodies[2]); strings.Contains(got, `"type":"actions"`) {
		t.Errorf("buttons with relative URLs, which Slack rejects:\n%s", got)
	}
	approval := marshalRaw(t, bodies[1])
	for _, want := range []string{`"type":"actions"`, `"url":"https://x/approve"`, `"url":"https://x/reject"`, `"style":"danger"`} {
		if !strings.Contains(string(approval), want) {
			t.Errorf("approval payload lacks %s:\n%s", want, approval)
		}
	}
}

func TestSlackErrorHidesURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no_service", http.StatusNotFound)
	}))
	secretURL := srv.URL + "/services/T0/B0/secret-token-123"
	f := finding("k", "s", Warning)
	err := Slack(secretURL).Notify(ctxT(t), Notification{Event: EventAlert, Finding: &f})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v, want a 404 error", err)
	}
	srv.Close()
	err2 := Slack(secretURL).Notify(ctxT(t), Notification{Event: EventAlert, Finding: &f})
	for _, e := range []error{err, err2} {
		if e == nil || strings.Contains(e.Error(), "secret-token-123") {
			t.Errorf("error %v reveals the webhook URL", e)
		}
	}
}

func TestWebhookSignature(t *testing.T) {
	secret := []byte("whsec-test")
	got := make(chan error, 1)
	var gotEvent string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var n Notification
		_ = json.Unmarshal(body, &n)
		gotEvent = string(n.Event)
		err := VerifyWebhookSignature(secret, r.Header, body, time.Now(), 5*time.Minute)
		if err == nil {
			// A changed body must not verify.
			if VerifyWebhookSignature(secret, r.Header, append(body, ' '), time.Now(), 5*time.Minute) == nil {
				err = errors.New("tampered body verified")
			}
			if VerifyWebhookSignature([]byte("other"), r.Header, body, time.Now(), 5*time.Minute) == nil {
				err = errors.New("wrong secret verified")
			}
			if VerifyWebhookSignature(secret, r.Header, body, time.Now().Add(time.Hour), 5*time.Minute) == nil {
				err = errors.New("old timestamp verified")
			}
		}
		got <- err
	}))
	defer srv.Close()
	f := finding("k", "s", Critical)
	if err := Webhook(srv.URL, secret).Notify(ctxT(t), Notification{Event: EventAlert, Finding: &f}); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if gotEvent != "alert" {
		t.Errorf("event = %q", gotEvent)
	}
}

func TestPagerDutyTriggerAndResolve(t *testing.T) {
	type event struct {
		RoutingKey string         `json:"routing_key"`
		Action     string         `json:"event_action"`
		DedupKey   string         `json:"dedup_key"`
		Payload    map[string]any `json:"payload"`
	}
	var mu sync.Mutex
	var events []event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e event
		if r.URL.Path != "/v2/enqueue" || json.NewDecoder(r.Body).Decode(&e) != nil {
			http.Error(w, `{"status":"invalid event"}`, http.StatusBadRequest)
			return
		}
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"success","dedup_key":"`+e.DedupKey+`"}`)
	}))
	defer srv.Close()

	job := &findingsJob{name: "j"}
	op := newTestOperator(t, WithJob(job), WithNotifier(PagerDuty("rk-123", WithEndpoint(srv.URL+"/v2/enqueue"))))
	job.set(finding("workflow.poison", "wf-9", Critical), finding("k", "minor", Warning))
	if _, err := op.RunOnce(ctxT(t), "j"); err != nil {
		t.Fatal(err)
	}
	flush(t, op)
	job.set(finding("k", "minor", Warning))
	if _, err := op.RunOnce(ctxT(t), "j"); err != nil {
		t.Fatal(err)
	}
	flush(t, op)
	if len(events) != 2 {
		t.Fatalf("got %d events, want trigger and resolve: %+v", len(events), events)
	}
	trig, res := events[0], events[1]
	if trig.Action != "trigger" || res.Action != "resolve" || trig.DedupKey != res.DedupKey || trig.RoutingKey != "rk-123" {
		t.Errorf("events = %+v", events)
	}
	if trig.Payload["severity"] != "critical" || trig.Payload["summary"] != "workflow.poison on wf-9" || trig.Payload["source"] == "" {
		t.Errorf("payload = %v", trig.Payload)
	}
}

func TestSlogNotifier(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	logger := newJSONLogger(&lockedWriter{w: &buf, mu: &mu})
	f := finding("k", "s", Critical)
	if err := Slog(logger).Notify(ctxT(t), Notification{Event: EventAlert, Finding: &f}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`"level":"ERROR"`, `"finding":"`, `"severity":"critical"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %s lacks %s", out, want)
		}
	}
}

// marshalRaw encodes v as JSON without escaping <, > and &.
func marshalRaw(t *testing.T, v any) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestMaxFindingsEvictsOldest(t *testing.T) {
	clk := fakeClock()
	chat := &recorder{}
	a, b := &findingsJob{name: "a"}, &findingsJob{name: "b"}
	op := newTestOperator(t, WithClock(clk), WithJob(a), WithJob(b), WithMaxFindings(2), WithNotifier(chat, Routes(RouteChat)))
	a.set(finding("k", "old", Warning))
	runJob(t, op, "a")
	clk.Advance(time.Minute)
	b.set(finding("k", "new1", Warning), finding("k", "new2", Warning))
	runJob(t, op, "b")
	flush(t, op)
	var subjects []string
	for _, f := range op.Findings() {
		subjects = append(subjects, f.Subject)
	}
	if len(subjects) != 2 || strings.Contains(strings.Join(subjects, ","), "old") {
		t.Errorf("open findings = %v, want the two newest", subjects)
	}
	if n := len(op.notify.alerted); n != 2 {
		t.Errorf("delivery state kept for %d findings, want 2", n)
	}
}

// TestSharedDeliveryAcrossInstances runs one job on two Operators sharing
// a Redis, in turns, as leases make them do. The alert goes out once and
// the resolution once, although the instance that sees the finding clear
// never sent the alert itself.
func TestSharedDeliveryAcrossInstances(t *testing.T) {
	_, prefix := testRedis(t)
	chat := &recorder{}
	job := &findingsJob{name: "j"}
	newOp := func() *Operator {
		return newTestOperator(t, WithRedis(redisServer.Client(t)), prefix, WithoutDefaultJobs(), WithJob(job), WithNotifier(chat, Routes(RouteChat), Named("chat")))
	}
	a, b := newOp(), newOp()

	job.set(finding("k", "x", Warning))
	runJob(t, a, "j")
	runJob(t, b, "j") // within the cooldown recorded by a
	flush(t, a)
	flush(t, b)
	job.set()
	runJob(t, b, "j") // b resolves what a alerted
	runJob(t, a, "j") // a finds nothing left to resolve
	flush(t, a)
	flush(t, b)
	if got, want := chat.events(), []string{"alert:x", "resolved:x"}; !equalStrings(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := a.Findings(); len(got) != 0 {
		t.Errorf("instance a still lists %v as open", got)
	}
}
