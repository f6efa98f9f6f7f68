package graph_test

// The isolation suite's world: both tenants, the callers and the baseline snapshot.

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"tenantgraph/ent"
	"tenantgraph/ent/privacy"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/globalid"
	"tenantgraph/internal/role"
)

// isoSecret marks every name, title and body of the victim tenant, so that a
// filter that reached across tenants would find it.
const (
	isoSecret = "victim-secret"
	isoMarker = "attacker-own"
)

// isoTypes are the node types the suite looks up, in a fixed order.
var isoTypes = []string{"Project", "Task", "Comment", "Membership", "Tenant", "User"}

// isoWorld is the two tenants, their objects and the attacker tenant's callers.
type isoWorld struct {
	e           *graphtest.Env
	victimOwner graphtest.User
	outsider    graphtest.User
	victimID    string              // the victim tenant's ID
	attackerID  string              // the attacker tenant's ID
	victim      map[string][]string // the victim's object IDs by type
	own         map[string][]string // the attacker tenant's object IDs by type
	missing     map[string]string   // a well-formed ID of each type that names nothing
	callers     []isoCaller
	baseline    isoSnapshot
}

// isoCaller calls in the attacker tenant.
type isoCaller struct {
	name      string
	caller    graphtest.Caller
	role      role.Role // in the attacker tenant; "" for none
	anonymous bool
	tenants   []string // slugs of the caller's own tenants, sorted
}

// gate is the code a field guarded by @hasRole(min) answers the caller with,
// or "" when the caller passes.
func (c isoCaller) gate(min role.Role) string {
	switch {
	case c.anonymous:
		return "UNAUTHENTICATED"
	case !c.role.AtLeast(min):
		return "FORBIDDEN"
	}
	return ""
}

func newIsoWorld(t *testing.T, e *graphtest.Env) *isoWorld {
	t.Helper()
	w := &isoWorld{e: e, victim: map[string][]string{}, own: map[string][]string{}, missing: map[string]string{}}

	v := e.Register("VictimOwner")
	w.victimOwner = v
	w.victimID = e.CreateTenant(v, "victim")
	vc := v.Caller("victim")
	only := e.Register("VictimOnly")
	shared := e.Register("Shared")
	onlyM := e.AddMember(v, "victim", only, "MEMBER")
	sharedM := e.AddMember(v, "victim", shared, "MANAGER")
	var p1 struct{ CreateProject struct{ ID string } }
	e.MustDo(vc, `mutation($n: String!) { createProject(input: {name: $n, description: $n}) { id } }`,
		map[string]any{"n": isoSecret + " project one"}, &p1)
	p2 := e.CreateProject(vc, isoSecret+" project two")
	e.Transition(vc, p2, "SUBMITTED")
	var t1 struct{ CreateTask struct{ ID string } }
	e.MustDo(vc, `mutation($p: ID!, $a: ID!, $n: String!) {
		createTask(input: {projectID: $p, title: $n, description: $n, assigneeID: $a, priority: URGENT}) { id } }`,
		map[string]any{"p": p1.CreateProject.ID, "a": only.ID, "n": isoSecret + " task one"}, &t1)
	t2 := e.CreateTask(vc, p2, isoSecret+" task two")
	c1 := e.CreateComment(vc, t1.CreateTask.ID, isoSecret+" comment")
	c2 := e.CreateComment(only.Caller("victim"), t1.CreateTask.ID, isoSecret+" reply")
	w.victim = map[string][]string{
		"Project":    {p1.CreateProject.ID, p2},
		"Task":       {t1.CreateTask.ID, t2},
		"Comment":    {c1, c2},
		"Membership": {isoMembershipOf(t, e, vc, v), onlyM, sharedM},
		"Tenant":     {w.victimID},
		"User":       {v.ID, only.ID}, // members of the victim tenant alone
	}

	a := e.Register("AttackerOwner")
	w.attackerID = e.CreateTenant(a, "attacker")
	ac := a.Caller("attacker")
	ownerM := isoMembershipOf(t, e, ac, a)
	w.callers = []isoCaller{{name: "OWNER", caller: ac, role: role.Owner, tenants: []string{"attacker"}}}
	w.own["Membership"] = []string{ownerM}
	for _, r := range []role.Role{role.Manager, role.Member, role.Viewer} {
		u := e.Register("Attacker" + string(r))
		w.own["Membership"] = append(w.own["Membership"], e.AddMember(a, "attacker", u, string(r)))
		w.callers = append(w.callers, isoCaller{name: string(r), caller: u.Caller("attacker"), role: r, tenants: []string{"attacker"}})
	}
	sharedAM := e.AddMember(a, "attacker", shared, "MEMBER")
	w.own["Membership"] = append(w.own["Membership"], sharedAM)
	w.own["OwnerMembership"] = []string{ownerM}
	w.own["SharedMembership"] = []string{sharedAM}
	w.outsider = e.Register("Outsider")
	w.callers = append(w.callers,
		isoCaller{name: "member of both tenants", caller: shared.Caller("attacker"), role: role.Member, tenants: []string{"attacker", "victim"}},
		isoCaller{name: "non-member", caller: w.outsider.Caller("attacker")},
		isoCaller{name: "anonymous", caller: graphtest.Caller{TenantSlug: "attacker"}, anonymous: true},
	)
	ownP := e.CreateProject(ac, isoMarker+" project")
	ownT := e.CreateTask(ac, ownP, isoMarker+" task")
	w.own["Project"], w.own["Task"] = []string{ownP}, []string{ownT}
	w.own["Comment"] = []string{e.CreateComment(ac, ownT, isoMarker+" comment")}
	w.own["Tenant"] = []string{w.attackerID}
	w.own["User"] = []string{a.ID, shared.ID}

	// Nonexistent IDs of each type: real IDs of the attacker tenant whose
	// objects are then deleted, and IDs past the last user and tenant.
	gp := e.CreateProject(ac, "ghost")
	gt := e.CreateTask(ac, gp, "ghost")
	w.missing["Comment"] = e.CreateComment(ac, gt, "ghost")
	w.missing["Project"], w.missing["Task"] = gp, gt
	e.MustDo(ac, `mutation($id: ID!) { deleteProject(id: $id) }`, map[string]any{"id": gp}, nil)
	w.missing["Membership"] = e.AddMember(a, "attacker", e.Register("Ghost"), "MEMBER")
	e.MustDo(ac, `mutation($id: ID!) { removeMember(id: $id) }`, map[string]any{"id": w.missing["Membership"]}, nil)
	w.missing["User"] = isoBeyond(t, w.outsider.ID)
	w.missing["Tenant"] = isoBeyond(t, w.attackerID)

	w.baseline = w.snapshot(t)
	return w
}

