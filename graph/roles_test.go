package graph_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
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

// permMutation is one row of the mutation matrix.
type permMutation struct {
	name  string
	field string // the mutation field, to find its result in data
	query string
	want  outcomes
	// prepare creates what the mutation acts on in tm and returns its
	// variables.
	prepare func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any
	// tenantWrite says a successful call changes the tenant's snapshot.
	tenantWrite bool
	// check, when set, verifies the call's effect outside the tenant.
	check func(t *testing.T, e *graphtest.Env, tm *permTeam, vars map[string]any, r *graphtest.Response, ok bool)
}

func permProject(t *testing.T, e *graphtest.Env, tm *permTeam) string {
	t.Helper()
	return e.CreateProject(tm.caller("OWNER"), "Target")
}

func permTask(t *testing.T, e *graphtest.Env, tm *permTeam, creator string) string {
	t.Helper()
	return e.CreateTask(tm.caller(creator), permProject(t, e, tm), "Target task")
}

func permComment(t *testing.T, e *graphtest.Env, tm *permTeam, author string) string {
	t.Helper()
	return e.CreateComment(tm.caller(author), permTask(t, e, tm, "OWNER"), "Target comment")
}

func deleteTaskRow(creator string, want outcomes) permMutation {
	return permMutation{
		name: "deleteTask/created by " + creator, field: "deleteTask",
		query: `mutation($id: ID!) { deleteTask(id: $id) }`, want: want, tenantWrite: true,
		prepare: func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any {
			return map[string]any{"id": permTask(t, e, tm, creator)}
		},
	}
}

func updateCommentRow(author string, want outcomes) permMutation {
	return permMutation{
		name: "updateComment/written by " + author, field: "updateComment",
		query: `mutation($id: ID!, $i: UpdateCommentInput!) { updateComment(id: $id, input: $i) { id body } }`, want: want, tenantWrite: true,
		prepare: func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any {
			return map[string]any{"id": permComment(t, e, tm, author), "i": map[string]any{"body": "edited"}}
		},
	}
}

func deleteCommentRow(author string, want outcomes) permMutation {
	return permMutation{
		name: "deleteComment/written by " + author, field: "deleteComment",
		query: `mutation($id: ID!) { deleteComment(id: $id) }`, want: want, tenantWrite: true,
		prepare: func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any {
			return map[string]any{"id": permComment(t, e, tm, author)}
		},
	}
}

func transitionRow(to string, want outcomes) permMutation {
	return permMutation{
		name: "transitionProject/DRAFT to " + to, field: "transitionProject",
		query: `mutation($id: ID!, $to: ProjectStatus!) { transitionProject(id: $id, to: $to) { id status } }`, want: want, tenantWrite: true,
		prepare: func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any {
			return map[string]any{"id": permProject(t, e, tm), "to": to}
		},
	}
}

