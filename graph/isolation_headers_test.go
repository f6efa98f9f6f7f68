package graph_test

// Isolation by tenant header and by membership, including removed members.

import (
	"fmt"
	"slices"
	"testing"

	"tenantgraph/graph/graphtest"
)

func (w *isoWorld) testForeignHeaders(t *testing.T) {
	ops := []struct{ name, query string }{
		{"members", `{ members { totalCount edges { node { id } } } }`},
		{"projects", `{ projects { totalCount edges { node { id name } } } }`},
		{"tasks", `{ tasks { totalCount edges { node { id title } } } }`},
		{"node", `query($id: ID!) { node(id: $id) { id } }`},
		{"nodes", `query($id: ID!) { nodes(ids: [$id]) { id } }`},
		{"createProject", `mutation { createProject(input: {name: "pwned"}) { id } }`},
		{"addMember", `mutation($email: String!) { addMember(input: {email: $email, role: OWNER}) { id } }`},
	}
	for _, m := range isoMutations {
		ops = append(ops, struct{ name, query string }{m.name, m.query})
	}
	typeOf := map[string]string{"node": "Project", "nodes": "Task"}
	for _, m := range isoMutations {
		typeOf[m.name] = m.typ
	}
	for _, c := range w.callers {
		if slices.Contains(c.tenants, "victim") {
			continue // a member of the victim tenant may work in it
		}
		headers := map[string]graphtest.Caller{
			"X-Tenant-Slug": {Token: c.caller.Token, TenantSlug: "victim"},
			"X-Tenant-ID":   {Token: c.caller.Token, TenantID: w.victimID},
		}
		for header, in := range headers {
			t.Run(c.name+"/"+header, func(t *testing.T) {
				want := "FORBIDDEN"
				if c.anonymous {
					want = "UNAUTHENTICATED"
				}
				for _, op := range ops {
					vars := map[string]any{"email": w.outsider.Email}
					if typ := typeOf[op.name]; typ != "" {
						vars["id"] = w.victim[typ][0]
					}
					if got := w.e.Do(in, op.query, vars); got.Code() != want {
						t.Errorf("%s: got %q %s %+v, want %s", op.name, got.Code(), got.Data, got.Errors, want)
					}
				}
				var out struct{ CurrentTenant struct{ ID, Slug string } }
				isoMust(t, w.e, in, `{ currentTenant { id slug } }`, nil, &out)
				if out.CurrentTenant.ID != w.victimID || out.CurrentTenant.Slug != "victim" {
					t.Errorf("currentTenant: got %+v, want the victim tenant (it is public)", out.CurrentTenant)
				}
				w.assertUnchanged(t)
			})
		}
	}
	t.Run("X-Tenant-ID of one tenant with X-Tenant-Slug of another", func(t *testing.T) {
		in := w.callers[0].caller
		in.TenantID, in.TenantSlug = w.attackerID, "victim"
		if got := w.e.Do(in, `{ projects { totalCount } }`, nil); got.Code() != "NOT_FOUND" {
			t.Errorf("got %q %s, want NOT_FOUND", got.Code(), got.Data)
		}
	})
}

