package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"tenantgraph/ent"
	"tenantgraph/ent/privacy"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/globalid"
	"tenantgraph/internal/role"
)

// The isolation suite: callers of the "attacker" tenant, at every role (and a
// user who belongs to both tenants, an authenticated non-member and an
// anonymous caller), aim every query, mutation, node lookup and filter at the
// objects of the "victim" tenant. Another tenant's object must get exactly the
// answer a nonexistent ID gets, and after every attack neither the victim's
// view of its data nor any row of the database may have changed.

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

// isoLists are reads of the attacker tenant's connections, many filtered by
// the victim's IDs and secrets, with the exact objects each may return. Every
// query names its connection "list" and selects "id" on its nodes alone.
var isoLists = []struct {
	name  string
	query string
	want  string // key of isoWorld.own; "" for nothing
}{
	{"projects", `{ list: projects(first: 100) { totalCount edges { node { id } } } }`, "Project"},
	{"projects idIn victim", `query($vp: [ID!]) { list: projects(where: {idIn: $vp}) { totalCount edges { node { id } } } }`, ""},
	{"projects idIn victim and own", `query($vp: [ID!], $op: ID!) { list: projects(where: {or: [{idIn: $vp}, {id: $op}]}) { totalCount edges { node { id } } } }`, "Project"},
	{"projects not idIn victim", `query($vp: [ID!]) { list: projects(where: {not: {idIn: $vp}}) { totalCount edges { node { id } } } }`, "Project"},
	{"projects nameContains", `query($s: String) { list: projects(where: {nameContains: $s}) { totalCount edges { node { id } } } }`, ""},
	{"projects descriptionContains", `query($s: String) { list: projects(where: {descriptionContains: $s}) { totalCount edges { node { id } } } }`, ""},
	{"projects status of victim", `{ list: projects(where: {status: SUBMITTED}) { totalCount edges { node { id } } } }`, ""},
	{"projects createdByID", `query($vu: ID) { list: projects(where: {createdByID: $vu}) { totalCount edges { node { id } } } }`, ""},
	{"projects hasTasksWith title", `query($s: String) { list: projects(where: {hasTasksWith: {titleContains: $s}}) { totalCount edges { node { id } } } }`, ""},
	{"projects hasTasksWith idIn", `query($vt: [ID!]) { list: projects(where: {hasTasksWith: {idIn: $vt}}) { totalCount edges { node { id } } } }`, ""},
	{"projects hasTasksWith assigneeID", `query($vo: ID) { list: projects(where: {hasTasksWith: {assigneeID: $vo}}) { totalCount edges { node { id } } } }`, ""},
	{"projects hasTasksWith hasCommentsWith", `query($s: String) { list: projects(where: {hasTasksWith: {hasCommentsWith: {bodyContains: $s}}}) { totalCount edges { node { id } } } }`, ""},
	{"projects or of secrets", `query($s: String) { list: projects(where: {or: [{nameContains: $s}, {hasTasksWith: {titleContains: $s}}]}) { totalCount edges { node { id } } } }`, ""},
	{"projects hasTasksWith own (control)", `query($m: String) { list: projects(where: {hasTasksWith: {titleContains: $m}}) { totalCount edges { node { id } } } }`, "Project"},
	{"tasks", `{ list: tasks(first: 100) { totalCount edges { node { id } } } }`, "Task"},
	{"tasks idIn victim", `query($vt: [ID!]) { list: tasks(where: {idIn: $vt}) { totalCount edges { node { id } } } }`, ""},
	{"tasks projectIDIn", `query($vp: [ID!]) { list: tasks(where: {projectIDIn: $vp}) { totalCount edges { node { id } } } }`, ""},
	{"tasks assigneeID", `query($vo: ID) { list: tasks(where: {assigneeID: $vo}) { totalCount edges { node { id } } } }`, ""},
	{"tasks priority of victim", `{ list: tasks(where: {priority: URGENT}) { totalCount edges { node { id } } } }`, ""},
	{"tasks titleContains", `query($s: String) { list: tasks(where: {titleContains: $s}) { totalCount edges { node { id } } } }`, ""},
	{"tasks hasProjectWith name", `query($s: String) { list: tasks(where: {hasProjectWith: {nameContains: $s}}) { totalCount edges { node { id } } } }`, ""},
	{"tasks hasProjectWith idIn", `query($vp: [ID!]) { list: tasks(where: {hasProjectWith: {idIn: $vp}}) { totalCount edges { node { id } } } }`, ""},
	{"tasks hasProjectWith status", `{ list: tasks(where: {hasProjectWith: {status: SUBMITTED}}) { totalCount edges { node { id } } } }`, ""},
	{"tasks hasCommentsWith body", `query($s: String) { list: tasks(where: {hasCommentsWith: {bodyContains: $s}}) { totalCount edges { node { id } } } }`, ""},
	{"tasks hasCommentsWith authorID", `query($vu: ID) { list: tasks(where: {hasCommentsWith: {authorID: $vu}}) { totalCount edges { node { id } } } }`, ""},
	{"tasks hasProjectWith own (control)", `query($m: String) { list: tasks(where: {hasProjectWith: {nameContains: $m}}) { totalCount edges { node { id } } } }`, "Task"},
	{"members", `{ list: members(first: 100) { totalCount edges { node { id } } } }`, "Membership"},
	{"members idIn victim", `query($vm: [ID!]) { list: members(where: {idIn: $vm}) { totalCount edges { node { id } } } }`, ""},
	{"members userID", `query($vu: ID) { list: members(where: {userID: $vu}) { totalCount edges { node { id } } } }`, ""},
	{"members userIDIn", `query($vus: [ID!]) { list: members(where: {userIDIn: $vus}) { totalCount edges { node { id } } } }`, "SharedMembership"},
	{"members role OWNER", `{ list: members(where: {role: OWNER}) { totalCount edges { node { id } } } }`, "OwnerMembership"},
	{"Project.tasks", `query($op: ID!) { node(id: $op) { ... on Project { list: tasks { totalCount edges { node { id } } } } } }`, "Task"},
	{"Project.tasks idIn victim", `query($op: ID!, $vt: [ID!]) { node(id: $op) { ... on Project { list: tasks(where: {idIn: $vt}) { totalCount edges { node { id } } } } } }`, ""},
	{"Project.tasks hasProjectWith", `query($op: ID!, $vp: [ID!]) { node(id: $op) { ... on Project { list: tasks(where: {hasProjectWith: {idIn: $vp}}) { totalCount edges { node { id } } } } } }`, ""},
	{"Project.tasks hasCommentsWith", `query($op: ID!, $s: String) { node(id: $op) { ... on Project { list: tasks(where: {hasCommentsWith: {bodyContains: $s}}) { totalCount edges { node { id } } } } } }`, ""},
	{"Task.comments", `query($ot: ID!) { node(id: $ot) { ... on Task { list: comments { totalCount edges { node { id } } } } } }`, "Comment"},
	{"Task.comments idIn victim", `query($ot: ID!, $vc: [ID!]) { node(id: $ot) { ... on Task { list: comments(where: {idIn: $vc}) { totalCount edges { node { id } } } } } }`, ""},
	{"Task.comments taskIDIn", `query($ot: ID!, $vt: [ID!]) { node(id: $ot) { ... on Task { list: comments(where: {taskIDIn: $vt}) { totalCount edges { node { id } } } } } }`, ""},
	{"Task.comments authorID", `query($ot: ID!, $vu: ID) { node(id: $ot) { ... on Task { list: comments(where: {authorID: $vu}) { totalCount edges { node { id } } } } } }`, ""},
	{"Task.comments bodyContains", `query($ot: ID!, $s: String) { node(id: $ot) { ... on Task { list: comments(where: {bodyContains: $s}) { totalCount edges { node { id } } } } } }`, ""},
	{"Task.comments hasTaskWith", `query($ot: ID!, $s: String) { node(id: $ot) { ... on Task { list: comments(where: {hasTaskWith: {titleContains: $s}}) { totalCount edges { node { id } } } } } }`, ""},
	{"project tree", `{ list: projects(first: 100) { edges { node { id tasks { edges { node { id comments { edges { node { id } } } } } } } } } }`, "Tree"},
}

