package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"tenantgraph/ent"
	"tenantgraph/internal/activity"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/changes"
	"tenantgraph/internal/tenancy"
	"tenantgraph/internal/validate"
	"tenantgraph/internal/viewer"
)

// maxWebhookURL bounds a Slack webhook URL, in characters.
const maxWebhookURL = 2048

// ConfigInput changes a tenant's notification settings. A nil Channels
// leaves them as they are; WebhookSet with a nil WebhookURL clears the URL.
type ConfigInput struct {
	Channels   []string
	WebhookSet bool
	WebhookURL *string
}

// CheckedConfig is a ConfigInput whose channels and webhook URL were
// checked (CheckConfig), for UpdateConfig.
type CheckedConfig struct{ in ConfigInput }

// CheckConfig checks in before any transaction is open: unknown channels
// and a webhook URL the guard refuses are Invalid errors naming the field.
// The guard looks the URL's host up in DNS, which may take seconds, and on
// SQLite a transaction would hold the database's one write lock meanwhile.
func CheckConfig(ctx context.Context, guard WebhookGuard, in ConfigInput) (CheckedConfig, error) {
	for _, ch := range in.Channels {
		if !ValidChannel(ch) {
			return CheckedConfig{}, apperr.InvalidField("notificationChannels", "%q is not a channel (IN_APP, EMAIL, SLACK)", ch)
		}
	}
	if in.WebhookSet && in.WebhookURL != nil && *in.WebhookURL != "" {
		// Slack's URLs are about 80 characters; a longer one is an abuse
		// of the tenant row, not a webhook.
		if err := validate.Text("slackWebhookURL", *in.WebhookURL, 0, maxWebhookURL); err != nil {
			return CheckedConfig{}, err
		}
		if err := guard.CheckURL(ctx, *in.WebhookURL); err != nil {
			return CheckedConfig{}, apperr.InvalidField("slackWebhookURL", "%v", err)
		}
	}
	return CheckedConfig{in}, nil
}

// UpdateConfig changes the current tenant's notification settings. SLACK
// without a webhook URL is an Invalid error naming the field. The tenant
// is read under its administration lock, as its OWNER
// (tenancy.LockAsOwner): of two concurrent changes neither undoes the
// other's (each writes both settings), and an OWNER removed meanwhile
// changes nothing.
func UpdateConfig(ctx context.Context, c *ent.Client, checked CheckedConfig) (*ent.Tenant, error) {
	in := checked.in
	if err := tenancy.LockAsOwner(ctx, c); err != nil {
		return nil, err
	}
	t, err := c.Tenant.Get(ctx, viewer.FromContext(ctx).TenantID)
	if err != nil {
		return nil, fmt.Errorf("notify: loading tenant: %w", err)
	}
	channels := t.NotificationChannels
	if in.Channels != nil {
		channels = []string{}
		for _, ch := range in.Channels {
			if !slices.Contains(channels, ch) {
				channels = append(channels, ch)
			}
		}
	}
	webhook := t.SlackWebhookURL
	if in.WebhookSet {
		webhook = ""
		if in.WebhookURL != nil {
			webhook = *in.WebhookURL
		}
	}
	if slices.Contains(channels, Slack) && webhook == "" {
		return nil, apperr.InvalidField("slackWebhookURL", "is required while SLACK is a notification channel")
	}
	before := t
	t, err = t.Update().SetNotificationChannels(channels).SetSlackWebhookURL(webhook).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("notify: saving configuration: %w", err)
	}
	var ch changes.List
	ch.Add("notificationChannels", strings.Join(before.NotificationChannels, ","), strings.Join(t.NotificationChannels, ","))
	if before.SlackWebhookURL != t.SlackWebhookURL {
		// A secret: the log says that it changed, never what it is.
		ch = append(ch, changes.Change{Field: "slackWebhookURL", Old: changes.Mask(before.SlackWebhookURL), New: changes.Mask(t.SlackWebhookURL)})
	}
	return t, activity.Record(ctx, c, activity.Entry{
		Action: "tenant.config", EntityType: "Tenant", EntityID: t.ID,
		Summary: "changed notification settings", Changes: ch,
	})
}
