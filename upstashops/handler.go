package upstashops

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const sessionCookie = "upstashops_session"

// Handler returns the dashboard and its JSON API. Mount it on any path
// ending in "/", for example
//
//	http.Handle("/debug/upstashops/", op.Handler())
//
// Every route needs the token of WithDashboardToken or passes the
// application's WithDashboardMiddleware. With neither, only signed approval
// links work and every other route returns 403. Form posts from other
// origins are rejected (net/http's CrossOriginProtection), and the session
// cookie is SameSite=Strict.
//
// Routes, relative to the mount point:
//
//	GET  /                               dashboard
//	GET  /login, POST /login             token form that sets the session cookie
//	GET  /api/state                      everything the dashboard shows, as JSON
//	GET  /api/findings, /api/jobs, /api/approvals, /api/audit?n=,
//	     /api/costs, /api/channels       parts of it
//	POST /approvals/{id}/{approve|reject} dashboard buttons, then back to /
//	POST /api/approvals/{id}/{approve|reject} the same for API clients
//	GET  /approval/{id}?d=&exp=&sig=     confirmation page of a signed link
//	POST /approval/{id}                  decide through a signed link
func (op *Operator) Handler() http.Handler {
	protected := http.NewServeMux()
	protected.HandleFunc("GET /{$}", op.serveDashboard)
	protected.HandleFunc("GET /api/state", op.serveAPI(func(r *http.Request) (any, error) { return op.state(r.Context()) }))
	protected.HandleFunc("GET /api/findings", op.serveAPI(func(r *http.Request) (any, error) { return op.sharedFindings(r.Context()), nil }))
	protected.HandleFunc("GET /api/jobs", op.serveAPI(func(*http.Request) (any, error) { return op.JobStatuses(), nil }))
	protected.HandleFunc("GET /api/costs", op.serveAPI(func(*http.Request) (any, error) { return op.Costs(), nil }))
	protected.HandleFunc("GET /api/channels", op.serveAPI(func(*http.Request) (any, error) { return op.Channels(), nil }))
	protected.HandleFunc("GET /api/approvals", op.serveAPI(func(r *http.Request) (any, error) { return op.Approvals(r.Context()) }))
	protected.HandleFunc("GET /api/audit", op.serveAPI(func(r *http.Request) (any, error) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		return op.Audit(r.Context(), min(max(n, 1), 1000))
	}))
	protected.HandleFunc("POST /approvals/{id}/{decision}", op.serveDecideForm)
	protected.HandleFunc("POST /api/approvals/{id}/{decision}", op.serveDecideAPI)

	var guarded http.Handler = op.requireToken(protected)
	if op.cfg.middleware != nil {
		guarded = op.cfg.middleware(guarded)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", op.serveLogin)
	mux.HandleFunc("POST /login", op.serveLogin)
	mux.HandleFunc("GET /approval/{id}", op.serveLinkPage)
	mux.HandleFunc("POST /approval/{id}", op.serveLinkDecide)
	mux.Handle("/", guarded)

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request rejected", http.StatusForbidden)
	}))
	return securityHeaders(op.stripMount(cop.Handler(mux)))
}

