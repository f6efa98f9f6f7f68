package graph

import (
	"context"
	"sync"
	"sync/atomic"

	"tenantgraph/ent"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/pubsub"
	"tenantgraph/internal/tenancy"
	"tenantgraph/internal/viewer"
)

// notificationFeed streams the caller's in-app notifications in the
// connection's tenant. Each event names a committed notification; the feed
// hub reads it (in one query with the other subscribers' events) and hands
// it over only if the caller is its recipient in this tenant. A subscriber
// that falls pubsub.DefaultBuffer notifications behind, or whose
// notifications cannot be read, is disconnected (1013 Try Again Later: its
// client reconnects and subscribes again); the stream also ends with the
// connection, on server shutdown and when the token expires (the
// websocket's context carries its expiry), and completes when its member
// is removed.
func (r *Resolver) notificationFeed(ctx context.Context) (<-chan *ent.Notification, error) {
	release, err := takeSubscriptionSlot(ctx)
	if err != nil {
		return nil, err
	}
	v := viewer.FromContext(ctx)
	s := &feedSubscriber{
		tenantID: v.TenantID,
		userID:   v.UserID,
		out:      make(chan *ent.Notification, pubsub.DefaultBuffer),
		wake:     wakeOnEvent(ctx),
	}
	if enc := compileFeedEncoder(ctx, s.out); enc != nil && !feedEncoderOff.Load() {
		writeEventsDirectly(ctx, enc.next)
	}
	r.metrics.Subscriptions(+1)
	s.cleanup = func() {
		release()
		r.metrics.Subscriptions(-1)
	}
	// The subscription needs no goroutine of its own while it waits: the
	// broker hands events to the hub, the hub pushes to out, and wake tells
	// the websocket transport (websocket_stream.go) that there is something to
	// send. The transport cancels ctx once the stream has ended, whatever
	// ended it, so the AfterFunc does not outlive the subscription.
	context.AfterFunc(ctx, s.end)
	sub := r.broker.SubscribeFunc(v.TenantID, v.UserID, func(ev pubsub.Event) bool {
		return r.feed.enqueue(s, ev.NotificationID)
	}, func() { s.brokerEnded(ctx) })
	s.mu.Lock()
	s.sub = sub
	ended, retry := s.done, s.retry
	s.mu.Unlock()
	if ended { // ctx ended, the broker was closed, or it was dropped, while subscribing
		switch {
		case sub.BrokerClosed():
			goingAway(ctx)
		case retry || sub.Dropped():
			tryAgainLater(ctx)
		}
		sub.Close()
		return s.out, nil
	}
	// The caller's membership was read when the operation started. A
	// removal that committed since published its revoke before the broker
	// knew of this subscription, so nothing ended it: read the membership
	// again, now that any later revoke will. (Removals publish after they
	// commit, so this read or the revoke sees each one.) Not a member, or
	// no answer: the stream ends at once, as a revoke ends it.
	switch now, err := tenancy.RoleIn(ctx, r.client, v.TenantID, v.UserID); {
	case err != nil:
		s.end()
		if cancelled(ctx, err) {
			return s.out, nil
		}
		// An error, not a bare "complete", which a client takes for a
		// stream that ended as it should and does not subscribe again.
		r.log.ErrorContext(ctx, "reading the membership of a new notificationAdded subscription", "error", err.Error())
		failedAfterSignalling(ctx)
		return nil, apperr.New(apperr.Internal, "internal server error")
	case now == "":
		s.end()
	default:
		logSubscribed(ctx)
	}
	return s.out, nil
}

// feedEncoderOff sends every event through the executor (tests compare
// the encoder's payloads with the executor's).
var feedEncoderOff atomic.Bool

// feedSubscriber is one live notificationAdded subscription.
type feedSubscriber struct {
	tenantID, userID int
	sub              *pubsub.Subscription
	cleanup          func()
	wake             func() // after each value sent on out, and after closing it; nil: none

	mu    sync.Mutex
	out   chan *ent.Notification // closed by end
	done  bool
	retry bool // dropped while notificationFeed was subscribing (s.sub nil)
}

// push hands n to the subscription; one whose buffer is full (its client
// is not reading) is dropped instead.
func (s *feedSubscriber) push(n *ent.Notification) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	select {
	case s.out <- n:
		s.mu.Unlock()
		s.signal()
	default:
		s.mu.Unlock()
		s.drop()
	}
}

// signal tells the transport that out has a value, or was closed.
func (s *feedSubscriber) signal() {
	if s.wake != nil {
		s.wake()
	}
}

// end closes the stream, dropping what it still buffers (the transport
// then completes the subscription), and gives back what it held. It runs
// once, whichever comes first: the connection's context ends, the
// subscriber falls behind, or the broker ends the subscription (a revoke,
// or closing; its Close from here then does nothing).
func (s *feedSubscriber) end() {
	if sub := s.finish(); sub != nil {
		sub.Close()
	}
}

// drop ends the stream as one that missed notifications: its client fell
// behind, or they could not be read. The broker drops the subscription,
// and brokerEnded closes the connection before the stream ends.
func (s *feedSubscriber) drop() {
	s.mu.Lock()
	sub := s.sub
	if sub == nil {
		s.retry = true // notificationFeed closes the connection
	}
	s.mu.Unlock()
	if sub != nil {
		sub.Drop()
		return
	}
	s.end()
}

// brokerEnded is the broker's end of the subscription: a revoke, the
// subscription dropped (the subscriber fell behind, its notifications
// could not be read, or the broker's LISTEN connection was cut), or the
// broker closing. Only a revoke completes the stream: a client told
// "complete" takes the subscription for finished and does not subscribe
// again. When the broker closed (the server is stopping) the connection is
// closed with 1001 Going Away, and when the subscription was dropped with
// 1013 Try Again Later, before the stream ends: graphql-ws reconnects
// after either and subscribes again (to another instance, after a 1001).
// (notificationFeed does the same when it ended while it subscribed,
// before s.sub is set.)
func (s *feedSubscriber) brokerEnded(ctx context.Context) {
	s.mu.Lock()
	sub := s.sub
	s.mu.Unlock()
	switch {
	case sub == nil:
	case sub.BrokerClosed():
		goingAway(ctx)
	case sub.Dropped():
		tryAgainLater(ctx)
	}
	s.end()
}

// finish closes the stream and releases what the subscription held, once;
// it returns the broker subscription to close, or nil if it had already
// finished (or notificationFeed is still subscribing: it closes it then).
func (s *feedSubscriber) finish() *pubsub.Subscription {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return nil
	}
	s.done = true
	// What is still buffered is not sent: a stream ends because its
	// member was removed, its client went or fell behind, or the server
	// stops, and in none of those should it go on delivering. The rows
	// stay in the notifications list.
	for len(s.out) > 0 {
		select {
		case <-s.out:
		default: // the transport took it meanwhile
		}
	}
	close(s.out)
	sub := s.sub
	s.mu.Unlock()
	s.signal()
	s.cleanup()
	return sub
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
