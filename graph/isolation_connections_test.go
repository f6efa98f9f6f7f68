package graph_test

// Isolation of connections and their where filters.

import (
	"encoding/json"
	"slices"
	"testing"

	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/role"
)

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
			{"Tenant", isoAnyField, []string{"config", "createdAt", "id", "name", "slug", "updatedAt"}},
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