// stripMount removes the path the handler is mounted on, found from the
// outer ServeMux pattern or from WithBaseURL, so that routes match however
// the application mounts it.
func (op *Operator) stripMount(next http.Handler) http.Handler {
	var basePath string
	if u, err := url.Parse(op.cfg.baseURL); err == nil {
		basePath = strings.TrimSuffix(u.Path, "/")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prefix := ""
		if p := r.Pattern; strings.HasSuffix(p, "/") {
			if i := strings.Index(p, "/"); i >= 0 {
				prefix = strings.TrimSuffix(p[i:], "/")
			}
		}
		if prefix == "" || !strings.HasPrefix(r.URL.Path, prefix+"/") {
			prefix = basePath
		}
		if prefix != "" && strings.HasPrefix(r.URL.Path, prefix+"/") {
			r2 := r.Clone(r.Context())
			r2.URL.Path = strings.TrimPrefix(r.URL.Path, prefix)
			r2.URL.RawPath = ""
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// sessionValue returns the login cookie's value: a hash of the token, so
// the token itself is never stored in the browser.
func (op *Operator) sessionValue() string {
	sum := sha256.Sum256([]byte("upstashops-session\x00" + op.cfg.token))
	return hex.EncodeToString(sum[:])
}

func (op *Operator) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if op.cfg.token == "" {
			if op.cfg.middleware != nil {
				next.ServeHTTP(w, r)
				return
			}
			http.Error(w, "the upstashops dashboard is disabled: configure WithDashboardToken or WithDashboardMiddleware", http.StatusForbidden)
			return
		}
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok &&
			subtle.ConstantTimeCompare([]byte(bearer), []byte(op.cfg.token)) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(sessionCookie); err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(op.sessionValue())) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") {
			seeOther(w, op.relative(r, "login"))
			return
		}
		http.Error(w, "missing or invalid dashboard token", http.StatusUnauthorized)
	})
}

// relative returns a link to target (relative to the mount point) from the
// page at r.
func (op *Operator) relative(r *http.Request, target string) string {
	depth := strings.Count(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return strings.Repeat("../", depth) + target
}

// seeOther redirects to loc, a path relative to the request's URL.
// http.Redirect would resolve it against the path after stripMount, which
// lacks the mount point.
func seeOther(w http.ResponseWriter, loc string) {
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusSeeOther)
}

func (op *Operator) serveLogin(w http.ResponseWriter, r *http.Request) {
	if op.cfg.token == "" {
		http.Error(w, "login is not used: the dashboard is protected by the application's middleware or disabled", http.StatusNotFound)
		return
	}
	if r.Method == http.MethodPost {
		if !op.loginLimit.Allow() {
			w.Header().Set("Retry-After", "60")
			http.Error(w, "too many sign-in attempts: try again in a minute", http.StatusTooManyRequests)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.PostFormValue("token")), []byte(op.cfg.token)) == 1 {
			http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: op.sessionValue(), Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			seeOther(w, "./")
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		renderPage(w, loginTemplate, map[string]any{"Error": "Invalid token."})
		return
	}
	renderPage(w, loginTemplate, map[string]any{})
}

