// Package pubsub carries "a notification was committed for user U in tenant
// T" from the instance that wrote it to the subscribers connected to any
// instance. Events carry IDs only; subscribers load what they may see.
package pubsub

import "context"

// Event says that notification NotificationID for UserID in TenantID has
// been committed; or, with no NotificationID (Revoke), that UserID's
// membership in TenantID has ended.
type Event struct {
	TenantID       int
	UserID         int
	NotificationID int
}

// Revoke is the event that ends every subscription of userID in tenantID,
// on every instance: their membership there has ended, and a stream must
// not go on carrying notifications written before that.
func Revoke(tenantID, userID int) Event { return Event{TenantID: tenantID, UserID: userID} }

// Revokes reports whether e is a Revoke.
func (e Event) Revokes() bool { return e.NotificationID == 0 }

// Broker publishes events and hands them to the subscribers of their
// (tenant, user).
type Broker interface {
	// Publish sends committed events to every subscriber of their
	// (tenant, user), on every instance.
	Publish(ctx context.Context, events ...Event) error
	// Subscribe returns a subscription to the events of one (tenant, user),
	// buffered on a channel.
	Subscribe(tenantID, userID int) *Subscription
	// SubscribeFunc returns a subscription to the events of one (tenant,
	// user) that are handed to deliver (see Local.SubscribeFunc).
	SubscribeFunc(tenantID, userID int, deliver func(Event) bool, end func()) *Subscription
	// Close ends every subscription.
	Close() error
}

// InTx is a Broker that can publish as part of a database transaction:
// the events reach the subscribers when, and only when, the transaction
// commits. A change published so is never committed without being
// announced, as one published after its commit would be if that publish
// failed (a database too busy to take the statement in time). Postgres is
// one (its NOTIFY is transactional); Local is not, and needs none: its
// Publish cannot fail.
type InTx interface {
	Broker
	// PublishIn publishes events through exec, which runs a statement in
	// the transaction.
	PublishIn(ctx context.Context, exec Exec, events ...Event) error
}

// Exec runs one statement, as database/sql's ExecContext does.
type Exec func(ctx context.Context, query string, args ...any) error
