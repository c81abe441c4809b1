package upstashops

import (
	"bufio"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
)

// smtpServer is a minimal SMTP server on a loopback port for tests: it
// speaks EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP and QUIT, and keeps
// every message it accepts.
type smtpServer struct {
	ln net.Listener

	mu       sync.Mutex
	messages []smtpMessage
}

type smtpMessage struct {
	From, Auth string
	To         []string
	Data       string
}

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln}
	go s.serve()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *smtpServer) addr() string { return s.ln.Addr().String() }

func (s *smtpServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.handle(c)
	}
}

func (s *smtpServer) handle(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func(line string) { io.WriteString(c, line+"\r\n") }
	reply("220 localhost test SMTP")
	var m smtpMessage
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO":
			reply("250-localhost")
			reply("250-AUTH PLAIN")
			reply("250 8BITMIME")
		case "HELO", "NOOP":
			reply("250 ok")
		case "AUTH":
			parts := strings.Fields(line)
			if len(parts) != 3 || parts[1] != "PLAIN" {
				reply("504 unsupported")
				continue
			}
			raw, _ := base64.StdEncoding.DecodeString(parts[2])
			m.Auth = string(raw)
			reply("235 authenticated")
		case "MAIL":
			m.From = strings.Trim(strings.TrimPrefix(line[5:], "FROM:"), "<> ")
			if i := strings.Index(m.From, ">"); i >= 0 {
				m.From = m.From[:i]
			}
			reply("250 ok")
		case "RCPT":
			m.To = append(m.To, strings.Trim(strings.TrimPrefix(line[5:], "TO:"), "<> "))
			reply("250 ok")
		case "DATA":
			reply("354 end with .")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			m.Data = b.String()
			s.mu.Lock()
			s.messages = append(s.messages, m)
			s.mu.Unlock()
			m = smtpMessage{}
			reply("250 queued")
		case "RSET":
			m = smtpMessage{}
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 unknown command")
		}
	}
}

func (s *smtpServer) received() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMessage(nil), s.messages...)
}

func TestEmailOverSMTP(t *testing.T) {
	srv := startSMTP(t)
	n := Email(SMTP{Addr: srv.addr(), From: "ops@example.test", To: []string{"a@example.test", "b@example.test"}, Username: "ops", Password: "smtp-pass"})
	f := finding("cost.hot_key", "user:*", Warning)
	f.SavingsUSD = 3.25
	fs := []Finding{f, finding("k", "line\r\nBcc: evil@example.test", Info)}
	for i := range fs {
		fs[i].normalize(CostJob, epoch)
	}
	msg := Notification{Event: EventDigest, Time: epoch, Findings: fs, Narrative: "Two open findings.\n.\nEnd."}
	if err := n.Notify(ctxT(t), msg); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("server got %d messages, want 1", len(got))
	}
	m := got[0]
	if m.From != "ops@example.test" || len(m.To) != 2 || m.Auth != "\x00ops\x00smtp-pass" {
		t.Errorf("envelope = %q %q auth %q", m.From, m.To, m.Auth)
	}
	for _, want := range []string{"Subject: [upstashops] [digest] 2 open findings", "Content-Type: text/plain; charset=utf-8", "Estimated savings: $3.25/month", "Two open findings.\r\n.\r\nEnd."} {
		if !strings.Contains(m.Data, want) {
			t.Errorf("message lacks %q:\n%s", want, m.Data)
		}
	}

	// A summary with a line break must not add a header.
	evil := finding("k", "s", Warning)
	evil.Summary = "disk full\r\nBcc: evil@example.test"
	if err := n.Notify(ctxT(t), Notification{Event: EventAlert, Time: epoch, Finding: &evil}); err != nil {
		t.Fatal(err)
	}
	got = srv.received()
	header, _, _ := strings.Cut(got[len(got)-1].Data, "\r\n\r\n")
	if strings.Contains(header, "\r\nBcc:") {
		t.Errorf("a finding injected a header:\n%s", header)
	}
}

func TestEmailConnectionError(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	f := finding("k", "s", Warning)
	err := Email(SMTP{Addr: addr, From: "a@x.test", To: []string{"b@x.test"}, Password: "pw-secret"}).Notify(ctxT(t), Notification{Event: EventAlert, Finding: &f})
	if err == nil || strings.Contains(err.Error(), "pw-secret") {
		t.Fatalf("err = %v, want a connection error without the password", err)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newJSONLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