func (w *isoWorld) testMemberships(t *testing.T) {
	const q = `{ viewer { memberships { id tenant { slug } } } }`
	for _, c := range w.callers {
		for _, slug := range []string{"attacker", "victim", ""} {
			t.Run(fmt.Sprintf("%s/tenant %q", c.name, slug), func(t *testing.T) {
				got := w.e.Do(c.caller.In(slug), q, nil)
				if c.anonymous {
					if got.Code() != "UNAUTHENTICATED" {
						t.Errorf("got %q, want UNAUTHENTICATED", got.Code())
					}
					return
				}
				var out struct {
					Viewer struct {
						Memberships []struct{ Tenant struct{ Slug string } }
					}
				}
				got.Decode(t, &out)
				slugs := []string{}
				for _, m := range out.Viewer.Memberships {
					slugs = append(slugs, m.Tenant.Slug)
				}
				slices.Sort(slugs)
				t.Run("never another tenant", func(t *testing.T) {
					for _, s := range slugs {
						if !slices.Contains(c.tenants, s) {
							t.Errorf("got %v, want only the caller's own tenants %v", slugs, c.tenants)
						}
					}
				})
				// The contract's Viewer: "all the tenants they belong to".
				t.Run("every own tenant", func(t *testing.T) {
					if !slices.Equal(slugs, c.tenants) {
						t.Errorf("got %v, want %v", slugs, c.tenants)
					}
				})
			})
		}
	}
	t.Run("another user's memberships", func(t *testing.T) {
		var out struct {
			Node    struct{ Memberships []struct{ ID string } }
			Members struct {
				Edges []struct {
					Node struct {
						User struct {
							Memberships []struct{ Tenant struct{ Slug string } }
						}
					}
				}
			}
		}
		isoMust(t, w.e, w.callers[0].caller, `query($u: ID!) {
			node(id: $u) { ... on User { memberships { id } } }
			members(first: 100) { edges { node { user { memberships { tenant { slug } } } } } } }`,
			map[string]any{"u": w.own["User"][1]}, &out)
		if len(out.Node.Memberships) != 1 || out.Node.Memberships[0].ID != w.own["SharedMembership"][0] {
			t.Errorf("the shared user's memberships: got %+v, want only %s (the attacker tenant's)", out.Node.Memberships, w.own["SharedMembership"][0])
		}
		for _, e := range out.Members.Edges {
			for _, m := range e.Node.User.Memberships {
				if m.Tenant.Slug != "attacker" {
					t.Errorf("a member's memberships: got tenant %q, want only attacker", m.Tenant.Slug)
				}
			}
		}
	})
	w.assertUnchanged(t)
}

// TestIsolationRemovedMember: the token names the user only, so removing or
// demoting a member takes effect on their very next request.
func TestIsolationRemovedMember(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, gone, demoted := e.Register("Owner"), e.Register("Gone"), e.Register("Demoted")
		e.CreateTenant(owner, "acme")
		p := e.CreateProject(owner.Caller("acme"), "Rocket")
		goneM := e.AddMember(owner, "acme", gone, "MEMBER")
		demotedM := e.AddMember(owner, "acme", demoted, "MEMBER")
		steps := []struct {
			name       string
			as         graphtest.User
			query      string
			vars       map[string]any
			wantBefore string
			wantAfter  string
			change     string
		}{
			{"read projects", gone, `{ projects { totalCount } }`, nil, "", "FORBIDDEN", "removed"},
			{"read node", gone, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": p}, "", "FORBIDDEN", "removed"},
			{"create project", gone, `mutation { createProject(input: {name: "x"}) { id } }`, nil, "", "FORBIDDEN", "removed"},
			{"update project", gone, `mutation($id: ID!) { updateProject(id: $id, input: {name: "x"}) { id } }`, map[string]any{"id": p}, "", "FORBIDDEN", "removed"},
			{"read projects", demoted, `{ projects { totalCount } }`, nil, "", "", "demoted to VIEWER"},
			{"create project", demoted, `mutation { createProject(input: {name: "y"}) { id } }`, nil, "", "FORBIDDEN", "demoted to VIEWER"},
		}
		for _, s := range steps {
			if got := e.Do(s.as.Caller("acme"), s.query, s.vars); got.Code() != s.wantBefore {
				t.Errorf("%s %s before: got %q %+v, want %q", s.as.Email, s.name, got.Code(), got.Errors, s.wantBefore)
			}
		}
		e.MustDo(owner.Caller("acme"), `mutation($id: ID!) { removeMember(id: $id) }`, map[string]any{"id": goneM}, nil)
		e.MustDo(owner.Caller("acme"), `mutation($id: ID!) { updateMemberRole(id: $id, role: VIEWER) { id } }`, map[string]any{"id": demotedM}, nil)
		for _, s := range steps {
			if got := e.Do(s.as.Caller("acme"), s.query, s.vars); got.Code() != s.wantAfter {
				t.Errorf("%s %s after being %s: got %q %+v, want %q", s.as.Email, s.name, s.change, got.Code(), got.Errors, s.wantAfter)
			}
		}
		var out struct {
			Viewer struct{ Memberships []struct{ ID string } }
		}
		e.MustDo(gone.Caller("acme"), `{ viewer { memberships { id } } }`, nil, &out)
		if len(out.Viewer.Memberships) != 0 {
			t.Errorf("the removed member's memberships: got %+v, want none", out.Viewer.Memberships)
		}
	})
}
