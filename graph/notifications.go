package graph

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/graph-gophers/dataloader/v7"

	"tenantgraph/ent"
	"tenantgraph/ent/notification"
	"tenantgraph/ent/privacy"
	"tenantgraph/graph/model"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/notify"
	"tenantgraph/internal/viewer"
)

// notificationFeed streams the caller's in-app notifications in the
// connection's tenant. Each event names a committed notification; the feed
// loader reads it (batched with the other subscribers' reads) and hands it
// over only if the caller is its recipient in this tenant. The
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
				n, err := r.feed.load(ctx, v, ev.NotificationID)
				if err != nil || n == nil {
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

// feedLoader reads the notifications that live subscriptions are about to
// push, many at a time. One broadcast to a thousand subscribers (a project
// submitted in a large tenant) then costs a few queries instead of three
// thousand: the keys that arrive within feedWait go out as one batch.
//
// A batch mixes recipients, so it cannot run as any one subscriber. It is
// system work: the query runs under privacy.Allow, and load then applies
// the Notification policy itself, handing a row over only to a subscriber
// who is its recipient in its tenant (graph/feed_loader_test.go forges
// events to prove it).
type feedLoader struct {
	client *ent.Client
	loader *dataloader.Loader[int, *ent.Notification]
}

const (
	feedWait    = 250 * time.Microsecond
	feedBatch   = 1000 // IDs per query: within every database's bind limit
	feedTimeout = 10 * time.Second
)

func newFeedLoader(c *ent.Client) *feedLoader {
	f := &feedLoader{client: c}
	f.loader = dataloader.NewBatchedLoader(f.batch,
		dataloader.WithWait[int, *ent.Notification](feedWait),
		dataloader.WithBatchCapacity[int, *ent.Notification](feedBatch),
		// Every read goes to the database: a notification's read flag
		// changes, and the loader lives as long as the server.
		dataloader.WithCache[int, *ent.Notification](&dataloader.NoCache[int, *ent.Notification]{}))
	return f
}

// load returns notification id with its project and task if v is its
// recipient in v's tenant; nil if it is not v's or no longer exists.
func (f *feedLoader) load(ctx context.Context, v *viewer.Viewer, id int) (*ent.Notification, error) {
	n, err := f.loader.Load(ctx, id)()
	if err != nil || n == nil {
		return nil, err
	}
	if n.TenantID != v.TenantID || n.RecipientID != v.UserID {
		return nil, nil
	}
	return n, nil
}

// batch reads many notifications in one query (and one each for their
// projects and tasks). The context is the first subscriber's: it is
// detached from that subscriber's cancellation, so one client leaving does
// not fail the others' reads.
func (f *feedLoader) batch(ctx context.Context, ids []int) []*dataloader.Result[*ent.Notification] {
	ctx, cancel := context.WithTimeout(privacy.DecisionContext(context.WithoutCancel(ctx), privacy.Allow), feedTimeout)
	defer cancel()
	ns, err := f.client.Notification.Query().
		Where(notification.IDIn(ids...)).
		WithProject().WithTask().
		All(ctx)
	byID := make(map[int]*ent.Notification, len(ns))
	for _, n := range ns {
		byID[n.ID] = n
	}
	out := make([]*dataloader.Result[*ent.Notification], len(ids))
	for i, id := range ids {
		if err != nil {
			out[i] = &dataloader.Result[*ent.Notification]{Error: fmt.Errorf("loading notifications for the feed: %w", err)}
			continue
		}
		out[i] = &dataloader.Result[*ent.Notification]{Data: byID[id]} // nil: gone
	}
	return out
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
