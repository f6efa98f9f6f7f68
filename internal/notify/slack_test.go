package notify_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"tenantgraph/internal/notify"
)

// slackRequest is what the test Slack server received.
type slackRequest struct {
	method, path, contentType string
	body                      []byte
}

// testSlack is an httptest TLS server standing in for Slack: it records
// every request and answers with status(n) for the n-th (from 1).
type testSlack struct {
	*httptest.Server
	mu       sync.Mutex
	requests []slackRequest
}

// newTestSlack starts a TLS server answering with status for every request.
func newTestSlack(t *testing.T, status func(n int) int) *testSlack {
	t.Helper()
	s := &testSlack{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, slackRequest{r.Method, r.URL.Path, r.Header.Get("Content-Type"), body})
		n := len(s.requests)
		s.mu.Unlock()
		w.WriteHeader(status(n))
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *testSlack) received() []slackRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]slackRequest(nil), s.requests...)
}

// trusting returns a TLS configuration that trusts srv's certificate.
func trusting(srv *httptest.Server) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return &tls.Config{RootCAs: pool}
}

func always(status int) func(int) int { return func(int) int { return status } }

func TestSlackSendPostsTheMessage(t *testing.T) {
	// A proxy in the environment must not be used: the guard checks the
	// address the sender itself dials.
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	srv := newTestSlack(t, always(http.StatusOK))
	s := notify.NewSlackSender(notify.SlackConfig{Guard: notify.WebhookGuard{AllowLoopback: true}, TLS: trusting(srv.Server)})

	err := s.Send(context.Background(), notify.Message{TenantID: 7, Subject: `"Apollo" was submitted`, Body: "Ada submitted the project.\nSecond line", WebhookURL: srv.URL + "/services/T0/B0/secret"})
	if err != nil {
		t.Fatalf("Send: got %v, want nil", err)
	}
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("requests: got %d, want 1", len(got))
	}
	r := got[0]
	if r.method != http.MethodPost {
		t.Errorf("method: got %s, want POST", r.method)
	}
	if r.path != "/services/T0/B0/secret" {
		t.Errorf("path: got %s, want /services/T0/B0/secret", r.path)
	}
	if r.contentType != "application/json" {
		t.Errorf("content type: got %q, want application/json", r.contentType)
	}
	var payload map[string]any
	if err := json.Unmarshal(r.body, &payload); err != nil {
		t.Fatalf("body %s is not JSON: %v", r.body, err)
	}
	want := "*\"Apollo\" was submitted*\nAda submitted the project.\nSecond line"
	if len(payload) != 1 || payload["text"] != want {
		t.Errorf("body: got %v, want {text: %q}", payload, want)
	}
}

func TestSlackSendStatuses(t *testing.T) {
	tests := []struct {
		status    int
		permanent bool
	}{
		{http.StatusOK, false},
		{http.StatusNoContent, false},
		{http.StatusInternalServerError, false},
		{http.StatusBadGateway, false},
		{http.StatusServiceUnavailable, false},
		{http.StatusTooManyRequests, false},
		{http.StatusBadRequest, true},
		{http.StatusForbidden, true},
		{http.StatusNotFound, true},
		{http.StatusGone, true},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := newTestSlack(t, always(tt.status))
			s := notify.NewSlackSender(notify.SlackConfig{Guard: notify.WebhookGuard{AllowLoopback: true}, TLS: trusting(srv.Server)})
			err := s.Send(context.Background(), notify.Message{Subject: "s", Body: "b", WebhookURL: srv.URL + "/hook"})
			if n := len(srv.received()); n != 1 {
				t.Errorf("requests: got %d, want 1 (the sender never retries by itself)", n)
			}
			if tt.status < 300 {
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got nil, want an error")
			}
			if got := notify.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent(%v): got %v, want %v", err, got, tt.permanent)
			}
		})
	}
}

// hangingSlack is a Slack endpoint that answers nothing until the request
// is cancelled or the test ends.
func hangingSlack(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		close(release)
		srv.Close()
	})
	return srv
}

func TestSlackSendTimesOut(t *testing.T) {
	srv := hangingSlack(t)
	const timeout = 200 * time.Millisecond
	s := notify.NewSlackSender(notify.SlackConfig{Guard: notify.WebhookGuard{AllowLoopback: true}, TLS: trusting(srv), Timeout: timeout})

	start := time.Now()
	err := s.Send(context.Background(), notify.Message{Subject: "s", Body: "b", WebhookURL: srv.URL + "/hook"})
	elapsed := time.Since(start)
	if err == nil {
		t.Fatalf("got nil, want a timeout error")
	}
	if notify.IsPermanent(err) {
		t.Errorf("IsPermanent(%v): got true, want false (a timeout is retried)", err)
	}
	if elapsed < timeout || elapsed > timeout+time.Second {
		t.Errorf("Send returned after %v, want about %v", elapsed, timeout)
	}
}

