package upstashops

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strings"
	"time"
)

// dashboardView is dashboardState arranged for the page template.
type dashboardView struct {
	dashboardState
	Base       string // relative link to the mount point, "" or "../"
	BySeverity []severityGroup
	RateLimits []Finding
	Schedules  []Finding
	Workflows  []Finding
	Incidents  []Finding
	RateAudit  []AuditEntry
	Chart      *costChart
}

type severityGroup struct {
	Severity Severity
	Findings []Finding
	Savings  float64
}

// costChart is the inline SVG line chart of the monthly cost estimate.
type costChart struct {
	Width, Height   int
	Points          string // "x,y x,y ..." in SVG user units
	Min, Max, Last  float64
	First, LastTime time.Time
}

func newDashboardView(s dashboardState, base string) dashboardView {
	v := dashboardView{dashboardState: s, Base: base}
	for _, sev := range []Severity{Critical, Warning, Info} {
		g := severityGroup{Severity: sev}
		for _, f := range s.Findings {
			if f.Severity == sev {
				g.Findings = append(g.Findings, f)
				g.Savings += f.SavingsUSD
			}
		}
		if len(g.Findings) > 0 {
			v.BySeverity = append(v.BySeverity, g)
		}
	}
	for _, f := range s.Findings {
		switch {
		case f.Source == RateLimitJob || strings.HasPrefix(f.Kind, "ratelimit."):
			v.RateLimits = append(v.RateLimits, f)
		case f.Source == ScheduleJob || strings.HasPrefix(f.Kind, "schedule."):
			v.Schedules = append(v.Schedules, f)
		case f.Source == WorkflowJob || strings.HasPrefix(f.Kind, "workflow."):
			v.Workflows = append(v.Workflows, f)
		case f.Source == CorrelationJob || strings.HasPrefix(f.Kind, "incident."):
			v.Incidents = append(v.Incidents, f)
		}
	}
	for _, e := range s.Audit {
		if e.Class == ActionRateLimitChange {
			v.RateAudit = append(v.RateAudit, e)
		}
	}
	v.Chart = newCostChart(s.Costs)
	return v
}

func newCostChart(points []CostPoint) *costChart {
	if len(points) == 0 {
		return nil
	}
	c := &costChart{Width: 640, Height: 160, Min: math.Inf(1), Max: math.Inf(-1), First: points[0].Time, LastTime: points[len(points)-1].Time, Last: points[len(points)-1].USD}
	for _, p := range points {
		c.Min = min(c.Min, p.USD)
		c.Max = max(c.Max, p.USD)
	}
	span := c.Max - c.Min
	if span == 0 {
		span = 1
	}
	const pad = 8.0
	w, h := float64(c.Width)-2*pad, float64(c.Height)-2*pad
	var b strings.Builder
	for i, p := range points {
		x := pad + w/2
		if len(points) > 1 {
			x = pad + w*float64(i)/float64(len(points)-1)
		}
		y := pad + h*(1-(p.USD-c.Min)/span)
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", x, y)
	}
	c.Points = b.String()
	return c
}

var funcs = template.FuncMap{
	"usd":   func(v float64) string { return fmt.Sprintf("$%.2f", v) },
	"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"lower": func(s Severity) string { return s.String() },
}