func (w *isoWorld) testConnections(t *testing.T) {
	vars := map[string]any{
		"vp": w.victim["Project"], "vt": w.victim["Task"], "vc": w.victim["Comment"], "vm": w.victim["Membership"],
		"vu": w.victimOwner.ID, "vo": w.victim["User"][1], "vus": append(slices.Clone(w.victim["User"]), w.own["User"][1]),
		"op": w.own["Project"][0], "ot": w.own["Task"][0], "s": isoSecret, "m": isoMarker,
	}
	w.own["Tree"] = []string{w.own["Project"][0], w.own["Task"][0], w.own["Comment"][0]}
	victims := map[string]bool{}
	for _, typ := range isoTypes {
		for _, id := range w.victim[typ] {
			victims[id] = true
		}
	}
	for _, c := range w.callers {
		t.Run(c.name, func(t *testing.T) {
			for _, l := range isoLists {
				got := w.e.Do(c.caller, l.query, vars)
				ids, totals := isoCollect(t, got.Data)
				if slices.ContainsFunc(ids, func(id string) bool { return victims[id] }) {
					t.Errorf("%s: got %s, which holds the victim's objects", l.name, got.Data)
				}
				if code := c.gate(role.Viewer); code != "" {
					if got.Code() != code {
						t.Errorf("%s: got %q, want %s", l.name, got.Code(), code)
					}
					continue
				}
				want := slices.Sorted(slices.Values(w.own[l.want]))
				if len(got.Errors) > 0 || !slices.Equal(ids, want) {
					t.Errorf("%s: got %v %+v, want %v", l.name, ids, got.Errors, want)
				}
				for _, n := range totals {
					if n != len(want) {
						t.Errorf("%s: totalCount: got %d, want %d", l.name, n, len(want))
					}
				}
			}
		})
	}
	w.assertUnchanged(t)
}

