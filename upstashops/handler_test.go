package upstashops

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const testToken = "dash-token-7f3a"

// dashboardFixture is an Operator with a pending delete, a cost series and
// findings of every source, served under /debug/upstashops/.
type dashboardFixture struct {
	op   *Operator
	srv  *httptest.Server
	exec *countingExecutor
	base string
}

func newDashboardFixture(t *testing.T, opts ...Option) *dashboardFixture {
	t.Helper()
	rdb, prefix := testRedis(t)
	exec := &countingExecutor{}
	cost := &findingsJob{name: CostJob}
	sched := &findingsJob{name: ScheduleJob}
	incidents := &findingsJob{name: CorrelationJob}
	all := append([]Option{WithRedis(rdb), prefix, WithJob(cost), WithJob(sched), WithJob(incidents),
		WithPolicy(ObserveOnly.With(ActionDeleteSchedule, RequireApproval)),
		WithExecutor(ActionDeleteSchedule, exec)}, opts...)
	op := newTestOperator(t, all...)

	f := finding("cost.missing_ttl", "session:*", Warning)
	f.SavingsUSD = 41.5
	f.Evidence = []Evidence{{"keys without TTL", "1.2M"}}
	for i, usd := range []float64{120, 118, 131, 127} {
		cost.mu.Lock()
		cost.fs, cost.mets = []Finding{f}, []Metric{{MetricCostUSD, usd}}
		cost.mu.Unlock()
		runJob(t, op, CostJob)
		_ = i
	}
	z := zombie("scd_zombie")
	z.Actions = z.Actions[1:] // only the delete
	sched.set(z)
	runJob(t, op, ScheduleJob)
	incidents.set(finding("incident.latency", "redis+qstash", Critical))
	runJob(t, op, CorrelationJob)

	mux := http.NewServeMux()
	mux.Handle("/debug/upstashops/", op.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &dashboardFixture{op: op, srv: srv, exec: exec, base: srv.URL + "/debug/upstashops/"}
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func (fx *dashboardFixture) do(t *testing.T, method, path string, body url.Values, header http.Header) (*http.Response, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = strings.NewReader(body.Encode())
	}
	req, _ := http.NewRequest(method, fx.base+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	c := &http.Client{CheckRedirect: noRedirect, Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func bearer() http.Header { return http.Header{"Authorization": {"Bearer " + testToken}} }

func TestHandlerAuth(t *testing.T) {
	fx := newDashboardFixture(t, WithDashboardToken(testToken))
	tests := []struct {
		name   string
		path   string
		header http.Header
		want   int
	}{
		{"page without token", "", nil, http.StatusSeeOther},
		{"api without token", "api/findings", nil, http.StatusUnauthorized},
		{"wrong token", "api/findings", http.Header{"Authorization": {"Bearer nope"}}, http.StatusUnauthorized},
		{"bearer token", "api/findings", bearer(), http.StatusOK},
		{"login page", "login", nil, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := fx.do(t, http.MethodGet, tt.path, nil, tt.header)
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
		})
	}

	// The login form sets a cookie that opens the dashboard.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.PostForm(fx.base+"login", url.Values{"token": {testToken}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "data-finding=") {
		t.Fatalf("after login: status %d, page %.300s", resp.StatusCode, page)
	}
	for _, ck := range jar.Cookies(resp.Request.URL) {
		if strings.Contains(ck.Value, testToken) {
			t.Error("the session cookie contains the token")
		}
	}
}

func TestHandlerDisabledWithoutProtection(t *testing.T) {
	fx := newDashboardFixture(t)
	resp, body := fx.do(t, http.MethodGet, "", nil, nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "WithDashboardToken") {
		t.Errorf("status %d: %s", resp.StatusCode, body)
	}
}

func TestHandlerMiddleware(t *testing.T) {
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Test-User") == "" {
				http.Error(w, "who are you", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	fx := newDashboardFixture(t, WithDashboardMiddleware(mw))
	if resp, _ := fx.do(t, http.MethodGet, "api/jobs", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without user: status %d", resp.StatusCode)
	}
	if resp, body := fx.do(t, http.MethodGet, "api/jobs", nil, http.Header{"X-Test-User": {"ann"}}); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"cost"`) {
		t.Errorf("with user: status %d: %s", resp.StatusCode, body)
	}
}

func TestHandlerRendersDashboard(t *testing.T) {
	fx := newDashboardFixture(t, WithDashboardToken(testToken))
	resp, page := fx.do(t, http.MethodGet, "", nil, bearer())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		`data-severity="critical"`, `data-severity="warning"`, "$41.50", "<svg id=\"cost-chart\"", "<polyline",
		`data-schedule="scd_zombie"`, "incident.latency on redis", `data-approval="`, `action="approvals/`,
		"approval_requested", "latest $127.00",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "http://", "https://"} {
		if strings.Contains(page, banned) {
			t.Errorf("dashboard contains %q: it must load no external asset or script", banned)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP = %q", csp)
	}
}

func TestHandlerJSONAPI(t *testing.T) {
	fx := newDashboardFixture(t, WithDashboardToken(testToken))
	_, body := fx.do(t, http.MethodGet, "api/state", nil, bearer())
	var s dashboardState
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("decode: %v\n%s", err, body)
	}
	if len(s.Findings) != 3 || s.Findings[0].Severity != Critical || len(s.Costs) != 4 || len(s.Approvals) != 1 || len(s.Audit) == 0 {
		t.Errorf("state = %d findings, %d costs, %d approvals, %d audit entries", len(s.Findings), len(s.Costs), len(s.Approvals), len(s.Audit))
	}
	if s.SavingsUSD != 41.5 || s.Policy["delete_schedule"] != "approval" {
		t.Errorf("savings %v, policy %v", s.SavingsUSD, s.Policy)
	}
	id := s.Approvals[0].Action.ID
	resp, body := fx.do(t, http.MethodPost, "api/approvals/"+id+"/approve", nil, bearer())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("approve: %d %s", resp.StatusCode, body)
	}
	if got := fx.exec.ran(); !equalStrings(got, []string{"scd_zombie"}) {
		t.Errorf("executed %v", got)
	}
	if resp, _ := fx.do(t, http.MethodPost, "api/approvals/"+id+"/approve", nil, bearer()); resp.StatusCode != http.StatusNotFound {
		t.Errorf("second approve: status %d, want 404", resp.StatusCode)
	}
	_, body = fx.do(t, http.MethodGet, "api/audit?n=2", nil, bearer())
	var entries []AuditEntry
	if err := json.Unmarshal([]byte(body), &entries); err != nil || len(entries) != 2 || entries[0].Event != AuditExecuted || entries[0].Actor != "api" {
		t.Errorf("audit = %+v, %v", entries, err)
	}
}

func TestHandlerRejectsCrossSiteForms(t *testing.T) {
	fx := newDashboardFixture(t, WithDashboardToken(testToken))
	pending, _ := fx.op.Approvals(ctxT(t))
	id := pending[0].Action.ID
	for name, h := range map[string]http.Header{
		"sec-fetch-site": {"Sec-Fetch-Site": {"cross-site"}},
		"origin":         {"Origin": {"https://evil.example"}},
	} {
		t.Run(name, func(t *testing.T) {
			h = h.Clone()
			h.Set("Authorization", "Bearer "+testToken)
			resp, body := fx.do(t, http.MethodPost, "approvals/"+id+"/approve", url.Values{}, h)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status = %d, want 403: %s", resp.StatusCode, body)
			}
		})
	}
	if len(fx.exec.ran()) != 0 {
		t.Fatal("a cross-site post executed the action")
	}
	// The same form from the same origin works.
	h := bearer()
	h.Set("Sec-Fetch-Site", "same-origin")
	resp, _ := fx.do(t, http.MethodPost, "approvals/"+id+"/reject", url.Values{}, h)
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("same-origin reject: status %d", resp.StatusCode)
	}
}

func TestHandlerSignedLink(t *testing.T) {
	fx := newDashboardFixture(t, WithDashboardToken(testToken))
	pending, _ := fx.op.Approvals(ctxT(t))
	link, err := url.Parse(pending[0].ApproveURL)
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(link.Path, "/") + "?" + link.RawQuery

	// GET only shows the confirmation page, without the dashboard token.
	resp, page := fx.do(t, http.MethodGet, path, nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="confirm"`) {
		t.Fatalf("GET link: %d %s", resp.StatusCode, page)
	}
	if len(fx.exec.ran()) != 0 {
		t.Fatal("GET of the link executed the action")
	}
	q := link.Query()
	tampered := url.Values{"d": {"approve"}, "exp": q["exp"], "sig": {q.Get("sig") + "x"}}
	if resp, _ := fx.do(t, http.MethodPost, strings.TrimPrefix(link.Path, "/"), tampered, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("tampered signature: status %d", resp.StatusCode)
	}
	form := url.Values{"d": q["d"], "exp": q["exp"], "sig": q["sig"]}
	resp, page = fx.do(t, http.MethodPost, strings.TrimPrefix(link.Path, "/"), form, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "approved and executed") {
		t.Fatalf("POST link: %d %s", resp.StatusCode, page)
	}
	if got := fx.exec.ran(); !equalStrings(got, []string{"scd_zombie"}) {
		t.Errorf("executed %v", got)
	}
	if resp, _ := fx.do(t, http.MethodPost, strings.TrimPrefix(link.Path, "/"), form, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("reused link: status %d, want 404", resp.StatusCode)
	}
}

func TestHandlerThrottlesLogin(t *testing.T) {
	fx := newDashboardFixture(t, WithDashboardToken(testToken))
	var codes []int
	for range 12 {
		resp, _ := fx.do(t, http.MethodPost, "login", url.Values{"token": {"guess"}}, nil)
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != http.StatusUnauthorized || codes[len(codes)-1] != http.StatusTooManyRequests {
		t.Errorf("status codes of 12 wrong guesses = %v, want 401 first and 429 last", codes)
	}
}

func TestSignedLinkNotReplayedOnNextRequest(t *testing.T) {
	rdb, prefix := testRedis(t)
	clk := fakeClock()
	exec := &countingExecutor{}
	sched := &findingsJob{name: ScheduleJob}
	op := newTestOperator(t, WithRedis(rdb), prefix, WithClock(clk), WithJob(sched),
		WithPolicy(ObserveOnly.With(ActionDeleteSchedule, RequireApproval)), WithExecutor(ActionDeleteSchedule, exec))
	mux := http.NewServeMux()
	mux.Handle("/debug/upstashops/", op.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	fx := &dashboardFixture{op: op, srv: srv, exec: exec, base: srv.URL + "/debug/upstashops/"}
	z := zombie("scd_1")
	z.Actions = z.Actions[1:] // only the delete
	ctx := ctxT(t)

	linkOf := func() (string, url.Values) {
		t.Helper()
		pending, err := op.Approvals(ctx)
		if err != nil || len(pending) != 1 {
			t.Fatalf("Approvals = %v, %v, want one", pending, err)
		}
		link, err := url.Parse(pending[0].ApproveURL)
		if err != nil {
			t.Fatal(err)
		}
		q := link.Query()
		return strings.TrimPrefix(link.Path, "/"), url.Values{"d": q["d"], "exp": q["exp"], "sig": q["sig"]}
	}
	sched.set(z)
	runJob(t, op, ScheduleJob)
	path, oldForm := linkOf()
	if resp, page := fx.do(t, http.MethodPost, path, oldForm, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("first approval: %d %s", resp.StatusCode, page)
	}

	// The schedule clears, comes back a minute later and is proposed for
	// deletion again under the same action ID.
	sched.set()
	runJob(t, op, ScheduleJob)
	clk.Advance(time.Minute)
	sched.set(z)
	runJob(t, op, ScheduleJob)
	_, newForm := linkOf()
	if newForm.Get("exp") == oldForm.Get("exp") {
		t.Fatal("the second request has the first one's expiry; the test proves nothing")
	}

	if resp, _ := fx.do(t, http.MethodPost, path, oldForm, nil); resp.StatusCode == http.StatusOK {
		t.Errorf("the first request's link decided the second request")
	}
	if got := exec.ran(); len(got) != 1 {
		t.Errorf("executions = %v, want only the first approval's", got)
	}
	if pending, _ := op.Approvals(ctx); len(pending) != 1 {
		t.Errorf("pending after the replay = %d, want the second request still pending", len(pending))
	}
}

func TestHandlerEscapesFindingText(t *testing.T) {
	rdb, prefix := testRedis(t)
	job := &findingsJob{name: ScheduleJob}
	op := newTestOperator(t, WithRedis(rdb), prefix, WithJob(job), WithDashboardToken(testToken),
		WithPolicy(ObserveOnly.With(ActionDeleteSchedule, RequireApproval)), WithExecutor(ActionDeleteSchedule, &countingExecutor{}))
	const payload = `<img src=x onerror=alert(1)>`
	f := zombie(`scd_"` + payload)
	f.Summary, f.Recommendation = "summary "+payload, "fix "+payload
	f.Evidence = []Evidence{{payload, payload}}
	f.Actions[1].Description = "delete " + payload
	job.set(f)
	runJob(t, op, ScheduleJob)
	mux := http.NewServeMux()
	mux.Handle("/debug/upstashops/", op.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	fx := &dashboardFixture{op: op, srv: srv, base: srv.URL + "/debug/upstashops/"}

	resp, page := fx.do(t, http.MethodGet, "", nil, bearer())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if strings.Contains(page, "<img") {
		t.Error("the dashboard renders finding text as HTML")
	}
	if !strings.Contains(page, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Error("the dashboard lacks the escaped finding text")
	}
	pending, err := op.Approvals(ctxT(t))
	if err != nil || len(pending) == 0 {
		t.Fatalf("Approvals = %v, %v", pending, err)
	}
	link, _ := url.Parse(pending[0].ApproveURL)
	_, linkPage := fx.do(t, http.MethodGet, strings.TrimPrefix(link.Path, "/")+"?"+link.RawQuery, nil, nil)
	if strings.Contains(linkPage, "<img") || !strings.Contains(linkPage, "&lt;img") {
		t.Errorf("approval page does not escape the action text: %s", linkPage)
	}
}
