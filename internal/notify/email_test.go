package notify_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"tenantgraph/internal/notify"
)

func TestLogEmailWritesOneStructuredLine(t *testing.T) {
	var buf bytes.Buffer
	sender := notify.LogEmail{Log: slog.New(slog.NewJSONHandler(&buf, nil))}
	m := notify.Message{TenantID: 42, To: "bob@example.test", Subject: `"Apollo" was submitted`, Body: "Ada submitted the project \"Apollo\".\nPlease review."}
	if err := sender.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: got %v, want nil", err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("lines: got %d (%q), want 1", len(lines), buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatalf("the line %q is not JSON: %v", lines[0], err)
	}
	want := map[string]any{"level": "INFO", "msg": "email", "to": m.To, "subject": m.Subject, "body": m.Body, "tenant_id": float64(42)}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
		}
	}
}

func TestNewSMTPEmail(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"smtp://user:secret@mail.example:2525?from=noreply@example.com", true},
		{"smtp://mail.example?from=noreply@example.com", true},
		{"smtp://mail.example:25?from=Tenantgraph%20%3Cnoreply@example.com%3E", true},
		{"smtp://mail.example:2525", false},       // no from
		{"smtp://mail.example:2525?from=", false}, // empty from
		{"smtp://mail.example:2525?from=not-an-address", false},
		{"smtps://mail.example:465?from=noreply@example.com", false},
		{"http://mail.example?from=noreply@example.com", false},
		{"mail.example:25?from=noreply@example.com", false},
		{"smtp://?from=noreply@example.com", false}, // no host
		{"smtp:///?from=noreply@example.com", false},
		{"", false},
		{"::", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			s, err := notify.NewSMTPEmail(tt.url)
			if tt.ok && (err != nil || s == nil) {
				t.Errorf("got (%v, %v), want a sender", s, err)
			}
			if !tt.ok && err == nil {
				t.Errorf("got a sender, want an error")
			}
		})
	}
}

func TestSMTPEmailSends(t *testing.T) {
	srv := newTestSMTP(t)
	sender, err := notify.NewSMTPEmail("smtp://mailer:s3cret@" + srv.addr + "?from=noreply@tenantgraph.test")
	if err != nil {
		t.Fatal(err)
	}
	m := notify.Message{
		To:      "bob@example.test",
		Subject: `Café "Apollo" was submitted ✓`,
		Body:    "Ada submitted the project.\n.a line starting with a dot\nBye",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sender.Send(ctx, m); err != nil {
		t.Fatalf("Send: got %v, want nil", err)
	}
	got := srv.mails()
	if len(got) != 1 {
		t.Fatalf("mails: got %d, want 1", len(got))
	}
	rcv := got[0]
	if rcv.auth != "\x00mailer\x00s3cret" {
		t.Errorf("AUTH PLAIN: got %q, want the URL's credentials", rcv.auth)
	}
	if rcv.from != "<noreply@tenantgraph.test>" {
		t.Errorf("MAIL FROM: got %q, want <noreply@tenantgraph.test>", rcv.from)
	}
	if len(rcv.to) != 1 || rcv.to[0] != "<bob@example.test>" {
		t.Errorf("RCPT TO: got %q, want [<bob@example.test>]", rcv.to)
	}
	if !rcv.quit {
		t.Errorf("QUIT: not sent, want sent")
	}
	msg, err := mail.ReadMessage(strings.NewReader(rcv.data))
	if err != nil {
		t.Fatalf("the received message %q does not parse: %v", rcv.data, err)
	}
	if got, err := msg.Header.AddressList("From"); err != nil || len(got) != 1 || got[0].Address != "noreply@tenantgraph.test" {
		t.Errorf("From: got %v (%v), want noreply@tenantgraph.test", got, err)
	}
	if got := msg.Header.Get("To"); got != m.To {
		t.Errorf("To: got %q, want %q", got, m.To)
	}
	rawSubject := msg.Header.Get("Subject")
	for _, r := range rawSubject {
		if r > 127 {
			t.Errorf("Subject header %q: got non-ASCII, want an RFC 2047 encoded word", rawSubject)
			break
		}
	}
	if got, err := new(mime.WordDecoder).DecodeHeader(rawSubject); err != nil || got != m.Subject {
		t.Errorf("Subject: got %q (%v), want %q", got, err, m.Subject)
	}
	if got := msg.Header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type: got %q, want text/plain; charset=utf-8", got)
	}
	body, _ := io.ReadAll(msg.Body)
	if got, want := strings.TrimRight(string(body), "\r\n"), strings.ReplaceAll(m.Body, "\n", "\r\n"); got != want {
		t.Errorf("body: got %q, want %q", got, want)
	}
}

