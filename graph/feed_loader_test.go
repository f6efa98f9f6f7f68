package graph_test

import (
	"context"
	"testing"
	"time"

	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/pubsub"
)

// The feed loader reads notifications for many subscribers at once, as
// system work; it must still hand each row only to its recipient in its
// tenant. Events are forged here straight into the broker (as a bug in a
// trigger, or a hostile peer on the NOTIFY channel, might send them): an
// event that names someone else's notification pushes nothing.
func TestFeedLoaderChecksRecipientAndTenant(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice, bob, gina := e.Register("Alice"), e.Register("Bob"), e.Register("Gina")
		acmeID := e.CreateTenant(alice, "acme")
		globexID := e.CreateTenant(gina, "globex")
		e.AddMember(alice, "acme", bob, "MEMBER")
		e.AddMember(gina, "globex", bob, "MEMBER")
		project := e.CreateProject(alice.Caller("acme"), "Anvil")
		createAssignedTask(t, e, alice.Caller("acme"), project, "Anneal", bob.ID)
		ids := notificationIDs(t, e, bob.Caller("acme"))
		if len(ids) == 0 {
			t.Fatal("Bob has no notification in acme")
		}
		raw := func(id string) int { return authDecodeID(t, id) }
		bobsNote, aliceID, bobID := raw(ids[0]), raw(alice.ID), raw(bob.ID)
		acme, globex := raw(acmeID), raw(globexID)

		aliceFeed := subscribe(t, e, alice, "acme")
		bobElsewhere := subscribe(t, e, bob, "globex")
		publish := func(ev pubsub.Event) {
			t.Helper()
			if err := e.Broker.Publish(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
		publish(pubsub.Event{TenantID: acme, UserID: aliceID, NotificationID: bobsNote})       // not Alice's
		publish(pubsub.Event{TenantID: globex, UserID: bobID, NotificationID: bobsNote})       // Bob's, but not in globex
		publish(pubsub.Event{TenantID: acme, UserID: aliceID, NotificationID: bobsNote + 1e6}) // no such row
		silence(t, 300*time.Millisecond, map[string]*feedClient{"Alice in acme": aliceFeed, "Bob in globex": bobElsewhere})

		// The control: the same path delivers a genuine event.
		bobHome := subscribe(t, e, bob, "acme")
		publish(pubsub.Event{TenantID: acme, UserID: bobID, NotificationID: bobsNote})
		if got := bobHome.next(t, 2*time.Second); got.ID != ids[0] {
			t.Errorf("Bob in acme: got %+v, want notification %s", got, ids[0])
		}
	})
}
