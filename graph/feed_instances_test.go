package graph_test

import (
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"tenantgraph/graph/graphtest"
)

// TestFeedAcrossInstances runs two server instances on one PostgreSQL
// database, each with its own LISTEN/NOTIFY broker: a mutation served by one
// reaches a subscriber connected to the other. (On SQLite each instance has
// an in-process broker, so this holds for PostgreSQL alone; in CI a missing
// TEST_DATABASE_URL fails, as everywhere.)
func TestFeedAcrossInstances(t *testing.T) {
	ran := false
	t.Cleanup(func() {
		if !ran {
			t.Log("TEST_DATABASE_URL is not set: no PostgreSQL to run two instances on (CI fails instead)")
		}
	})
	for _, d := range graphtest.Dialects(t) {
		if d != dialect.Postgres {
			continue
		}
		ran = true
		t.Run(d, func(t *testing.T) {
			a := graphtest.New(t, d)
			b := graphtest.NewOn(t, d, a.DatabaseURL)
			owner, member := a.Register("Owner"), a.Register("Member")
			a.CreateTenant(owner, "acme")
			a.AddMember(owner, "acme", member, "MEMBER")
			project := a.CreateProject(owner.Caller("acme"), "Rocket")

			cases := []struct {
				name           string
				mutate, listen *graphtest.Env
			}{
				{"served by A, subscribed to B", a, b},
				{"served by B, subscribed to A", b, a},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					// The previous case's connections are gone.
					waitSubscribers(t, a, 0, 5*time.Second)
					waitSubscribers(t, b, 0, 5*time.Second)
					feed := subscribe(t, tc.listen, member, "acme")
					sameInstance := subscribe(t, tc.mutate, owner, "acme") // the actor: told nothing, anywhere
					start := time.Now()
					task := createAssignedTask(t, tc.mutate, owner.Caller("acme"), project, tc.name, member.ID)
					got := feed.next(t, time.Second)
					t.Logf("delivered across instances %s after the mutation started", time.Since(start))
					if got.Kind != "TASK_ASSIGNED" || got.Task == nil || got.Task.ID != task {
						t.Errorf("got %+v, want TASK_ASSIGNED about task %s", got, task)
					}
					silence(t, 300*time.Millisecond, map[string]*feedClient{"the subscriber, after its one": feed, "the actor": sameInstance})
				})
			}
		})
	}
}