// TestSMTPEmailFromWithADisplayName: from=Name <address> is a valid
// setting; the envelope carries the address alone, the header both.
func TestSMTPEmailFromWithADisplayName(t *testing.T) {
	srv := newTestSMTP(t)
	sender, err := notify.NewSMTPEmail("smtp://" + srv.addr + "?from=" + url.QueryEscape("Tenantgraph Café <noreply@tenantgraph.test>"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Send(context.Background(), notify.Message{To: "bob@example.test", Subject: "s", Body: "b"}); err != nil {
		t.Fatalf("Send: got %v, want nil", err)
	}
	got := srv.mails()
	if len(got) != 1 {
		t.Fatalf("mails: got %d, want 1", len(got))
	}
	if got[0].from != "<noreply@tenantgraph.test>" {
		t.Errorf("MAIL FROM: got %q, want <noreply@tenantgraph.test>", got[0].from)
	}
	msg, err := mail.ReadMessage(strings.NewReader(got[0].data))
	if err != nil {
		t.Fatalf("the received message %q does not parse: %v", got[0].data, err)
	}
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Tenantgraph Café" || from[0].Address != "noreply@tenantgraph.test" {
		t.Errorf("From: got %v (%v), want Tenantgraph Café <noreply@tenantgraph.test>", from, err)
	}
}

func TestSMTPEmailRefusesHeaderInjection(t *testing.T) {
	srv := newTestSMTP(t)
	sender, err := notify.NewSMTPEmail("smtp://" + srv.addr + "?from=noreply@tenantgraph.test")
	if err != nil {
		t.Fatal(err)
	}
	tests := []notify.Message{
		{To: "bob@example.test\r\nBcc: eve@example.test", Subject: "s", Body: "b"},
		{To: "bob@example.test\nBcc: eve@example.test", Subject: "s", Body: "b"},
		{To: "bob@example.test", Subject: "hello\r\nBcc: eve@example.test", Body: "b"},
		{To: "bob@example.test", Subject: "hello\rX-Evil: 1", Body: "b"},
	}
	for _, m := range tests {
		t.Run(strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(m.To+" "+m.Subject), func(t *testing.T) {
			err := sender.Send(context.Background(), m)
			if err == nil || !notify.IsPermanent(err) {
				t.Errorf("got %v, want a permanent error", err)
			}
		})
	}
	if n := srv.connections(); n != 0 {
		t.Errorf("SMTP connections: got %d, want 0", n)
	}
}

func TestSMTPEmailServerDownIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	sender, err := notify.NewSMTPEmail("smtp://" + addr + "?from=noreply@tenantgraph.test")
	if err != nil {
		t.Fatal(err)
	}
	err = sender.Send(context.Background(), notify.Message{To: "bob@example.test", Subject: "s", Body: "b"})
	if err == nil || notify.IsPermanent(err) {
		t.Errorf("got %v, want a retryable error", err)
	}
}

// A 5xx reply about the message itself (its recipient, its content) fails
// it for good; 4xx replies, and 5xx replies to the steps that depend on the
// server's settings (AUTH, MAIL FROM), are retried.
func TestSMTPEmailRefusals(t *testing.T) {
	tests := []struct {
		step, reply string
		permanent   bool
	}{
		{"RCPT", "550 5.1.1 no such user", true},
		{"RCPT", "553 5.1.3 bad recipient address syntax", true},
		{"DATA", "554 5.5.1 no valid recipients", true},
		{".", "552 5.3.4 message too big", true},
		{".", "554 5.7.1 rejected as spam", true},
		{"RCPT", "450 4.2.1 mailbox busy, try later", false},
		{"RCPT", "452 4.5.3 too many recipients", false},
		{".", "451 4.3.0 local error", false},
		{"AUTH", "535 5.7.8 authentication credentials invalid", false},
		{"MAIL", "550 5.7.1 sender not allowed by this relay", false},
	}
	srv := newTestSMTP(t)
	sender, err := notify.NewSMTPEmail("smtp://user:secret@" + srv.addr + "?from=noreply@tenantgraph.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.step+" "+tt.reply, func(t *testing.T) {
			srv.refusing(tt.step, tt.reply)
			err := sender.Send(context.Background(), notify.Message{To: "bob@example.test", Subject: "s", Body: "b"})
			if err == nil {
				t.Fatal("the refused message was reported as sent")
			}
			if got := notify.IsPermanent(err); got != tt.permanent {
				t.Errorf("permanent: got %v, want %v (%v)", got, tt.permanent, err)
			}
			if code, _, _ := strings.Cut(tt.reply, " "); !strings.Contains(err.Error(), code) {
				t.Errorf("the error %q does not carry the server's reply %s", err, code)
			}
		})
	}
	if got := srv.mails(); len(got) != 0 {
		t.Errorf("mails accepted: got %d, want 0", len(got))
	}
}

