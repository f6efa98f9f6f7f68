package graph_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
)

// A user may create MaxTenantsPerOwner tenants: past it, createTenant is
// FORBIDDEN and writes nothing. Anyone can register, and
// nothing deletes a tenant: without a bound, one account could write tens
// of thousands a minute. Creations at once are counted one after the
// other, so that a burst does not slip past the bound.
func TestTenantsPerOwnerAreBounded(t *testing.T) {
	graphtest.RunWith(t, graphtest.Options{Deps: func(d *graph.Deps) { d.MaxTenantsPerOwner = 3 }}, func(t *testing.T, e *graphtest.Env) {
		const create = `mutation($slug: String!) { createTenant(input: {name: "T", slug: $slug}) { id } }`
		var mu sync.Mutex
		codes := map[string]int{}
		var wg sync.WaitGroup
		owner := e.Register("Owner")
		for i := range 8 {
			wg.Go(func() {
				r := e.Do(graphtest.Caller{Token: owner.Token}, create, map[string]any{"slug": fmt.Sprintf("t-%d", i)})
				mu.Lock()
				defer mu.Unlock()
				codes[r.Code()]++
			})
		}
		wg.Wait()
		if codes[""] != 3 || codes["FORBIDDEN"] != 5 {
			t.Errorf("eight creations at once: %v, want 3 created and 5 FORBIDDEN", codes)
		}
		var mine struct {
			Viewer struct{ Memberships []struct{ Role string } }
		}
		e.MustDo(graphtest.Caller{Token: owner.Token}, `{ viewer { memberships { role } } }`, nil, &mine)
		if n := len(mine.Viewer.Memberships); n != 3 {
			t.Errorf("the user is a member of %d tenants, want the 3 created", n)
		}
		// Someone else is not counted against them.
		other := e.Register("Other")
		if r := e.Do(graphtest.Caller{Token: other.Token}, create, map[string]any{"slug": "theirs"}); r.Code() != "" {
			t.Errorf("another user's first tenant: %s", r.Code())
		}
	})
}

// The quota counts the tenants a user created, not the tenants they own.
// Anyone may make anyone OWNER of their own tenant (addMember): counting
// owned tenants let an attacker fill a stranger's quota and lock them out
// of createTenant. And a tenant handed on to another OWNER, and left, is
// still the creator's: leaving does not give the quota back.
func TestTenantQuotaCountsTenantsCreated(t *testing.T) {
	graphtest.RunWith(t, graphtest.Options{Deps: func(d *graph.Deps) { d.MaxTenantsPerOwner = 2 }}, func(t *testing.T, e *graphtest.Env) {
		const create = `mutation($slug: String!) { createTenant(input: {name: "T", slug: $slug}) { id } }`
		attacker, victim := e.Register("Attacker"), e.Register("Victim")
		for _, slug := range []string{"evil-1", "evil-2"} {
			e.CreateTenant(attacker, slug)
			e.AddMember(attacker, slug, victim, "OWNER")
		}
		if r := e.Do(graphtest.Caller{Token: victim.Token}, create, map[string]any{"slug": "victim-corp"}); r.Code() != "" {
			t.Fatalf("the victim, made OWNER of two tenants by someone else, creating their own: got %s (%v), want it created",
				r.Code(), r.Errors)
		}
		// The attacker hands both tenants on to the victim and leaves them.
		for _, slug := range []string{"evil-1", "evil-2"} {
			var members struct {
				Members struct {
					Edges []struct {
						Node struct {
							ID   string
							User struct{ ID string }
						}
					}
				}
			}
			e.MustDo(victim.Caller(slug), `{ members { edges { node { id user { id } } } } }`, nil, &members)
			for _, m := range members.Members.Edges {
				if m.Node.User.ID == attacker.ID {
					e.MustDo(victim.Caller(slug), `mutation($id: ID!) { removeMember(id: $id) }`, map[string]any{"id": m.Node.ID}, nil)
				}
			}
		}
		r := e.Do(graphtest.Caller{Token: attacker.Token}, create, map[string]any{"slug": "evil-3"})
		if r.Code() != "FORBIDDEN" || !strings.Contains(r.Errors[0].Message, "you have created 2 tenants already") {
			t.Errorf("the attacker, having created two tenants and left them: got %s (%v), want FORBIDDEN", r.Code(), r.Errors)
		}
	})
}