func (op *Operator) serveAPI(get func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := get(r)
		if err != nil {
			op.log.LogAttrs(r.Context(), slog.LevelError, "upstashops: dashboard API failed", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error, see the application log"})
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (op *Operator) decide(r *http.Request, actor string) (int, error) {
	d := Decision(r.PathValue("decision"))
	err := op.Decide(r.Context(), r.PathValue("id"), d, actor)
	switch {
	case err == nil:
		return http.StatusOK, nil
	case errors.Is(err, ErrApprovalNotFound):
		return http.StatusNotFound, err
	case errors.Is(err, ErrNoRedis), d != Approve && d != Reject:
		return http.StatusBadRequest, err
	}
	// The decision was recorded; the action itself failed.
	return http.StatusBadGateway, err
}

func (op *Operator) serveDecideForm(w http.ResponseWriter, r *http.Request) {
	status, err := op.decide(r, "dashboard")
	if err != nil && status != http.StatusBadGateway {
		http.Error(w, err.Error(), status)
		return
	}
	seeOther(w, op.relative(r, "./"))
}

func (op *Operator) serveDecideAPI(w http.ResponseWriter, r *http.Request) {
	status, err := op.decide(r, "api")
	if err != nil {
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "decided"})
}

// linkParams reads and verifies a signed approval link's parameters.
func (op *Operator) linkParams(r *http.Request, form url.Values) (Decision, int64, string, error) {
	d := Decision(form.Get("d"))
	exp, err := strconv.ParseInt(form.Get("exp"), 10, 64)
	if err != nil {
		return d, 0, "", ErrInvalidSignature
	}
	sig := form.Get("sig")
	return d, exp, sig, op.verifyLink(r.PathValue("id"), d, exp, sig)
}

// serveLinkPage shows what a signed link would decide, with a button that
// posts the decision. A GET never decides, because chat apps and mail
// scanners fetch links to preview them.
func (op *Operator) serveLinkPage(w http.ResponseWriter, r *http.Request) {
	d, exp, sig, err := op.linkParams(r, r.URL.Query())
	if err != nil {
		w.WriteHeader(http.StatusForbidden)
		renderPage(w, linkTemplate, map[string]any{"Error": "This approval link is invalid or has expired."})
		return
	}
	var pending *PendingApproval
	if op.approval != nil {
		list, _ := op.Approvals(r.Context())
		for i := range list {
			if list[i].Action.ID == r.PathValue("id") && list[i].ExpiresAt.Unix() == exp {
				pending = &list[i]
			}
		}
	}
	if pending == nil {
		w.WriteHeader(http.StatusNotFound)
		renderPage(w, linkTemplate, map[string]any{"Error": "This action is no longer pending: it was decided already or has expired."})
		return
	}
	renderPage(w, linkTemplate, map[string]any{"P": pending, "D": string(d), "Exp": exp, "Sig": sig})
}

func (op *Operator) serveLinkDecide(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "invalid form", http.StatusBadRequest)
		return
	}
	d, exp, _, err := op.linkParams(r, r.PostForm)
	if err != nil {
		w.WriteHeader(http.StatusForbidden)
		renderPage(w, linkTemplate, map[string]any{"Error": "This approval link is invalid or has expired."})
		return
	}
	err = op.decideLink(r.Context(), r.PathValue("id"), d, exp)
	msg := "Done: the action was " + map[Decision]string{Approve: "approved and executed.", Reject: "rejected."}[d]
	switch {
	case errors.Is(err, ErrApprovalNotFound):
		w.WriteHeader(http.StatusNotFound)
		msg = "This action is no longer pending: it was decided already or has expired."
	case err != nil:
		w.WriteHeader(http.StatusBadGateway)
		msg = "The action was approved but failed; see the audit log."
	}
	renderPage(w, linkTemplate, map[string]any{"Done": msg})
}

// dashboardState is the content of the dashboard, also served as
// /api/state.
type dashboardState struct {
	Time        time.Time         `json:"time"`
	Narrative   string            `json:"narrative"`
	SavingsUSD  float64           `json:"savings_usd_month"`
	Findings    []Finding         `json:"findings"`
	Costs       []CostPoint       `json:"costs"`
	Approvals   []PendingApproval `json:"approvals"`
	Audit       []AuditEntry      `json:"audit"`
	Jobs        []JobStatus       `json:"jobs"`
	Channels    []ChannelStatus   `json:"channels"`
	Undelivered []Notification    `json:"undelivered,omitempty"`
	Policy      map[string]string `json:"policy"`
}

func (op *Operator) state(ctx context.Context) (dashboardState, error) {
	s := dashboardState{Time: op.clk.Now(), Findings: op.sharedFindings(ctx), Costs: op.Costs(), Jobs: op.JobStatuses(), Channels: op.Channels(), Undelivered: op.Undelivered(), Policy: map[string]string{}}
	for _, f := range s.Findings {
		s.SavingsUSD += f.SavingsUSD
	}
	s.Narrative = op.Narrative(ctx, s.Findings)
	for _, c := range ActionClasses {
		s.Policy[string(c)] = op.cfg.policy.For(c).String()
	}
	var err error
	if s.Approvals, err = op.Approvals(ctx); err != nil {
		return s, err
	}
	for i := range s.Approvals { // the dashboard decides through its own authenticated form
		s.Approvals[i].ApproveURL, s.Approvals[i].RejectURL = "", ""
	}
	s.Audit, err = op.Audit(ctx, 50)
	return s, err
}

func (op *Operator) serveDashboard(w http.ResponseWriter, r *http.Request) {
	s, err := op.state(r.Context())
	if err != nil {
		op.log.LogAttrs(r.Context(), slog.LevelError, "upstashops: dashboard state failed", slog.String("error", err.Error()))
	}
	renderPage(w, dashboardTemplate, newDashboardView(s, op.relative(r, "")))
}
