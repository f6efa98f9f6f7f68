package graph_test

import (
	"testing"

	"tenantgraph/graph/graphtest"
)

func TestSmoke(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice := e.Register("Alice")
		e.CreateTenant(alice, "acme")
		c := alice.Caller("acme")
		p := e.CreateProject(c, "Rocket")
		task := e.CreateTask(c, p, "Fuel")
		e.CreateComment(c, task, "Full tank")
		e.Transition(c, p, "SUBMITTED")
		var out struct {
			Projects struct {
				TotalCount int
				Edges      []struct{ Node struct{ Status string } }
			}
		}
		e.MustDo(c, `{ projects { totalCount edges { node { status } } } }`, nil, &out)
		if out.Projects.TotalCount != 1 || out.Projects.Edges[0].Node.Status != "SUBMITTED" {
			t.Fatalf("got %+v", out)
		}
	})
}
