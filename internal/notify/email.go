package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// LogEmail is the default EMAIL sender: it writes one structured log line per
// message (recipient, subject, body) instead of sending mail.
type LogEmail struct{ Log *slog.Logger }

// Send logs the message.
func (l LogEmail) Send(ctx context.Context, m Message) error {
	l.Log.InfoContext(ctx, "email", "to", m.To, "subject", m.Subject, "body", m.Body, "tenant_id", m.TenantID)
	return nil
}

// SMTPEmail sends real mail through an SMTP server.
type SMTPEmail struct {
	addr string // host:port
	host string
	auth smtp.Auth
	from *mail.Address // the header shows it whole; the envelope has the address alone
}

// NewSMTPEmail reads SMTP_URL: smtp://user:password@host:587?from=noreply@example.com
// (STARTTLS is used when the server offers it; credentials are only sent
// over TLS, as net/smtp insists).
func NewSMTPEmail(raw string) (*SMTPEmail, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		return nil, fmt.Errorf("notify: SMTP_URL must look like smtp://user:password@host:587?from=noreply@example.com")
	}
	from, err := mail.ParseAddress(u.Query().Get("from"))
	if err != nil {
		return nil, fmt.Errorf("notify: SMTP_URL needs a from= address: %w", err)
	}
	port := u.Port()
	if port == "" {
		port = "587"
	}
	s := &SMTPEmail{addr: net.JoinHostPort(u.Hostname(), port), host: u.Hostname(), from: from}
	if u.User != nil {
		pw, _ := u.User.Password()
		s.auth = smtp.PlainAuth("", u.User.Username(), pw, u.Hostname())
	}
	return s, nil
}

// Send delivers the message. net/smtp has no context: the dispatcher's
// timeout bounds it through the connection deadline instead, and a
// cancellation (the dispatcher's stop, once its grace is over) ends it by
// moving that deadline to now.
func (s *SMTPEmail) Send(ctx context.Context, m Message) error {
	if strings.ContainsAny(m.To+m.Subject, "\r\n") {
		return Permanent("notify: header injection attempt in email to %q", m.To)
	}
	// Headers are ASCII (RFC 5322): a subject naming "Café" is Q-encoded.
	msg := "From: " + s.from.String() + "\r\nTo: " + m.To + "\r\nSubject: " + mime.QEncoding.Encode("utf-8", m.Subject) +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + m.Body + "\r\n"
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	conn, err := (&net.Dialer{Deadline: deadline}).DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("notify: connecting to SMTP: %w", err)
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("notify: SMTP greeting: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("notify: STARTTLS: %w", err)
		}
	}
	if s.auth != nil {
		if err := c.Auth(s.auth); err != nil {
			return smtpFailed("SMTP auth", err, false)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return smtpFailed("MAIL FROM", err, false)
	}
	if err := c.Rcpt(m.To); err != nil {
		return smtpFailed("RCPT TO", err, true)
	}
	w, err := c.Data()
	if err != nil {
		return smtpFailed("DATA", err, true)
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return fmt.Errorf("notify: writing mail: %w", err)
	}
	if err := w.Close(); err != nil {
		return smtpFailed("ending mail", err, true)
	}
	// The server took the message with its reply to the end of DATA. A
	// failed QUIT after that must not count as a failed send: the retry
	// would deliver the mail twice.
	_ = c.Quit()
	return nil
}

// smtpFailed words a failed SMTP step, and makes it permanent when the server
// refused this message for good: a 5xx reply ("permanent negative
// completion", RFC 5321 section 4.2.1) to a step about the message itself,
// such as 550 for a recipient that does not exist or 554 for content the
// server will not take. Sending it again cannot succeed, so the dispatcher
// fails the entry at once instead of retrying it for hours.
//
// 4xx replies are transient by definition and are retried. So are 5xx
// replies to the steps that depend on this server's own settings, not on
// the message (AUTH with wrong credentials, MAIL FROM with a sender the
// relay refuses): every message would fail alike until an operator fixes
// SMTP_URL, and retrying keeps them for after the fix.
func smtpFailed(step string, err error, aboutMessage bool) error {
	err = fmt.Errorf("notify: %s: %w", step, err)
	var reply *textproto.Error
	if aboutMessage && errors.As(err, &reply) && reply.Code >= 500 && reply.Code < 600 {
		return permanent{err}
	}
	return err
}