// permMutations is every mutation of schema.graphql, with a row per kind of
// target where the outcome depends on who created it.
var permMutations = []permMutation{
	{
		name: "register", field: "register", want: permPublic,
		query: `mutation($i: RegisterInput!) { register(input: $i) { token user { email } } }`,
		prepare: func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any {
			return map[string]any{"i": map[string]any{"email": tm.slug + "-new@example.test", "password": permPassword, "name": "New"}}
		},
		check: func(t *testing.T, e *graphtest.Env, tm *permTeam, vars map[string]any, _ *graphtest.Response, ok bool) {
			email := vars["i"].(map[string]any)["email"]
			r := e.Do(graphtest.Caller{}, `mutation($i: LoginInput!) { login(input: $i) { token } }`,
				map[string]any{"i": map[string]any{"email": email, "password": permPassword}})
			if got, want := r.Code(), map[bool]string{true: "", false: unauth}[ok]; got != want {
				t.Errorf("logging in as the new account: got %q, want %q", got, want)
			}
		},
	},
	{
		name: "login", field: "login", want: permPublic,
		query: `mutation($i: LoginInput!) { login(input: $i) { token user { email } } }`,
		prepare: func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any {
			return map[string]any{"i": map[string]any{"email": tm.users["MEMBER"].Email, "password": permPassword}}
		},
		check: func(t *testing.T, e *graphtest.Env, tm *permTeam, _ map[string]any, r *graphtest.Response, ok bool) {
			var out struct {
				Login struct {
					Token string
					User  struct{ Email string }
				}
			}
			r.Decode(t, &out)
			if out.Login.Token == "" || out.Login.User.Email != tm.users["MEMBER"].Email {
				t.Errorf("got token %q for %q, want a token for %q", out.Login.Token, out.Login.User.Email, tm.users["MEMBER"].Email)
			}
		},
	},
	{
		name: "createTenant", field: "createTenant", want: permToken,
		query: `mutation($i: CreateTenantInput!) { createTenant(input: $i) { id slug } }`,
		prepare: func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any {
			return map[string]any{"i": map[string]any{"name": "New tenant", "slug": tm.slug + "-new"}}
		},
		check: func(t *testing.T, e *graphtest.Env, tm *permTeam, vars map[string]any, _ *graphtest.Response, ok bool) {
			slug := vars["i"].(map[string]any)["slug"].(string)
			r := e.Do(graphtest.Caller{TenantSlug: slug}, `{ currentTenant { slug } }`, nil)
			if got, want := r.Code(), map[bool]string{true: "", false: "NOT_FOUND"}[ok]; got != want {
				t.Errorf("resolving tenant %s afterwards: got %q, want %q", slug, got, want)
			}
		},
	},
	{
		name: "addMember", field: "addMember", want: permOwnerOnly, tenantWrite: true,
		query: `mutation($i: AddMemberInput!) { addMember(input: $i) { id role } }`,
		prepare: func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any {
			u := e.Register(tm.slug + "-newcomer")
			return map[string]any{"i": map[string]any{"email": u.Email, "role": "MEMBER"}}
		},
	},
	{
		// The VIEWER's own membership to OWNER: a VIEWER calling it is trying
		// to promote themself.
		name: "updateMemberRole", field: "updateMemberRole", want: permOwnerOnly, tenantWrite: true,
		query: `mutation($id: ID!, $role: Role!) { updateMemberRole(id: $id, role: $role) { id role } }`,
		prepare: func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any {
			return map[string]any{"id": tm.memberships["VIEWER"], "role": "OWNER"}
		},
	},
	{
		name: "removeMember", field: "removeMember", want: permOwnerOnly, tenantWrite: true,
		query: `mutation($id: ID!) { removeMember(id: $id) }`,
		prepare: func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any {
			return map[string]any{"id": tm.memberships["MEMBER2"]}
		},
	},
	{
		name: "createProject", field: "createProject", want: permMemberUp, tenantWrite: true,
		query: `mutation($i: CreateProjectInput!) { createProject(input: $i) { id status } }`,
		prepare: func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any {
			return map[string]any{"i": map[string]any{"name": "New project"}}
		},
	},
	{
		name: "updateProject", field: "updateProject", want: permMemberUp, tenantWrite: true,
		query: `mutation($id: ID!, $i: UpdateProjectInput!) { updateProject(id: $id, input: $i) { id name } }`,
		prepare: func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any {
			return map[string]any{"id": permProject(t, e, tm), "i": map[string]any{"name": "Renamed", "description": "changed"}}
		},
	},
	{
		// The project has a task with a comment: a refused delete must leave
		// all three.
		name: "deleteProject", field: "deleteProject", want: permManagerUp, tenantWrite: true,
		query: `mutation($id: ID!) { deleteProject(id: $id) }`,
		prepare: func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any {
			p := permProject(t, e, tm)
			e.CreateComment(tm.caller("OWNER"), e.CreateTask(tm.caller("OWNER"), p, "Doomed"), "Doomed too")
			return map[string]any{"id": p}
		},
	},
	transitionRow("SUBMITTED", permMemberUp),
	transitionRow("ARCHIVED", permManagerUp),
	{
		name: "createTask", field: "createTask", want: permMemberUp, tenantWrite: true,
		query: `mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }`,
		prepare: func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any {
			return map[string]any{"i": map[string]any{"projectID": permProject(t, e, tm), "title": "New task"}}
		},
	},
	{
		// Any MEMBER and up edits any task, not only their own.
		name: "updateTask", field: "updateTask", want: permMemberUp, tenantWrite: true,
		query: `mutation($id: ID!, $i: UpdateTaskInput!) { updateTask(id: $id, input: $i) { id title status } }`,
		prepare: func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any {
			return map[string]any{"id": permTask(t, e, tm, "OWNER"), "i": map[string]any{"title": "Renamed", "status": "DONE"}}
		},
	},
	deleteTaskRow("OWNER", permManagerUp),
	deleteTaskRow("MEMBER2", permManagerUp),
	deleteTaskRow("MEMBER", permMemberUp),
	{
		name: "createComment", field: "createComment", want: permMemberUp, tenantWrite: true,
		query: `mutation($i: CreateCommentInput!) { createComment(input: $i) { id } }`,
		prepare: func(t *testing.T, e *graphtest.Env, tm *permTeam) map[string]any {
			return map[string]any{"i": map[string]any{"taskID": permTask(t, e, tm, "OWNER"), "body": "New comment"}}
		},
	},
	updateCommentRow("OWNER", outcomes{allowed, forbidden, forbidden, forbidden, forbidden, unauth}),
	updateCommentRow("MEMBER", outcomes{forbidden, forbidden, allowed, forbidden, forbidden, unauth}),
	updateCommentRow("MEMBER2", outcomes{forbidden, forbidden, forbidden, forbidden, forbidden, unauth}),
	deleteCommentRow("OWNER", permManagerUp),
	deleteCommentRow("MEMBER2", permManagerUp),
	deleteCommentRow("MEMBER", permMemberUp),
}

