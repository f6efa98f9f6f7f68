package graph

import (
	"context"

	"tenantgraph/ent"
	"tenantgraph/graph/model"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/notify"
	"tenantgraph/internal/viewer"
)

// tenantConfig is a tenant's notification settings; only the current
// tenant's are readable (the webhook URL's @hasRole checks the role there).
func tenantConfig(ctx context.Context, t *ent.Tenant) (*model.TenantConfig, error) {
	if t.ID != viewer.FromContext(ctx).TenantID {
		return nil, apperr.New(apperr.Forbidden, "only the current tenant's configuration is readable; switch tenants to read another's")
	}
	cfg := &model.TenantConfig{NotificationChannels: make([]model.NotificationChannel, len(t.NotificationChannels))}
	for i, ch := range t.NotificationChannels {
		cfg.NotificationChannels[i] = model.NotificationChannel(ch)
	}
	if t.SlackWebhookURL != "" {
		cfg.SlackWebhookURL = &t.SlackWebhookURL
	}
	return cfg, nil
}

func configInput(in model.TenantConfigInput) (notify.ConfigInput, error) {
	out := notify.ConfigInput{WebhookSet: in.SlackWebhookURL.IsSet(), WebhookURL: in.SlackWebhookURL.Value()}
	channels := in.NotificationChannels.Value()
	if in.NotificationChannels.IsSet() && channels == nil {
		return out, apperr.InvalidField("notificationChannels", "cannot be null: leave it out to keep the channels, or send [] to turn them all off")
	}
	if channels != nil {
		out.Channels = make([]string, len(channels))
		for i, ch := range channels {
			out.Channels[i] = string(ch)
		}
	}
	return out, nil
}
