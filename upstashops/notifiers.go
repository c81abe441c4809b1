package upstashops

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTPOption changes a notifier that posts over HTTP.
type HTTPOption func(*httpSender)

// WithHTTPClient sets the HTTP client of a notifier. The default is a client
// with a 10-second timeout.
func WithHTTPClient(c *http.Client) HTTPOption { return func(s *httpSender) { s.client = c } }

// WithEndpoint replaces a notifier's fixed endpoint, such as PagerDuty's
// Events API URL, for example with a test server.
func WithEndpoint(url string) HTTPOption { return func(s *httpSender) { s.url = url } }

type httpSender struct {
	client *http.Client
	url    string // may be a secret (Slack webhook URLs are); never logged
}

func newHTTPSender(url string, opts []HTTPOption) httpSender {
	s := httpSender{client: &http.Client{Timeout: 10 * time.Second}, url: url}
	for _, o := range opts {
		o(&s)
	}
	return s
}

// post sends body and fails on any status other than 2xx. Errors carry the
// status and the start of the response body, never the URL.
func (s httpSender) post(ctx context.Context, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return errors.New("invalid notifier URL") // the parse error would quote the URL
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return redactError(err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(snippet)))
	}
	return nil
}

// Slack returns a Notifier that posts Block Kit messages to a Slack incoming
// webhook. The webhook URL is a credential: it never appears in logs, errors
// or the dashboard. Its default route is chat and digest.
func Slack(webhookURL string, opts ...HTTPOption) Notifier {
	return &slackNotifier{s: newHTTPSender(webhookURL, opts)}
}

type slackNotifier struct{ s httpSender }

func (*slackNotifier) String() string      { return "slack" }
func (*slackNotifier) GoString() string    { return "upstashops.Slack(<redacted>)" }
func (*slackNotifier) defaultRoute() Route { return RouteChat | RouteDigest }

func (n *slackNotifier) Notify(ctx context.Context, msg Notification) error {
	body, err := json.Marshal(slackMessage(msg))
	if err != nil {
		return fmt.Errorf("encode slack message: %w", err)
	}
	if err := n.s.post(ctx, body, nil); err != nil {
		return fmt.Errorf("slack webhook: %w", err)
	}
	return nil
}

type block = map[string]any

func mrkdwn(text string) block { return block{"type": "mrkdwn", "text": text} }

func section(text string) block { return block{"type": "section", "text": mrkdwn(text)} }

// slackEscape escapes the three characters Slack's mrkdwn treats as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// slackMessage builds the Block Kit payload; "text" is the fallback shown
// in notifications.
func slackMessage(n Notification) map[string]any {
	var blocks []block
	header := func(t string) {
		blocks = append(blocks, block{"type": "header", "text": block{"type": "plain_text", "text": truncate(t, 150)}})
	}
	switch n.Event {
	case EventAlert:
		f := n.Finding
		header(fmt.Sprintf("%s: %s", strings.ToUpper(f.Severity.String()), f.Summary))
		blocks = append(blocks, slackFindingBlocks(*f)...)
	case EventResolved:
		header("Resolved: " + n.Finding.Summary)
		blocks = append(blocks, section(fmt.Sprintf("`%s` is no longer reported by the %s job.", n.Finding.ID, n.Finding.Source)))
	case EventApprovalRequest:
		p := n.Approval
		header("Approval needed: " + string(p.Action.Class))
		blocks = append(blocks, section(fmt.Sprintf("*%s*\n%s\nTarget: `%s`\nExpires: %s", slackEscape(p.Summary), slackEscape(p.Action.Description), slackEscape(p.Action.Target), p.ExpiresAt.UTC().Format(time.RFC3339))))
		if absoluteURL(p.ApproveURL) && absoluteURL(p.RejectURL) {
			blocks = append(blocks, block{"type": "actions", "elements": []block{
				{"type": "button", "style": "primary", "text": block{"type": "plain_text", "text": "Approve"}, "url": p.ApproveURL, "action_id": "approve"},
				{"type": "button", "style": "danger", "text": block{"type": "plain_text", "text": "Reject"}, "url": p.RejectURL, "action_id": "reject"},
			}})
		} else {
			// Slack rejects buttons with relative URLs.
			blocks = append(blocks, section("Approve or reject it on the upstashops dashboard. Set WithBaseURL to get buttons here."))
		}
	case EventDigest:
		header(fmt.Sprintf("Digest: %d open findings", len(n.Findings)))
		blocks = append(blocks, section(slackEscape(n.Narrative)))
		for _, s := range []Severity{Critical, Warning, Info} {
			var lines []string
			for _, f := range n.Findings {
				if f.Severity == s && len(lines) < 20 {
					lines = append(lines, "• "+slackEscape(f.Summary)+savingsSuffix(f))
				}
			}
			if len(lines) > 0 {
				blocks = append(blocks, section(fmt.Sprintf("*%s*\n%s", s, strings.Join(lines, "\n"))))
			}
		}
	}
	if absoluteURL(n.DashboardURL) {
		blocks = append(blocks, block{"type": "context", "elements": []block{mrkdwn("<" + n.DashboardURL + "/|Open the dashboard>")}})
	}
	return map[string]any{"text": n.Title(), "blocks": blocks}
}

