package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// SlackSender posts messages to a tenant's Slack incoming webhook.
type SlackSender struct {
	guard  WebhookGuard
	client *http.Client
}

// SlackConfig configures a SlackSender.
type SlackConfig struct {
	Guard WebhookGuard
	// Timeout bounds one post (default 5s).
	Timeout time.Duration
	// TLS overrides the TLS configuration (tests trust their own server).
	TLS *tls.Config
}

// NewSlackSender returns a sender whose connections go only where the guard
// allows: no proxy, no redirects, and the guard's check at every dial.
func NewSlackSender(c SlackConfig) *SlackSender {
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	dialer := &net.Dialer{Timeout: c.Timeout, Control: c.Guard.Control, Resolver: c.Guard.Resolver}
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     c.TLS,
		TLSHandshakeTimeout: c.Timeout,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &SlackSender{
		guard: c.Guard,
		client: &http.Client{
			Timeout:   c.Timeout,
			Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// Send posts {"text": "*subject*\nbody"} to m.WebhookURL. A refused URL or a
// 4xx answer (other than 429) is permanent; timeouts, 429 and 5xx are retried.
func (s *SlackSender) Send(ctx context.Context, m Message) error {
	if m.WebhookURL == "" {
		return Permanent("notify: the tenant has no Slack webhook URL")
	}
	if _, err := s.guard.checkForm(m.WebhookURL); err != nil {
		return permanent{err}
	}
	body, err := json.Marshal(map[string]string{"text": "*" + m.Subject + "*\n" + m.Body})
	if err != nil {
		return Permanent("notify: encoding Slack message: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return Permanent("notify: building Slack request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		// The client's error quotes the URL, whose path is the webhook's
		// secret; this error is logged and kept in the outbox's last_error.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redactWebhook(ue.URL)
		}
		if errors.Is(err, ErrForbiddenWebhook) {
			return permanent{err}
		}
		return fmt.Errorf("notify: posting to Slack: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("notify: Slack answered %s", resp.Status)
	default:
		return Permanent("notify: Slack answered %s", resp.Status)
	}
}

// redactWebhook is a webhook URL without its path and query, which carry
// its secret: https://hooks.slack.com/services/T/B/X becomes
// https://hooks.slack.com/….
func redactWebhook(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "…"
	}
	return u.Scheme + "://" + u.Host + "/…"
}