// Once the server has taken the message (250 after DATA), a failed QUIT is
// not a failed send: a retry would deliver it twice.
func TestSMTPEmailQuitFailureAfterAcceptance(t *testing.T) {
	srv := newTestSMTP(t)
	srv.refusing("QUIT", "554 5.0.0 going away badly")
	sender, err := notify.NewSMTPEmail("smtp://" + srv.addr + "?from=noreply@tenantgraph.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Send(context.Background(), notify.Message{To: "bob@example.test", Subject: "s", Body: "b"}); err != nil {
		t.Errorf("got %v, want the accepted message reported as sent", err)
	}
	if got := srv.mails(); len(got) != 1 {
		t.Errorf("mails accepted: got %d, want 1", len(got))
	}
}

// A cancelled context ends a send under way, although net/smtp has no
// context: the dispatcher's stop cancels its sends after a grace and must
// not wait for an SMTP server that stopped answering.
func TestSMTPEmailHearsCancellation(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.WriteString(c, "220 smtp.test ESMTP ready\r\n")
		_, _ = io.Copy(io.Discard, c) // and never answers EHLO
	}()
	sender, err := notify.NewSMTPEmail("smtp://" + ln.Addr().String() + "?from=noreply@tenantgraph.test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err = sender.Send(ctx, notify.Message{To: "bob@example.test", Subject: "s", Body: "b"})
	if took := time.Since(start); err == nil || took > 5*time.Second {
		t.Errorf("Send cancelled after 100ms: got %v after %v, want an error soon after", err, took.Round(time.Millisecond))
	}
}

// testSMTP is a minimal SMTP server on loopback: just enough of RFC 5321
// (greeting, EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) for net/smtp.
type testSMTP struct {
	addr  string
	mu    sync.Mutex
	conns int
	got   []receivedMail
	// refuse, when set, replaces the success reply to one step: a verb
	// ("AUTH", "MAIL", "RCPT", "DATA") or "." for the end of the message.
	refuse struct{ step, reply string }
}

// refusing sets the reply the server gives to step from now on.
func (s *testSMTP) refusing(step, reply string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse.step, s.refuse.reply = step, reply
}

// answer is reply unless step is the one the server is told to refuse.
func (s *testSMTP) answer(step, reply string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse.step == step {
		return s.refuse.reply
	}
	return reply
}

type receivedMail struct {
	auth, from string
	to         []string
	data       string
	quit       bool
}

func newTestSMTP(t *testing.T) *testSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testSMTP{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return s
}

func (s *testSMTP) mails() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.got...)
}

func (s *testSMTP) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func (s *testSMTP) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	reply := func(format string, args ...any) { _ = tp.PrintfLine(format, args...) }
	var m receivedMail
	reply("220 smtp.test ESMTP ready")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			reply("250-smtp.test greets you")
			reply("250 AUTH PLAIN")
		case "AUTH":
			mech, initial, _ := strings.Cut(arg, " ")
			raw, err := base64.StdEncoding.DecodeString(initial)
			if mech != "PLAIN" || err != nil {
				reply("504 unsupported")
				continue
			}
			m.auth = string(raw)
			reply("%s", s.answer("AUTH", "235 2.7.0 authenticated"))
		case "MAIL":
			m.from = strings.TrimPrefix(arg, "FROM:")
			reply("%s", s.answer("MAIL", "250 2.1.0 ok"))
		case "RCPT":
			m.to = append(m.to, strings.TrimPrefix(arg, "TO:"))
			reply("%s", s.answer("RCPT", "250 2.1.5 ok"))
		case "DATA":
			if r := s.answer("DATA", "354 end with <CRLF>.<CRLF>"); !strings.HasPrefix(r, "354") {
				reply("%s", r)
				continue
			}
			reply("354 end with <CRLF>.<CRLF>")
			data, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			// DotReader turns CRLF into LF; the message is CRLF on the wire.
			m.data = strings.ReplaceAll(string(data), "\n", "\r\n")
			reply("%s", s.answer(".", "250 2.0.0 queued"))
		case "QUIT":
			m.quit = true
			if m.data != "" { // a message was taken (net/smtp also quits after a failed AUTH)
				s.mu.Lock()
				s.got = append(s.got, m)
				s.mu.Unlock()
			}
			reply("%s", s.answer("QUIT", "221 2.0.0 bye"))
			return
		default:
			reply("502 5.5.2 not implemented")
		}
	}
}
