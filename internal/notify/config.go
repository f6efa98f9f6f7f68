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

// UpdateConfig changes the current tenant's notification settings. Unknown
// channels, a webhook URL the guard refuses, and SLACK without a webhook URL
// are Invalid errors naming the field.
func UpdateConfig(ctx context.Context, c *ent.Client, guard WebhookGuard, in ConfigInput) (*ent.Tenant, error) {
	v := viewer.FromContext(ctx)
	t, err := c.Tenant.Get(ctx, v.TenantID)
	if err != nil {
		return nil, fmt.Errorf("notify: loading tenant: %w", err)
	}
	channels := t.NotificationChannels
	if in.Channels != nil {
		channels = []string{}
		for _, ch := range in.Channels {
			if !ValidChannel(ch) {
				return nil, apperr.InvalidField("notificationChannels", "%q is not a channel (IN_APP, EMAIL, SLACK)", ch)
			}
			if !slices.Contains(channels, ch) {
				channels = append(channels, ch)
			}
		}
	}
	webhook := t.SlackWebhookURL
	if in.WebhookSet {
		webhook = ""
		if in.WebhookURL != nil && *in.WebhookURL != "" {
			// Slack's URLs are about 80 characters; a longer one is an abuse
			// of the tenant row, not a webhook.
			if err := validate.Text("slackWebhookURL", *in.WebhookURL, 0, maxWebhookURL); err != nil {
				return nil, err
			}
			if err := guard.CheckURL(ctx, *in.WebhookURL); err != nil {
				return nil, apperr.InvalidField("slackWebhookURL", "%v", err)
			}
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