// isoMembershipOf returns u's membership ID in the tenant of c.
func isoMembershipOf(t *testing.T, e *graphtest.Env, c graphtest.Caller, u graphtest.User) string {
	t.Helper()
	var out struct {
		Members struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	isoMust(t, e, c, `query($u: ID!) { members(where: {userID: $u}) { edges { node { id } } } }`, map[string]any{"u": u.ID}, &out)
	if len(out.Members.Edges) != 1 {
		t.Fatalf("memberships of %s: got %d, want 1", u.Email, len(out.Members.Edges))
	}
	return out.Members.Edges[0].Node.ID
}

// isoBeyond returns a well-formed ID in the same table as id that is far past
// any row the tests create.
func isoBeyond(t *testing.T, id string) string {
	t.Helper()
	n, err := globalid.Decode(id)
	if err != nil {
		t.Fatalf("decoding %s: %v", id, err)
	}
	return globalid.Encode(n + 1<<20)
}

// isoMust sends an operation and decodes its data, failing t (not the
// per-database test the harness's MustDo fails) on any error.
func isoMust(t *testing.T, e *graphtest.Env, c graphtest.Caller, query string, vars map[string]any, out any) {
	t.Helper()
	r := e.Do(c, query, vars)
	if len(r.Errors) > 0 {
		t.Fatalf("%s: unexpected errors: %+v", query, r.Errors)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			t.Fatalf("decoding %s: %v", r.Data, err)
		}
	}
}

// isoSnapshot is the victim owner's view of the victim tenant, and every row
// of every table read past the privacy layer.
type isoSnapshot struct{ victimView, rows string }

const isoVictimView = `{
	currentTenant { id name slug updatedAt }
	members(first: 100) { totalCount edges { node { id role updatedAt user { id name } } } }
	tasks(first: 100) { totalCount }
	projects(first: 100, orderBy: {field: CREATED_AT}) { totalCount edges { node {
		id name description status updatedAt
		tasks(first: 100, orderBy: {field: CREATED_AT}) { totalCount edges { node {
			id title description status priority updatedAt assignee { id }
			comments(first: 100, orderBy: {field: CREATED_AT}) { totalCount edges { node { id body updatedAt author { id } } } }
		} } }
	} } }
}`

func (w *isoWorld) snapshot(t *testing.T) isoSnapshot {
	t.Helper()
	r := w.e.Do(w.victimOwner.Caller("victim"), isoVictimView, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("the victim owner's view: unexpected errors: %+v", r.Errors)
	}
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	c := w.e.DB.Client
	tenants, err1 := c.Tenant.Query().Order(ent.Asc("id")).All(ctx)
	users, err2 := c.User.Query().Order(ent.Asc("id")).All(ctx)
	members, err3 := c.Membership.Query().Order(ent.Asc("id")).All(ctx)
	projects, err4 := c.Project.Query().Order(ent.Asc("id")).All(ctx)
	tasks, err5 := c.Task.Query().Order(ent.Asc("id")).All(ctx)
	comments, err6 := c.Comment.Query().Order(ent.Asc("id")).All(ctx)
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		t.Fatalf("reading every row: %v", err)
	}
	rows, err := json.Marshal([]any{tenants, users, members, projects, tasks, comments})
	if err != nil {
		t.Fatal(err)
	}
	return isoSnapshot{victimView: string(r.Data), rows: string(rows)}
}

// assertUnchanged fails t when anything changed since the world was built.
func (w *isoWorld) assertUnchanged(t *testing.T) {
	t.Helper()
	got := w.snapshot(t)
	if got.victimView != w.baseline.victimView {
		t.Fatalf("the victim's data changed:\ngot  %s\nwant %s", got.victimView, w.baseline.victimView)
	}
	if got.rows != w.baseline.rows {
		t.Fatalf("the database changed:\ngot  %s\nwant %s", got.rows, w.baseline.rows)
	}
}

// isoSameAnswer fails unless the answer about another tenant's object is
// byte for byte the answer about a nonexistent one.
func isoSameAnswer(t *testing.T, got, nonexistent *graphtest.Response) {
	t.Helper()
	g, _ := json.Marshal(got)
	n, _ := json.Marshal(nonexistent)
	if string(g) != string(n) {
		t.Errorf("another tenant's object: got %s, want the answer for a nonexistent ID: %s", g, n)
	}
}
