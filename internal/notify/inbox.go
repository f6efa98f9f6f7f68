package notify

import (
	"context"
	"fmt"

	"entgo.io/contrib/entgql"

	"tenantgraph/ent"
	"tenantgraph/ent/notification"
	"tenantgraph/internal/apperr"
)

// The caller's inbox: every query here goes through the scoped client, whose
// privacy rule shows a user only their own notifications in the current
// tenant; someone else's notification is not found.

// List returns the caller's notifications, newest first.
func List(ctx context.Context, c *ent.Client, after *entgql.Cursor[int], first *int, before *entgql.Cursor[int], last *int, unreadOnly bool) (*ent.NotificationConnection, error) {
	q := c.Notification.Query()
	if unreadOnly {
		q = q.Where(notification.Read(false))
	}
	return q.Paginate(ctx, after, first, before, last, ent.WithNotificationOrder(&ent.NotificationOrder{
		Direction: entgql.OrderDirectionDesc, Field: ent.NotificationOrderFieldCreatedAt,
	}))
}

// UnreadCount counts the caller's unread notifications.
func UnreadCount(ctx context.Context, c *ent.Client) (int, error) {
	n, err := c.Notification.Query().Where(notification.Read(false)).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("notify: counting unread: %w", err)
	}
	return n, nil
}

// MarkRead marks one of the caller's notifications read.
func MarkRead(ctx context.Context, c *ent.Client, id int) (*ent.Notification, error) {
	n, err := c.Notification.UpdateOneID(id).SetRead(true).Save(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "no such notification")
	}
	if err != nil {
		return nil, fmt.Errorf("notify: marking read: %w", err)
	}
	return n, nil
}

// MarkAllRead marks every unread notification of the caller in the tenant
// read and returns how many changed.
func MarkAllRead(ctx context.Context, c *ent.Client) (int, error) {
	n, err := c.Notification.Update().Where(notification.Read(false)).SetRead(true).Save(ctx)
	if err != nil {
		return 0, fmt.Errorf("notify: marking all read: %w", err)
	}
	return n, nil
}