func slackFindingBlocks(f Finding) []block {
	text := "*" + slackEscape(f.Summary) + "*"
	if f.Recommendation != "" {
		text += "\n" + slackEscape(f.Recommendation)
	}
	if f.SavingsUSD > 0 {
		text += fmt.Sprintf("\nEstimated savings: *$%.2f/month*", f.SavingsUSD)
	}
	out := []block{section(text)}
	var fields []block
	for _, e := range f.Evidence {
		if len(fields) == 10 { // Block Kit allows 10 fields per section
			break
		}
		fields = append(fields, mrkdwn("*"+slackEscape(e.Name)+"*\n"+slackEscape(e.Value)))
	}
	if len(fields) > 0 {
		out = append(out, block{"type": "section", "fields": fields})
	}
	out = append(out, block{"type": "context", "elements": []block{mrkdwn(fmt.Sprintf("%s · %s · `%s`", f.Source, f.Kind, f.ID))}})
	return out
}

func absoluteURL(u string) bool {
	return strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")
}

func savingsSuffix(f Finding) string {
	if f.SavingsUSD <= 0 {
		return ""
	}
	return fmt.Sprintf(" ($%.2f/month)", f.SavingsUSD)
}

// Webhook header names.
const (
	WebhookSignatureHeader = "X-Upstashops-Signature"
	WebhookTimestampHeader = "X-Upstashops-Timestamp"
)

// Webhook returns a Notifier that posts each Notification as JSON to url,
// signed with HMAC-SHA256 under secret: the X-Upstashops-Signature header
// is "v1=" and the hex HMAC of the X-Upstashops-Timestamp header (Unix
// seconds), a ".", and the body. Receivers check it with
// VerifyWebhookSignature. Its default route is every route.
func Webhook(url string, secret []byte, opts ...HTTPOption) Notifier {
	return &webhookNotifier{s: newHTTPSender(url, opts), secret: append([]byte(nil), secret...), now: time.Now}
}

type webhookNotifier struct {
	s      httpSender
	secret []byte
	now    func() time.Time
}

func (*webhookNotifier) String() string   { return "webhook" }
func (*webhookNotifier) GoString() string { return "upstashops.Webhook(<redacted>)" }

func (n *webhookNotifier) Notify(ctx context.Context, msg Notification) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode webhook body: %w", err)
	}
	ts := strconv.FormatInt(n.now().Unix(), 10)
	h := http.Header{}
	h.Set(WebhookTimestampHeader, ts)
	h.Set(WebhookSignatureHeader, "v1="+webhookMAC(n.secret, ts, body))
	if err := n.s.post(ctx, body, h); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	return nil
}

