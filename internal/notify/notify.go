// Package notify decides who hears about what and delivers it: in-app
// notifications (a row plus the live feed), email and Slack. Channels sit
// behind one small interface; the tenant's configuration picks them. EMAIL
// and SLACK deliveries go through a transactional outbox (dispatcher.go) so
// that nothing is lost and a rolled-back change notifies no one.
package notify

import (
	"context"
	"errors"
	"fmt"
)

// Channel names, as stored in a tenant's configuration.
const (
	InApp = "IN_APP"
	Email = "EMAIL"
	Slack = "SLACK"
)

// Channels lists every channel.
var Channels = []string{InApp, Email, Slack}

// DefaultChannels is the configuration of a new tenant.
var DefaultChannels = []string{InApp}

// Message is one delivery over one channel.
type Message struct {
	TenantID int
	// To is the recipient's email address (EMAIL).
	To      string
	Subject string
	Body    string
	// WebhookURL is the tenant's Slack incoming webhook (SLACK), read from
	// its configuration when the message is sent.
	WebhookURL string
}

// Sender delivers a message over one channel. Implementations: the email
// logger or SMTP sender (email.go) and the Slack webhook poster (slack.go);
// in-app delivery writes a row (events.go, inapp.go) and publishes it
// (notifier.go).
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, m Message) error

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

// ValidChannel reports whether name is a channel.
func ValidChannel(name string) bool {
	for _, c := range Channels {
		if c == name {
			return true
		}
	}
	return false
}

// payload encodes a message for an outbox row.
func payload(m Message) map[string]string {
	return map[string]string{"to": m.To, "subject": m.Subject, "body": m.Body}
}

func fromPayload(tenantID int, p map[string]string) Message {
	return Message{TenantID: tenantID, To: p["to"], Subject: p["subject"], Body: p["body"]}
}

// permanent marks a delivery error that retrying cannot fix.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// Permanent wraps err so the dispatcher fails the entry at once.
func Permanent(format string, args ...any) error { return permanent{fmt.Errorf(format, args...)} }

// IsPermanent reports whether err, or an error it wraps, is a delivery error
// that retrying cannot fix (see Permanent).
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}
