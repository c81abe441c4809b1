package upstashops

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"strings"
	"time"
)

// SMTP configures the email notifier.
type SMTP struct {
	// Addr is the server's host:port.
	Addr string
	From string
	To   []string
	// Username and Password enable AUTH PLAIN, which net/smtp sends only
	// over TLS or to localhost. The password never appears in logs or
	// errors.
	Username string
	Password string
	// TLSConfig, when set, makes the notifier upgrade with STARTTLS and
	// fail when the server does not offer it.
	TLSConfig *tls.Config
}

// Email returns a Notifier that sends each notification as a plain-text
// email. Its default route is the digest.
func Email(cfg SMTP) Notifier {
	cfg.To = append([]string(nil), cfg.To...)
	return &emailNotifier{cfg: cfg}
}

type emailNotifier struct{ cfg SMTP }

func (*emailNotifier) String() string      { return "email" }
func (*emailNotifier) GoString() string    { return "upstashops.Email(<redacted>)" }
func (*emailNotifier) defaultRoute() Route { return RouteDigest }

func (n *emailNotifier) Notify(ctx context.Context, msg Notification) error {
	if len(n.cfg.To) == 0 {
		return fmt.Errorf("email: no recipient configured")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", n.cfg.Addr)
	if err != nil {
		return fmt.Errorf("email: connect to SMTP server: %w", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	host, _, _ := net.SplitHostPort(n.cfg.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("email: SMTP greeting: %w", err)
	}
	defer c.Close()
	if err := n.send(c, host, msg); err != nil {
		return fmt.Errorf("email: %w", err)
	}
	return c.Quit()
}

func (n *emailNotifier) send(c *smtp.Client, host string, msg Notification) error {
	if n.cfg.TLSConfig != nil {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("SMTP server %s does not offer STARTTLS", host)
		}
		if err := c.StartTLS(n.cfg.TLSConfig); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if n.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", n.cfg.Username, n.cfg.Password, host)); err != nil {
			return fmt.Errorf("SMTP AUTH as %s failed", n.cfg.Username) // the server's text may echo credentials
		}
	}
	if err := c.Mail(n.cfg.From); err != nil {
		return fmt.Errorf("MAIL FROM %s: %w", n.cfg.From, err)
	}
	for _, to := range n.cfg.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(n.message(msg)); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of message: %w", err)
	}
	return nil
}

// message renders msg as an RFC 5322 message with CRLF line endings.
func (n *emailNotifier) message(msg Notification) []byte {
	var b bytes.Buffer
	header := func(k, v string) {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v) // no header injection
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	header("From", n.cfg.From)
	header("To", strings.Join(n.cfg.To, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", "[upstashops] "+msg.Title()))
	header("Date", msg.Time.UTC().Format(time.RFC1123Z))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	for _, line := range strings.Split(plainText(msg), "\n") {
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// plainText renders a notification for email and other text channels.
func plainText(n Notification) string {
	var b strings.Builder
	writeFinding := func(f Finding) {
		fmt.Fprintf(&b, "%s [%s] %s\n", strings.ToUpper(f.Severity.String()), f.Kind, f.Summary)
		if f.Recommendation != "" {
			fmt.Fprintf(&b, "  Recommendation: %s\n", f.Recommendation)
		}
		if f.SavingsUSD > 0 {
			fmt.Fprintf(&b, "  Estimated savings: $%.2f/month\n", f.SavingsUSD)
		}
		for _, e := range f.Evidence {
			fmt.Fprintf(&b, "  %s: %s\n", e.Name, e.Value)
		}
		fmt.Fprintf(&b, "  ID: %s\n", f.ID)
	}
	switch n.Event {
	case EventAlert:
		writeFinding(*n.Finding)
	case EventResolved:
		fmt.Fprintf(&b, "Resolved: %s\nID: %s\n", n.Finding.Summary, n.Finding.ID)
	case EventApprovalRequest:
		p := n.Approval
		fmt.Fprintf(&b, "Approval needed for %s on %s.\n%s\nFinding: %s\nExpires: %s\n\nApprove: %s\nReject: %s\n",
			p.Action.Class, p.Action.Target, p.Action.Description, p.Summary, p.ExpiresAt.UTC().Format(time.RFC3339), p.ApproveURL, p.RejectURL)
	case EventDigest:
		b.WriteString(n.Narrative)
		b.WriteString("\n\n")
		for _, f := range n.Findings {
			writeFinding(f)
			b.WriteString("\n")
		}
	}
	if absoluteURL(n.DashboardURL) {
		fmt.Fprintf(&b, "\nDashboard: %s/\n", n.DashboardURL)
	}
	// A line with a single "." would end the SMTP DATA early; net/smtp's
	// dot-encoding writer already escapes it.
	return b.String()
}