func webhookMAC(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ErrBadWebhookSignature is returned by VerifyWebhookSignature.
var ErrBadWebhookSignature = errors.New("upstashops: webhook signature is missing, invalid or too old")

// VerifyWebhookSignature checks the signature headers of a webhook request
// whose body is body, and rejects timestamps more than maxAge away from
// now, which stops replays.
func VerifyWebhookSignature(secret []byte, h http.Header, body []byte, now time.Time, maxAge time.Duration) error {
	ts := h.Get(WebhookTimestampHeader)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadWebhookSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > maxAge || d < -maxAge {
		return ErrBadWebhookSignature
	}
	got, ok := strings.CutPrefix(h.Get(WebhookSignatureHeader), "v1=")
	if !ok || !hmac.Equal([]byte(got), []byte(webhookMAC(secret, ts, body))) {
		return ErrBadWebhookSignature
	}
	return nil
}

// PagerDutyEventsURL is the PagerDuty Events API v2 endpoint.
const PagerDutyEventsURL = "https://events.pagerduty.com/v2/enqueue"

// PagerDuty returns a Notifier that triggers a PagerDuty incident for each
// alert, keyed by the finding ID, and resolves it when the finding clears,
// through the Events API v2. The routing key is a credential and never
// appears in logs or errors. Digests and approval requests are not sent.
// Its default route is page.
func PagerDuty(routingKey string, opts ...HTTPOption) Notifier {
	return &pagerDutyNotifier{s: newHTTPSender(PagerDutyEventsURL, opts), key: routingKey}
}

type pagerDutyNotifier struct {
	s   httpSender
	key string
}

func (*pagerDutyNotifier) String() string      { return "pagerduty" }
func (*pagerDutyNotifier) GoString() string    { return "upstashops.PagerDuty(<redacted>)" }
func (*pagerDutyNotifier) defaultRoute() Route { return RoutePage }

func (n *pagerDutyNotifier) Notify(ctx context.Context, msg Notification) error {
	if msg.Finding == nil {
		return nil
	}
	f := msg.Finding
	ev := map[string]any{"routing_key": n.key, "dedup_key": f.ID}
	switch msg.Event {
	case EventAlert:
		ev["event_action"] = "trigger"
		details := map[string]string{"kind": f.Kind, "recommendation": f.Recommendation}
		for _, e := range f.Evidence {
			details[e.Name] = e.Value
		}
		if f.SavingsUSD > 0 {
			details["savings_usd_month"] = strconv.FormatFloat(f.SavingsUSD, 'f', 2, 64)
		}
		ev["payload"] = map[string]any{
			"summary":        truncate(f.Summary, 1024),
			"source":         "upstashops/" + string(f.Source),
			"severity":       f.Severity.String(), // PagerDuty accepts critical, error, warning, info
			"component":      f.Subject,
			"class":          f.Kind,
			"timestamp":      msg.Time.UTC().Format(time.RFC3339),
			"custom_details": details,
		}
		if absoluteURL(msg.DashboardURL) {
			ev["links"] = []map[string]string{{"href": msg.DashboardURL + "/", "text": "upstashops dashboard"}}
		}
	case EventResolved:
		ev["event_action"] = "resolve"
	default:
		return nil
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode pagerduty event: %w", err)
	}
	if err := n.s.post(ctx, body, nil); err != nil {
		return fmt.Errorf("pagerduty events API: %w", err)
	}
	return nil
}

// Slog returns a Notifier that writes each notification to logger: alerts
// of critical findings at Error, warnings at Warn, the rest at Info. Its
// default route is every route.
func Slog(logger *slog.Logger) Notifier { return slogNotifier{l: logger} }

type slogNotifier struct{ l *slog.Logger }

func (slogNotifier) String() string { return "slog" }

func (n slogNotifier) Notify(ctx context.Context, msg Notification) error {
	level := slog.LevelInfo
	if msg.Event == EventAlert {
		switch msg.Finding.Severity {
		case Critical:
			level = slog.LevelError
		case Warning:
			level = slog.LevelWarn
		}
	}
	attrs := []slog.Attr{slog.String("event", string(msg.Event))}
	switch {
	case msg.Finding != nil:
		f := msg.Finding
		attrs = append(attrs, slog.String("finding", f.ID), slog.String("kind", f.Kind), slog.String("severity", f.Severity.String()), slog.String("subject", f.Subject))
		if f.Recommendation != "" {
			attrs = append(attrs, slog.String("recommendation", f.Recommendation))
		}
		if f.SavingsUSD > 0 {
			attrs = append(attrs, slog.Float64("savings_usd_month", f.SavingsUSD))
		}
	case msg.Approval != nil:
		attrs = append(attrs, slog.String("action", msg.Approval.Action.ID), slog.String("class", string(msg.Approval.Action.Class)), slog.String("target", msg.Approval.Action.Target))
	default:
		attrs = append(attrs, slog.Int("findings", len(msg.Findings)), slog.String("narrative", msg.Narrative))
	}
	n.l.LogAttrs(ctx, level, msg.Title(), attrs...)
	return nil
}