func TestSlackSendHonoursTheContext(t *testing.T) {
	srv := hangingSlack(t)
	s := notify.NewSlackSender(notify.SlackConfig{Guard: notify.WebhookGuard{AllowLoopback: true}, TLS: trusting(srv)})

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Send(ctx, notify.Message{Subject: "s", Body: "b", WebhookURL: srv.URL + "/hook"})
	if err == nil || notify.IsPermanent(err) {
		t.Errorf("got %v, want a retryable error", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Send returned after %v, want about the context's 150ms (not the 5s default timeout)", elapsed)
	}
}

func TestSlackSendDoesNotFollowRedirects(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		if r.URL.Path == "/hook" {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}
	}))
	defer srv.Close()
	s := notify.NewSlackSender(notify.SlackConfig{Guard: notify.WebhookGuard{AllowLoopback: true}, TLS: trusting(srv)})

	err := s.Send(context.Background(), notify.Message{Subject: "s", Body: "b", WebhookURL: srv.URL + "/hook"})
	if err == nil || !notify.IsPermanent(err) {
		t.Errorf("got %v, want a permanent error (a redirect is not success)", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits["/hook"] != 1 || hits["/elsewhere"] != 0 {
		t.Errorf("hits: got %v, want /hook once and /elsewhere never", hits)
	}
}

func TestSlackSendRefuses(t *testing.T) {
	srv := newTestSlack(t, always(http.StatusOK))
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the plain-http server got %s %s, want no request", r.Method, r.URL)
	}))
	defer plain.Close()
	tests := []struct {
		name      string
		loopback  bool
		url       string
		forbidden bool // the error is ErrForbiddenWebhook
	}{
		{"a loopback server without AllowLoopback", false, srv.URL + "/hook", true},
		{"localhost without AllowLoopback", false, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/hook", true},
		{"http", true, plain.URL + "/hook", true},
		{"credentials", true, strings.Replace(srv.URL, "https://", "https://u:p@", 1) + "/hook", true},
		{"no URL", true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := notify.NewSlackSender(notify.SlackConfig{Guard: notify.WebhookGuard{AllowLoopback: tt.loopback}, TLS: trusting(srv.Server)})
			err := s.Send(context.Background(), notify.Message{Subject: "s", Body: "b", WebhookURL: tt.url})
			if err == nil || !notify.IsPermanent(err) {
				t.Errorf("got %v, want a permanent error", err)
			}
			if got := errors.Is(err, notify.ErrForbiddenWebhook); got != tt.forbidden {
				t.Errorf("errors.Is(%v, ErrForbiddenWebhook): got %v, want %v", err, got, tt.forbidden)
			}
		})
	}
	if n := len(srv.received()); n != 0 {
		t.Errorf("the TLS server got %d requests, want 0", n)
	}
}

// TestSlackSendDefeatsDNSRebinding: the webhook's name was public when the
// tenant set it and resolves to loopback when the message is sent.
func TestSlackSendDefeatsDNSRebinding(t *testing.T) {
	srv := newTestSlack(t, always(http.StatusOK))
	dns := newTestDNS(t)
	dns.set("hooks.example", "93.184.216.34")
	tlsConfig := trusting(srv.Server)
	tlsConfig.ServerName = "example.com" // in the httptest certificate
	url := strings.Replace(srv.URL, "127.0.0.1", "hooks.example", 1) + "/hook"

	guard := notify.WebhookGuard{Resolver: dns.resolver()}
	if err := guard.CheckURL(context.Background(), url); err != nil {
		t.Fatalf("CheckURL while hooks.example is public: got %v, want allowed", err)
	}
	dns.set("hooks.example", "127.0.0.1")
	err := notify.NewSlackSender(notify.SlackConfig{Guard: guard, TLS: tlsConfig}).Send(context.Background(), notify.Message{Subject: "s", Body: "b", WebhookURL: url})
	if !errors.Is(err, notify.ErrForbiddenWebhook) || !notify.IsPermanent(err) {
		t.Errorf("got %v, want a permanent ErrForbiddenWebhook", err)
	}
	if n := len(srv.received()); n != 0 {
		t.Fatalf("the loopback server got %d requests, want 0", n)
	}

	// The same send with loopback allowed reaches the server: the refusal
	// above was the guard's, at dial time.
	guard.AllowLoopback = true
	if err := notify.NewSlackSender(notify.SlackConfig{Guard: guard, TLS: tlsConfig}).Send(context.Background(), notify.Message{Subject: "s", Body: "b", WebhookURL: url}); err != nil {
		t.Fatalf("with AllowLoopback: got %v, want nil", err)
	}
	if n := len(srv.received()); n != 1 {
		t.Errorf("with AllowLoopback: the server got %d requests, want 1", n)
	}
}

// TestSlackSendKeepsTheURLOutOfErrors: the webhook URL's path is its secret
// (OWNER-only in the API), and a failed send's error is logged and kept in
// the outbox's last_error, so it must not quote the URL.
func TestSlackSendKeepsTheURLOutOfErrors(t *testing.T) {
	srv := hangingSlack(t)
	const secret = "B000/XXXXSECRETXXXX"
	for name, guard := range map[string]notify.WebhookGuard{
		"timed out":           {AllowLoopback: true},
		"refused by the dial": {}, // the test server is on loopback
	} {
		t.Run(name, func(t *testing.T) {
			s := notify.NewSlackSender(notify.SlackConfig{Guard: guard, TLS: trusting(srv), Timeout: 100 * time.Millisecond})
			err := s.Send(context.Background(), notify.Message{Subject: "s", Body: "b", WebhookURL: srv.URL + "/services/T000/" + secret})
			if err == nil {
				t.Fatal("got nil, want an error")
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q quotes the webhook URL's secret path", err)
			}
		})
	}
}