// TestMutationPermissions runs every mutation as every kind of caller, each
// case in a tenant of its own: the outcome is the expected code, a refused
// mutation leaves the tenant exactly as it was, and an allowed one changes it.
func TestMutationPermissions(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		base := newPermTeam(t, e, "perm")
		n := 0
		for _, row := range permMutations {
			t.Run(row.name, func(t *testing.T) {
				for i, who := range permCallers {
					t.Run(who, func(t *testing.T) {
						e := envFor(t, e)
						n++
						tm := base.in(t, e, fmt.Sprintf("perm-%d", n))
						vars := row.prepare(t, e, tm)
						before := tm.snapshot(t, e)

						r := e.Do(tm.caller(who), row.query, vars)

						want := row.want[i]
						if got := r.Code(); got != want {
							t.Fatalf("got code %q (%+v), want %q", got, r.Errors, want)
						}
						after := tm.snapshot(t, e)
						if want != allowed {
							if len(r.Errors) != 1 {
								t.Errorf("got %d errors, want 1: %+v", len(r.Errors), r.Errors)
							}
							if before != after {
								t.Errorf("a refused %s wrote:\nbefore %s\nafter  %s", row.field, before, after)
							}
						} else {
							if v := field(t, r, row.field); v == "" || v == "null" {
								t.Errorf("data.%s: got %q, want a result", row.field, v)
							}
							if row.tenantWrite && before == after {
								t.Errorf("an allowed %s changed nothing", row.field)
							}
							if !row.tenantWrite && before != after {
								t.Errorf("%s changed the tenant:\nbefore %s\nafter  %s", row.field, before, after)
							}
						}
						if row.check != nil {
							row.check(t, e, tm, vars, r, want == allowed)
						}
					})
				}
			})
		}
	})
}