func renderPage(w http.ResponseWriter, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		http.Error(w, "render dashboard: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

const pageStyle = `<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px;color:#1d2330;background:#fafbfc}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #dde1e6;padding-bottom:4px}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{font-weight:600;color:#4a5263;font-size:12px;text-transform:uppercase}
.sev{display:inline-block;padding:1px 6px;border-radius:3px;font-size:12px;font-weight:600;color:#fff}
.critical{background:#c62828}.warning{background:#e08a00}.info{background:#5c6b80}
.muted{color:#6b7385}.narrative{background:#fff;border:1px solid #dde1e6;padding:10px 12px;border-radius:4px}
button{font:inherit;padding:3px 10px;border-radius:3px;border:1px solid #8a93a5;background:#fff;cursor:pointer}
button.approve{border-color:#2e7d32;color:#2e7d32}button.reject{border-color:#c62828;color:#c62828}
form{display:inline}code{font-size:12px}svg{background:#fff;border:1px solid #dde1e6}
</style>`

var dashboardTemplate = template.Must(template.New("dashboard").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>upstashops</title>` + pageStyle + `</head><body>
<h1>upstashops</h1>
<p class="muted">As of {{when .Time}}. {{len .Findings}} open {{if eq (len .Findings) 1}}finding{{else}}findings{{end}}{{if .SavingsUSD}}, estimated savings {{usd .SavingsUSD}} per month{{end}}.</p>
<p class="narrative" id="narrative">{{.Narrative}}</p>

<h2>Findings</h2>
{{if not .BySeverity}}<p class="muted">No open findings.</p>{{end}}
{{range .BySeverity}}
<h3><span class="sev {{lower .Severity}}">{{.Severity}}</span> {{len .Findings}}{{if .Savings}} · savings {{usd .Savings}}/month{{end}}</h3>
<table><tr><th>Summary</th><th>Kind</th><th>Savings</th><th>Recommendation</th><th>First seen</th></tr>
{{range .Findings}}<tr data-finding="{{.ID}}" data-severity="{{.Severity}}"><td>{{.Summary}}{{range .Evidence}}<br><span class="muted">{{.Name}}: {{.Value}}</span>{{end}}</td><td><code>{{.Kind}}</code></td><td>{{if .SavingsUSD}}{{usd .SavingsUSD}}{{end}}</td><td>{{.Recommendation}}</td><td>{{when .FirstSeen}}</td></tr>
{{end}}</table>
{{end}}

<h2>Cost over time</h2>
{{with .Chart}}<svg id="cost-chart" role="img" aria-label="Estimated monthly cost" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}"><polyline fill="none" stroke="#1f6feb" stroke-width="2" points="{{.Points}}"/></svg>
<p class="muted">From {{when .First}} to {{when .LastTime}}: min {{usd .Min}}, max {{usd .Max}}, latest {{usd .Last}} per month.</p>
{{else}}<p class="muted">No cost samples yet.</p>{{end}}

<h2>Pending approvals</h2>
{{if not .Approvals}}<p class="muted">Nothing waits for approval.</p>{{end}}
{{if .Approvals}}<table><tr><th>Action</th><th>Target</th><th>Finding</th><th>Expires</th><th></th></tr>
{{range .Approvals}}<tr data-approval="{{.Action.ID}}"><td><code>{{.Action.Class}}</code><br>{{.Action.Description}}</td><td><code>{{.Action.Target}}</code></td><td>{{.Summary}}</td><td>{{when .ExpiresAt}}</td>
<td><form method="post" action="{{$.Base}}approvals/{{.Action.ID}}/approve"><button class="approve" type="submit">Approve</button></form>
<form method="post" action="{{$.Base}}approvals/{{.Action.ID}}/reject"><button class="reject" type="submit">Reject</button></form></td></tr>
{{end}}</table>{{end}}

<h2>Rate-limit changes</h2>
{{if not (or .RateLimits .RateAudit)}}<p class="muted">No rate-limit findings or changes.</p>{{end}}
{{range .RateLimits}}<p><span class="sev {{lower .Severity}}">{{.Severity}}</span> {{.Summary}} <span class="muted">{{.Recommendation}}</span></p>{{end}}
{{range .RateAudit}}<p class="muted">{{when .Time}} {{.Event}} <code>{{.Target}}</code> {{.Detail}}</p>{{end}}

<h2>Schedule verdicts</h2>
{{if not .Schedules}}<p class="muted">No schedule findings.</p>{{end}}
{{range .Schedules}}<p data-schedule="{{.Subject}}"><span class="sev {{lower .Severity}}">{{.Severity}}</span> <code>{{.Subject}}</code> {{.Summary}}</p>{{end}}

<h2>Workflow failures</h2>
{{if not .Workflows}}<p class="muted">No workflow findings.</p>{{end}}
{{range .Workflows}}<p><span class="sev {{lower .Severity}}">{{.Severity}}</span> {{.Summary}} <span class="muted">{{.Recommendation}}</span></p>{{end}}

<h2>Incidents</h2>
{{if not .Incidents}}<p class="muted">No incidents.</p>{{end}}
{{range .Incidents}}<p><span class="sev {{lower .Severity}}">{{.Severity}}</span> {{.Summary}}{{range .Evidence}}<br><span class="muted">{{.Name}}: {{.Value}}</span>{{end}}</p>{{end}}

<h2>Jobs</h2>
<table><tr><th>Job</th><th>Every</th><th>Runs</th><th>Failures</th><th>Skipped</th><th>Last run</th><th>Last error</th></tr>
{{range .Jobs}}<tr><td>{{.Name}}</td><td>{{.Every}}</td><td>{{.Runs}}</td><td>{{.Failures}}</td><td>{{.Skipped}}</td><td>{{if not .LastStart.IsZero}}{{when .LastStart}}{{end}}</td><td>{{.LastError}}</td></tr>{{end}}
</table>

<h2>Notification channels</h2>
<table><tr><th>Channel</th><th>Sent</th><th>Failed</th><th>Dropped</th><th>Queued</th><th>Last error</th></tr>
{{range .Channels}}<tr><td>{{.Name}}</td><td>{{.Sent}}</td><td>{{.Failed}}</td><td>{{.Dropped}}</td><td>{{.Queued}}</td><td>{{.LastError}}</td></tr>{{end}}
</table>
{{if .Undelivered}}<p><span class="sev critical">undelivered</span> {{len .Undelivered}} critical notifications reached no channel:</p>
{{range .Undelivered}}<p>{{.Title}}</p>{{end}}{{end}}

<h2>Policy</h2>
<p>{{range $class, $a := .Policy}}<code>{{$class}}</code>: {{$a}} &nbsp; {{end}}</p>

<h2>Audit log</h2>
{{if not .Audit}}<p class="muted">No audit entries.</p>{{end}}
{{if .Audit}}<table id="audit"><tr><th>Time</th><th>Event</th><th>Action</th><th>Target</th><th>Actor</th><th>Detail</th></tr>
{{range .Audit}}<tr data-audit="{{.Event}}"><td>{{when .Time}}</td><td>{{.Event}}</td><td><code>{{.Class}}</code></td><td><code>{{.Target}}</code></td><td>{{.Actor}}</td><td>{{.Detail}}</td></tr>{{end}}
</table>{{end}}
</body></html>`))

var loginTemplate = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>upstashops: sign in</title>` + pageStyle + `</head><body>
<h1>upstashops</h1>
{{with .Error}}<p class="sev critical">{{.}}</p>{{end}}
<form method="post" action="login"><label>Dashboard token <input type="password" name="token" id="token" autocomplete="current-password"></label>
<button type="submit" id="sign-in">Sign in</button></form>
</body></html>`))

var linkTemplate = template.Must(template.New("link").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>upstashops: approval</title>` + pageStyle + `</head><body>
<h1>upstashops approval</h1>
{{with .Error}}<p>{{.}}</p>{{end}}
{{with .Done}}<p id="done">{{.}}</p>{{end}}
{{with .P}}<p><strong>{{$.D}}</strong> <code>{{.Action.Class}}</code> on <code>{{.Action.Target}}</code>: {{.Action.Description}}</p>
<p class="muted">Finding: {{.Summary}}. Expires {{when .ExpiresAt}}.</p>
<form method="post"><input type="hidden" name="d" value="{{$.D}}"><input type="hidden" name="exp" value="{{$.Exp}}"><input type="hidden" name="sig" value="{{$.Sig}}">
<button type="submit" class="{{$.D}}" id="confirm">Confirm: {{$.D}}</button></form>{{end}}
</body></html>`))
