package graph_test

import (
	"slices"
	"testing"

	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/role"
)

// The isolation suite: callers of the "attacker" tenant, at every role (and a
// user who belongs to both tenants, an authenticated non-member and an
// anonymous caller), aim every query, mutation, node lookup and filter at the
// objects of the "victim" tenant. Another tenant's object must get exactly the
// answer a nonexistent ID gets, and after every attack neither the victim's
// view of its data nor any row of the database may have changed.

func TestIsolation(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newIsoWorld(t, e)
		t.Run("node", w.testNode)
		t.Run("mutations by ID", w.testMutations)
		t.Run("assignee of another tenant", w.testAssignee)
		t.Run("connections and filters", w.testConnections)
		t.Run("headers naming another tenant", w.testForeignHeaders)
		t.Run("viewer memberships", w.testMemberships)
	})
}

const isoNodeQuery = `query($id: ID!) { node(id: $id) { id __typename
	... on Project { name status } ... on Task { title } ... on Comment { body }
	... on Membership { role } ... on Tenant { slug } ... on User { email } } }`

func (w *isoWorld) testNode(t *testing.T) {
	for _, c := range w.callers {
		t.Run(c.name, func(t *testing.T) {
			var all []string
			for _, typ := range isoTypes {
				all = append(all, w.victim[typ]...)
				for _, id := range w.victim[typ] {
					got := w.e.Do(c.caller, isoNodeQuery, map[string]any{"id": id})
					if want := c.gate(role.Viewer); want != "" {
						if got.Code() != want {
							t.Errorf("node(victim %s): got %q %+v, want %s", typ, got.Code(), got.Errors, want)
						}
					} else if len(got.Errors) > 0 || string(got.Data) != `{"node":null}` {
						t.Errorf("node(victim %s): got %s %+v, want null and no error", typ, got.Data, got.Errors)
					}
					isoSameAnswer(t, got, w.e.Do(c.caller, isoNodeQuery, map[string]any{"id": w.missing[typ]}))
				}
			}
			got := w.e.Do(c.caller, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": all})
			if want := c.gate(role.Viewer); want != "" {
				if got.Code() != want {
					t.Errorf("nodes(victim IDs): got %q, want %s", got.Code(), want)
				}
				return
			}
			var out struct{ Nodes []*struct{ ID string } }
			got.Decode(t, &out)
			if len(out.Nodes) != len(all) || slices.ContainsFunc(out.Nodes, func(n *struct{ ID string }) bool { return n != nil }) {
				t.Errorf("nodes(victim IDs): got %s, want %d nulls", got.Data, len(all))
			}
			// The same lookup finds the caller's own objects, so the nulls
			// above are the tenant boundary, not a broken lookup.
			for _, typ := range isoTypes {
				var own struct{ Node *struct{ ID string } }
				isoMust(t, w.e, c.caller, isoNodeQuery, map[string]any{"id": w.own[typ][0]}, &own)
				if own.Node == nil || own.Node.ID != w.own[typ][0] {
					t.Errorf("node(own %s): got %+v, want %s", typ, own.Node, w.own[typ][0])
				}
			}
		})
	}
	w.assertUnchanged(t)
}

// isoMutations are the mutations that name an object by ID, with the least
// role of their @hasRole (schema.graphql) and the type of that object.
var isoMutations = []struct {
	name  string
	min   role.Role
	typ   string
	query string
}{
	{"updateProject", role.Member, "Project", `mutation($id: ID!) { updateProject(id: $id, input: {name: "pwned", description: null}) { id name } }`},
	{"deleteProject", role.Manager, "Project", `mutation($id: ID!) { deleteProject(id: $id) }`},
	{"transitionProject", role.Member, "Project", `mutation($id: ID!) { transitionProject(id: $id, to: SUBMITTED) { id status } }`},
	{"createTask", role.Member, "Project", `mutation($id: ID!) { createTask(input: {projectID: $id, title: "pwned"}) { id } }`},
	{"updateTask", role.Member, "Task", `mutation($id: ID!) { updateTask(id: $id, input: {title: "pwned", status: DONE, assigneeID: null}) { id } }`},
	{"deleteTask", role.Member, "Task", `mutation($id: ID!) { deleteTask(id: $id) }`},
	{"createComment", role.Member, "Task", `mutation($id: ID!) { createComment(input: {taskID: $id, body: "pwned"}) { id } }`},
	{"updateComment", role.Member, "Comment", `mutation($id: ID!) { updateComment(id: $id, input: {body: "pwned"}) { id body } }`},
	{"deleteComment", role.Member, "Comment", `mutation($id: ID!) { deleteComment(id: $id) }`},
	{"updateMemberRole", role.Owner, "Membership", `mutation($id: ID!) { updateMemberRole(id: $id, role: VIEWER) { id role } }`},
	{"removeMember", role.Owner, "Membership", `mutation($id: ID!) { removeMember(id: $id) }`},
}

func (w *isoWorld) testMutations(t *testing.T) {
	for _, m := range isoMutations {
		t.Run(m.name, func(t *testing.T) {
			for _, c := range w.callers {
				t.Run(c.name, func(t *testing.T) {
					want := c.gate(m.min)
					if want == "" {
						want = "NOT_FOUND"
					}
					for i, id := range w.victim[m.typ] {
						got := w.e.Do(c.caller, m.query, map[string]any{"id": id})
						if got.Code() != want || len(got.Errors) != 1 || string(got.Data) != "null" {
							t.Errorf("victim %s #%d: got %q %s %+v, want %s and null data", m.typ, i+1, got.Code(), got.Data, got.Errors, want)
						}
						isoSameAnswer(t, got, w.e.Do(c.caller, m.query, map[string]any{"id": w.missing[m.typ]}))
						w.assertUnchanged(t)
					}
				})
			}
		})
	}
}

func (w *isoWorld) testAssignee(t *testing.T) {
	ops := []struct{ name, query, target string }{
		{"createTask", `mutation($id: ID!, $u: ID) { createTask(input: {projectID: $id, title: "x", assigneeID: $u}) { id } }`, w.own["Project"][0]},
		{"updateTask", `mutation($id: ID!, $u: ID) { updateTask(id: $id, input: {assigneeID: $u}) { id } }`, w.own["Task"][0]},
	}
	for _, op := range ops {
		for _, c := range w.callers {
			t.Run(op.name+"/"+c.name, func(t *testing.T) {
				want := c.gate(role.Member)
				if want == "" {
					want = "BAD_USER_INPUT"
				}
				for _, u := range w.victim["User"] {
					got := w.e.Do(c.caller, op.query, map[string]any{"id": op.target, "u": u})
					if got.Code() != want {
						t.Errorf("assignee only in the victim tenant: got %q %+v, want %s", got.Code(), got.Errors, want)
					} else if want == "BAD_USER_INPUT" && got.Errors[0].Extensions["field"] != "assigneeID" {
						t.Errorf("field: got %v, want assigneeID", got.Errors[0].Extensions["field"])
					}
					isoSameAnswer(t, got, w.e.Do(c.caller, op.query, map[string]any{"id": op.target, "u": w.missing["User"]}))
					w.assertUnchanged(t)
				}
			})
		}
	}
}