// TestReadPermissions: tenant-scoped reads need VIEWER and up, viewer needs a
// token only, and currentTenant and projectWorkflow are public.
func TestReadPermissions(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		tm := newPermTeam(t, e, "reader")
		p := permProject(t, e, tm)
		task := e.CreateTask(tm.caller("MEMBER"), p, "Readable")
		reads := []struct {
			name, field, query string
			vars               map[string]any
			want               outcomes
			// wantData is a substring of the field's JSON an allowed read holds.
			wantData func(who string) string
		}{
			{"projects", "projects", `{ projects { totalCount edges { node { id } } } }`, nil, permViewerUp,
				func(string) string { return fmt.Sprintf(`"totalCount":1,"edges":[{"node":{"id":%q}}]`, p) }},
			{"tasks", "tasks", `{ tasks { totalCount edges { node { id } } } }`, nil, permViewerUp,
				func(string) string { return fmt.Sprintf(`"totalCount":1,"edges":[{"node":{"id":%q}}]`, task) }},
			{"members", "members", `{ members { totalCount } }`, nil, permViewerUp,
				func(string) string { return `"totalCount":5` }},
			{"node", "node", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": p}, permViewerUp,
				func(string) string { return fmt.Sprintf(`"id":%q`, p) }},
			{"nodes", "nodes", `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{p, task}}, permViewerUp,
				func(string) string { return fmt.Sprintf(`[{"id":%q},{"id":%q}]`, p, task) }},
			{"viewer", "viewer", `{ viewer { email } }`, nil, permToken,
				func(who string) string { return fmt.Sprintf(`"email":%q`, tm.users[who].Email) }},
			{"currentTenant", "currentTenant", `{ currentTenant { slug } }`, nil, permPublic,
				func(string) string { return fmt.Sprintf(`"slug":%q`, tm.slug) }},
			{"projectWorkflow", "projectWorkflow", `{ projectWorkflow { from to minRole } }`, nil, permPublic,
				func(string) string { return `{"from":"ARCHIVED","to":"DRAFT","minRole":"OWNER"}` }},
		}
		for _, read := range reads {
			for i, who := range permCallers {
				t.Run(read.name+"/"+who, func(t *testing.T) {
					e := envFor(t, e)
					r := e.Do(tm.caller(who), read.query, read.vars)
					want := read.want[i]
					if got := r.Code(); got != want {
						t.Fatalf("got code %q (%+v), want %q", got, r.Errors, want)
					}
					got := field(t, r, read.field)
					if want != allowed {
						if got != "" && got != "null" {
							t.Errorf("a refused read returned data: %s", got)
						}
						return
					}
					if sub := read.wantData(who); !strings.Contains(got, sub) {
						t.Errorf("got %s, want it to contain %s", got, sub)
					}
				})
			}
		}
	})
}

const (
	permUpdateRole = `mutation($id: ID!, $role: Role!) { updateMemberRole(id: $id, role: $role) { id role } }`
	permRemove     = `mutation($id: ID!) { removeMember(id: $id) }`
	permAdd        = `mutation($i: AddMemberInput!) { addMember(input: $i) { id role user { id } } }`
)

// TestLastOwner: the last OWNER can be neither demoted nor removed, by
// themself or anyone; once a second OWNER exists, either can be.
func TestLastOwner(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		tm := newPermTeam(t, e, "owners")
		first := tm.ownMembership(t, e, "OWNER")
		second := tm.memberships["MANAGER"]
		do := func(t *testing.T, as, query string, vars map[string]any, want string) {
			t.Helper()
			e := envFor(t, e)
			before := tm.snapshotAs(t, e, as)
			r := e.Do(tm.caller(as), query, vars)
			if got := r.Code(); got != want {
				t.Fatalf("got code %q (%+v), want %q", got, r.Errors, want)
			}
			if want != allowed {
				if after := tm.snapshotAs(t, e, as); after != before {
					t.Errorf("a refused change wrote:\nbefore %s\nafter  %s", before, after)
				}
			}
		}
		steps := []struct {
			name, as, query string
			vars            map[string]any
			want            string
		}{
			{"last OWNER demotes themself to MANAGER", "OWNER", permUpdateRole, map[string]any{"id": first, "role": "MANAGER"}, "CONFLICT"},
			{"last OWNER demotes themself to VIEWER", "OWNER", permUpdateRole, map[string]any{"id": first, "role": "VIEWER"}, "CONFLICT"},
			{"last OWNER removes themself", "OWNER", permRemove, map[string]any{"id": first}, "CONFLICT"},
			{"last OWNER keeps OWNER (no demotion)", "OWNER", permUpdateRole, map[string]any{"id": first, "role": "OWNER"}, allowed},
			{"a second OWNER is made", "OWNER", permUpdateRole, map[string]any{"id": second, "role": "OWNER"}, allowed},
			{"the first OWNER steps down", "OWNER", permUpdateRole, map[string]any{"id": first, "role": "MANAGER"}, allowed},
			{"the former OWNER can no longer manage members", "OWNER", permUpdateRole, map[string]any{"id": second, "role": "MEMBER"}, forbidden},
			{"the new last OWNER demotes themself", "MANAGER", permUpdateRole, map[string]any{"id": second, "role": "MEMBER"}, "CONFLICT"},
			{"the new last OWNER removes themself", "MANAGER", permRemove, map[string]any{"id": second}, "CONFLICT"},
			{"the first user is made OWNER again", "MANAGER", permUpdateRole, map[string]any{"id": first, "role": "OWNER"}, allowed},
			{"one of two OWNERs removes the other", "MANAGER", permRemove, map[string]any{"id": first}, allowed},
			{"the remaining OWNER removes themself", "MANAGER", permRemove, map[string]any{"id": second}, "CONFLICT"},
		}
		for _, s := range steps {
			// The steps build on each other: stop at the first failure.
			if !t.Run(s.name, func(t *testing.T) { do(t, s.as, s.query, s.vars, s.want) }) {
				t.FailNow()
			}
		}
		// The removed user loses access at once; the tenant keeps one OWNER.
		if got := e.Do(tm.caller("OWNER"), `{ projects { totalCount } }`, nil).Code(); got != forbidden {
			t.Errorf("removed OWNER reading projects: got %q, want %q", got, forbidden)
		}
		roles := tm.membersByUser(t, e, "MANAGER")
		if got := roles[tm.users["MANAGER"].ID]; got != "OWNER" {
			t.Errorf("remaining owner's role: got %q, want OWNER", got)
		}
		if _, still := roles[tm.users["OWNER"].ID]; still {
			t.Errorf("removed OWNER: got still a member, want removed")
		}
	})
}

// TestAddMemberRules: an existing member is CONFLICT (whatever the email's
// case), an unknown email NOT_FOUND, and neither writes anything; a member of
// another tenant can be added.
func TestAddMemberRules(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		tm := newPermTeam(t, e, "adds")
		cases := []struct {
			name, email, role, want string
		}{
			{"existing member", tm.users["VIEWER"].Email, "MANAGER", "CONFLICT"},
			{"existing member, upper case email", strings.ToUpper(tm.users["MEMBER"].Email), "MEMBER", "CONFLICT"},
			{"the OWNER themself", tm.users["OWNER"].Email, "VIEWER", "CONFLICT"},
			{"unknown email", "nobody@example.test", "MEMBER", "NOT_FOUND"},
			{"a member of another tenant", tm.users["NON_MEMBER"].Email, "VIEWER", allowed},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e := envFor(t, e)
				before := tm.snapshot(t, e)
				r := e.Do(tm.caller("OWNER"), permAdd, map[string]any{"i": map[string]any{"email": c.email, "role": c.role}})
				if got := r.Code(); got != c.want {
					t.Fatalf("got code %q (%+v), want %q", got, r.Errors, c.want)
				}
				after := tm.snapshot(t, e)
				if c.want != allowed {
					if before != after {
						t.Errorf("a refused addMember wrote:\nbefore %s\nafter  %s", before, after)
					}
					return
				}
				var out struct {
					AddMember struct {
						Role string
						User struct{ ID string }
					}
				}
				r.Decode(t, &out)
				if out.AddMember.Role != c.role || out.AddMember.User.ID != tm.users["NON_MEMBER"].ID {
					t.Errorf("got %+v, want role %s for user %s", out.AddMember, c.role, tm.users["NON_MEMBER"].ID)
				}
			})
		}
		// The roles of the existing members are untouched.
		roles := tm.membersByUser(t, e, "OWNER")
		for who, want := range map[string]string{"OWNER": "OWNER", "MEMBER": "MEMBER", "VIEWER": "VIEWER", "NON_MEMBER": "VIEWER"} {
			if got := roles[tm.users[who].ID]; got != want {
				t.Errorf("%s: got role %q, want %q", who, got, want)
			}
		}
	})
}

// TestConcurrentOwnerChanges: the two OWNERs of a tenant demote (or remove)
// each other at the same moment. Exactly one wins and the tenant keeps
// exactly one OWNER.
//
// In a free race the loser gets CONFLICT, or FORBIDDEN when its request
// began after the winner had committed (roles are read per request). With
// writes held (see holdWrites) both requests have resolved their callers as
// OWNERs before either can write, so the loser must get CONFLICT: that is the
// last-OWNER check serialised against the other change.
func TestConcurrentOwnerChanges(t *testing.T) {
	const rounds = 5
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		base := newPermTeam(t, e, "duel")
		ops := []struct{ name, query string }{
			{"demote", `mutation($id: ID!) { updateMemberRole(id: $id, role: MEMBER) { id } }`},
			{"remove", permRemove},
		}
		for _, op := range ops {
			for _, held := range []bool{false, true} {
				name, losing := op.name+"/free", []string{"CONFLICT", forbidden}
				if held {
					name, losing = op.name+"/held", []string{"CONFLICT"}
				}
				t.Run(name, func(t *testing.T) {
					losers := map[string]int{}
					for round := range rounds {
						e := envFor(t, e)
						tm := base.in(t, e, fmt.Sprintf("duel-%s-%d", strings.ReplaceAll(name, "/", "-"), round))
						e.MustDo(tm.caller("OWNER"), permUpdateRole, map[string]any{"id": tm.memberships["MANAGER"], "role": "OWNER"}, nil)
						targets := map[string]string{"OWNER": tm.memberships["MANAGER"], "MANAGER": tm.ownMembership(t, e, "OWNER")} // each the other
						release := func() {}
						if held {
							release = holdWrites(t, e, "memberships")
						}
						codes := map[string]string{}
						var mu sync.Mutex
						var wg sync.WaitGroup
						start := make(chan struct{})
						for who, target := range targets {
							wg.Add(1)
							go func() {
								defer wg.Done()
								<-start
								r := e.Do(tm.caller(who), op.query, map[string]any{"id": target})
								mu.Lock()
								codes[who] = r.Code()
								mu.Unlock()
							}()
						}
						close(start)
						if held {
							awaitLockWaiters(t, e, len(targets))
							release()
						}
						wg.Wait()

						winners := 0
						for who, code := range codes {
							switch {
							case code == allowed:
								winners++
							case slices.Contains(losing, code):
								losers[code]++
							default:
								t.Errorf("round %d: %s got %q, want success or one of %v", round, who, code, losing)
							}
						}
						if winners != 1 {
							t.Errorf("round %d: got %d winners (%v), want exactly 1", round, winners, codes)
						}
						owners := 0
						for _, r := range tm.membersByUser(t, e, "VIEWER") {
							if r == "OWNER" {
								owners++
							}
						}
						if owners != 1 {
							t.Errorf("round %d: got %d OWNERs after the race (%v), want 1", round, owners, codes)
						}
					}
					t.Logf("losers' codes over %d rounds: %v", rounds, losers)
				})
			}
		}
	})
}
