package graph_test

// permTeam (one user per role) and the helpers the permission tests share.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"tenantgraph/graph/graphtest"
)

// permCallers are the callers of every permission matrix, in the order of an
// outcomes row: the four roles, an authenticated user who belongs to another
// tenant only, and an anonymous request.
var permCallers = [...]string{"OWNER", "MANAGER", "MEMBER", "VIEWER", "NON_MEMBER", "ANONYMOUS"}

// outcomes is the expected extensions.code per caller, in permCallers order;
// "" means the operation succeeds.
type outcomes [len(permCallers)]string

const (
	allowed   = ""
	forbidden = "FORBIDDEN"
	unauth    = "UNAUTHENTICATED"
)

// The ladders the schema's directives and the issue name.
var (
	permPublic    = outcomes{allowed, allowed, allowed, allowed, allowed, allowed}
	permToken     = outcomes{allowed, allowed, allowed, allowed, allowed, unauth}
	permViewerUp  = outcomes{allowed, allowed, allowed, allowed, forbidden, unauth}
	permMemberUp  = outcomes{allowed, allowed, allowed, forbidden, forbidden, unauth}
	permManagerUp = outcomes{allowed, allowed, forbidden, forbidden, forbidden, unauth}
	permOwnerOnly = outcomes{allowed, forbidden, forbidden, forbidden, forbidden, unauth}
)

const permPassword = "correct horse battery" // graphtest.Register's password

// permTeam is a tenant with one user per role, a second MEMBER (MEMBER2, the
// "other member" who created a task or wrote a comment), and NON_MEMBER, a
// registered user who owns another tenant but has no role in this one.
type permTeam struct {
	slug        string
	users       map[string]graphtest.User // by caller name
	memberships map[string]string         // membership IDs of MANAGER, MEMBER, MEMBER2, VIEWER
}

// newPermTeam registers the team's users and creates its tenant.
func newPermTeam(t *testing.T, e *graphtest.Env, slug string) *permTeam {
	t.Helper()
	users := map[string]graphtest.User{}
	for _, who := range []string{"OWNER", "MANAGER", "MEMBER", "MEMBER2", "VIEWER", "NON_MEMBER"} {
		users[who] = e.Register(slug + "-" + strings.ToLower(strings.ReplaceAll(who, "_", "-")))
	}
	e.CreateTenant(users["NON_MEMBER"], slug+"-elsewhere")
	return (&permTeam{users: users}).in(t, e, slug)
}

// in creates another tenant with the same users in the same roles: two
// requests, so that every case of a matrix can have a tenant of its own.
func (tm *permTeam) in(t *testing.T, e *graphtest.Env, slug string) *permTeam {
	t.Helper()
	e.CreateTenant(tm.users["OWNER"], slug)
	roles := map[string]string{"MANAGER": "MANAGER", "MEMBER": "MEMBER", "MEMBER2": "MEMBER", "VIEWER": "VIEWER"}
	var q strings.Builder
	q.WriteString("mutation {")
	for who, r := range roles {
		fmt.Fprintf(&q, " %s: addMember(input: {email: %q, role: %s}) { id }", who, tm.users[who].Email, r)
	}
	q.WriteString(" }")
	var out map[string]struct{ ID string }
	e.MustDo(tm.users["OWNER"].Caller(slug), q.String(), nil, &out)
	ms := map[string]string{}
	for who := range roles {
		ms[who] = out[who].ID
	}
	return &permTeam{slug: slug, users: tm.users, memberships: ms}
}

// caller returns who calling in the team's tenant.
func (tm *permTeam) caller(who string) graphtest.Caller {
	if who == "ANONYMOUS" {
		return graphtest.Caller{TenantSlug: tm.slug}
	}
	return tm.users[who].Caller(tm.slug)
}

// ownMembership returns the ID of who's membership in the team's tenant.
func (tm *permTeam) ownMembership(t *testing.T, e *graphtest.Env, who string) string {
	t.Helper()
	var out struct {
		Members struct {
			Edges []struct {
				Node struct {
					ID   string
					User struct{ ID string }
				}
			}
		}
	}
	e.MustDo(tm.caller(who), `{ members(first: 100) { edges { node { id user { id } } } } }`, nil, &out)
	for _, edge := range out.Members.Edges {
		if edge.Node.User.ID == tm.users[who].ID {
			return edge.Node.ID
		}
	}
	t.Fatalf("%s has no membership in %s", who, tm.slug)
	return ""
}

const permSnapshotQuery = `{
  currentTenant { id name slug updatedAt }
  members(first: 100) { totalCount edges { node { id role updatedAt user { id } } } }
  projects(first: 100) { totalCount edges { node { id name description status updatedAt
    tasks(first: 100) { totalCount edges { node { id title description status priority dueDate updatedAt assignee { id }
      comments(first: 100) { totalCount edges { node { id body updatedAt author { id } } } } } } } } } }
}`

// snapshot returns everything the tenant holds, read by its first OWNER, so
// that "wrote nothing" is a comparison of two snapshots.
func (tm *permTeam) snapshot(t *testing.T, e *graphtest.Env) string {
	t.Helper()
	return tm.snapshotAs(t, e, "OWNER")
}

// snapshotAs is snapshot read by another member.
func (tm *permTeam) snapshotAs(t *testing.T, e *graphtest.Env, who string) string {
	t.Helper()
	r := e.Do(tm.caller(who), permSnapshotQuery, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("snapshot: unexpected errors: %+v", r.Errors)
	}
	return string(r.Data)
}

// membersByUser returns the tenant's memberships as user ID → role, read by as.
func (tm *permTeam) membersByUser(t *testing.T, e *graphtest.Env, as string) map[string]string {
	t.Helper()
	var out struct {
		Members struct {
			Edges []struct {
				Node struct {
					Role string
					User struct{ ID string }
				}
			}
		}
	}
	e.MustDo(tm.caller(as), `{ members(first: 100) { edges { node { role user { id } } } } }`, nil, &out)
	m := map[string]string{}
	for _, edge := range out.Members.Edges {
		m[edge.Node.User.ID] = edge.Node.Role
	}
	return m
}

// envFor returns e reporting to t, so that helpers called inside a subtest
// fail that subtest rather than its parent.
func envFor(t *testing.T, e *graphtest.Env) *graphtest.Env {
	sub := *e
	sub.T = t
	return &sub
}

// field returns the raw value of a top-level field of r's data ("" when the
// data has no such field).
func field(t *testing.T, r *graphtest.Response, name string) string {
	t.Helper()
	var data map[string]json.RawMessage
	if len(r.Data) == 0 || string(r.Data) == "null" {
		return ""
	}
	if err := json.Unmarshal(r.Data, &data); err != nil {
		t.Fatalf("decoding %s: %v", r.Data, err)
	}
	return string(data[name])
}