// isoCollect returns every "id" (sorted) and every "totalCount" in data.
func isoCollect(t *testing.T, data json.RawMessage) (ids []string, totals []int) {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				switch s, n := x.(string); {
				case k == "id" && n:
					ids = append(ids, s)
				case k == "totalCount":
					f, _ := x.(float64)
					totals = append(totals, int(f))
				default:
					walk(x)
				}
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	slices.Sort(ids)
	return ids, totals
}

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

// TestIsolationWhereInputs: ent does not scope the subqueries of hasXWith
// filters, so no where-input may offer an edge that leads out of the tenant
// (to a user, and from there to their other tenants), and the types that are
// shared between tenants (User, Tenant) expose no edges into tenant data.
func TestIsolationWhereInputs(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		c := owner.Caller("acme")
		allowed := []struct {
			typ    string
			fields func(string) bool // which fields to compare
			want   []string
		}{
			{"ProjectWhereInput", isoEdgeFilter, []string{"hasTasks", "hasTasksWith"}},
			{"TaskWhereInput", isoEdgeFilter, []string{"hasComments", "hasCommentsWith", "hasProject", "hasProjectWith"}},
			{"CommentWhereInput", isoEdgeFilter, []string{"hasTask", "hasTaskWith"}},
			{"MembershipWhereInput", isoEdgeFilter, nil},
			{"UserWhereInput", isoEdgeFilter, nil},
			{"User", isoAnyField, []string{"createdAt", "email", "id", "memberships", "name", "updatedAt"}},
			{"Tenant", isoAnyField, []string{"createdAt", "id", "name", "slug", "updatedAt"}},
		}
		for _, a := range allowed {
			t.Run(a.typ, func(t *testing.T) {
				var out struct {
					Type *struct{ InputFields, Fields []struct{ Name string } }
				}
				isoMust(t, e, c, `query($n: String!) { type: __type(name: $n) { inputFields { name } fields { name } } }`,
					map[string]any{"n": a.typ}, &out)
				if out.Type == nil {
					t.Fatalf("got no type %s", a.typ)
				}
				var got []string
				for _, f := range append(out.Type.InputFields, out.Type.Fields...) {
					if a.fields(f.Name) {
						got = append(got, f.Name)
					}
				}
				slices.Sort(got)
				if !slices.Equal(got, a.want) {
					t.Errorf("got %v, want %v", got, a.want)
				}
			})
		}
		for _, q := range []string{
			`{ tasks(where: {hasAssigneeWith: {emailContains: "a"}}) { totalCount } }`,
			`{ tasks(where: {hasCreatedByWith: {emailContains: "a"}}) { totalCount } }`,
			`{ projects(where: {hasCreatedByWith: {emailContains: "a"}}) { totalCount } }`,
			`{ projects(where: {hasTenantWith: {slug: "victim"}}) { totalCount } }`,
			`{ members(where: {hasUserWith: {hasMembershipsWith: {role: OWNER}}}) { totalCount } }`,
			`{ tasks(where: {hasCommentsWith: {hasAuthorWith: {nameContains: "a"}}}) { totalCount } }`,
		} {
			if got := e.Do(c, q, nil); got.Code() != "GRAPHQL_VALIDATION_FAILED" {
				t.Errorf("%s: got %q %s, want GRAPHQL_VALIDATION_FAILED", q, got.Code(), got.Data)
			}
		}
	})
}

func isoEdgeFilter(name string) bool { return len(name) > 3 && name[:3] == "has" }
func isoAnyField(string) bool        { return true }
