package graph_test

import (
	"fmt"
	"sync"
	"testing"

	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
)

// A user may own MaxTenantsPerOwner tenants when they create one: past it,
// createTenant is FORBIDDEN and writes nothing. Anyone can register, and
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
