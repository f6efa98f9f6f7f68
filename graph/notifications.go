package graph

import (
	"context"
	"sync"

	"tenantgraph/ent"
	"tenantgraph/ent/notification"
	"tenantgraph/graph/model"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/notify"
	"tenantgraph/internal/viewer"
)

// notificationFeed streams the caller's in-app notifications in the
// connection's tenant. Each event names a committed notification; it is
// loaded through the scoped client, so the caller sees only their own. The
// broker disconnects a subscriber that falls behind (the stream then ends);
// the stream also ends with the connection, on server shutdown and when the
// token expires (the websocket's context carries its expiry).
func (r *Resolver) notificationFeed(ctx context.Context) (<-chan *ent.Notification, error) {
	release, err := takeSubscriptionSlot(ctx)
	if err != nil {
		return nil, err
	}
	v := viewer.FromContext(ctx)
	sub := r.broker.Subscribe(v.TenantID, v.UserID)
	out := make(chan *ent.Notification, 1)
	r.metrics.Subscriptions(+1)
	go func() {
		defer r.metrics.Subscriptions(-1)
		defer release()
		defer close(out)
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-sub.C:
				if !ok {
					return
				}
				n, err := r.client.Notification.Query().
					Where(notification.ID(ev.NotificationID)).
					WithProject().WithTask().
					Only(ctx)
				if err != nil {
					continue // gone, or not the caller's: nothing to push
				}
				select {
				case out <- n:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

type subscriptionCapKey struct{}

type subscriptionCap struct {
	mu    sync.Mutex
	open  int
	limit int
}

// withSubscriptionCap gives a websocket connection's context a cap on its
// concurrent subscriptions.
func withSubscriptionCap(ctx context.Context, limit int) context.Context {
	return context.WithValue(ctx, subscriptionCapKey{}, &subscriptionCap{limit: limit})
}

// takeSubscriptionSlot counts one more subscription on the connection, or
// refuses it (RATE_LIMITED) past the cap. release gives the slot back.
// Only a websocket connection has a cap (websocketInit sets it): a
// subscription sent over plain HTTP is refused (BAD_USER_INPUT) rather than
// left to hold its request open until the first event or the timeout.
func takeSubscriptionSlot(ctx context.Context) (release func(), err error) {
	c, ok := ctx.Value(subscriptionCapKey{}).(*subscriptionCap)
	if !ok {
		return nil, apperr.New(apperr.Invalid, "subscriptions are served over websockets only (graphql-transport-ws)")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open >= c.limit {
		return nil, apperr.New(apperr.RateLimited, "at most %d subscriptions per connection", c.limit)
	}
	c.open++
	return func() {
		c.mu.Lock()
		c.open--
		c.mu.Unlock()
	}, nil
}

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

func configInput(in model.TenantConfigInput) notify.ConfigInput {
	out := notify.ConfigInput{WebhookSet: in.SlackWebhookURL.IsSet(), WebhookURL: in.SlackWebhookURL.Value()}
	if in.NotificationChannels != nil {
		out.Channels = make([]string, len(in.NotificationChannels))
		for i, ch := range in.NotificationChannels {
			out.Channels[i] = string(ch)
		}
	}
	return out
}
