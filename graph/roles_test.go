package graph_test

// The permission matrices: every mutation and read as every kind of caller.

import (
	"fmt"
	"strings"
	"testing"

	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
)

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
	// Each case works in a tenant of its own, all the same OWNER's: more
	// than MaxTenantsPerOwner allows by default.
	unbounded := graphtest.Options{Deps: func(d *graph.Deps) { d.MaxTenantsPerOwner = 1 << 20 }}
	graphtest.RunWith(t, unbounded, func(t *testing.T, e *graphtest.Env) {
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

// Who may call a field is answered before what they sent: a caller below a
// mutation's @hasRole gets FORBIDDEN whatever the ID, malformed ones and
// wrong-case enum values included (gqlgen decodes arguments before the
// directives run), and a caller with no token UNAUTHENTICATED. A caller who
// may call it is told what is wrong with the input.
func TestAccessIsCheckedBeforeArguments(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, viewer := e.Register("Owner"), e.Register("Viewer")
		e.CreateTenant(owner, "acme")
		membership := e.AddMember(owner, "acme", viewer, "VIEWER")
		const (
			deleteProject = `mutation($id: ID!) { deleteProject(id: $id) }`
			updateRole    = `mutation($id: ID!, $role: Role!) { updateMemberRole(id: $id, role: $role) { id } }`
		)
		for _, tc := range []struct {
			name   string
			caller graphtest.Caller
			query  string
			vars   map[string]any
			want   string
		}{
			{"viewer, malformed ID", viewer.Caller("acme"), deleteProject, map[string]any{"id": "garbage"}, "FORBIDDEN"},
			{"viewer, empty ID", viewer.Caller("acme"), deleteProject, map[string]any{"id": ""}, "FORBIDDEN"},
			{"viewer, wrong-case role", viewer.Caller("acme"), updateRole, map[string]any{"id": membership, "role": "viewer"}, "FORBIDDEN"},
			{"no token, malformed ID", graphtest.Caller{TenantSlug: "acme"}, deleteProject, map[string]any{"id": "garbage"}, "UNAUTHENTICATED"},
			{"owner, malformed ID", owner.Caller("acme"), deleteProject, map[string]any{"id": "garbage"}, "BAD_USER_INPUT"},
			{"owner, wrong-case role", owner.Caller("acme"), updateRole, map[string]any{"id": membership, "role": "viewer"}, "BAD_USER_INPUT"},
			{"owner, well-formed ID of nothing", owner.Caller("acme"), deleteProject, map[string]any{"id": membership}, "NOT_FOUND"},
		} {
			if got := e.Do(tc.caller, tc.query, tc.vars); got.Code() != tc.want {
				t.Errorf("%s: got %+v, want %s", tc.name, got.Errors, tc.want)
			}
		}
	})
}

// The checks on argument values made before any resolver runs (page sizes,
// filters, cursors, NUL characters) are answered only to a caller who may
// ask for every field of the operation: a bad token is UNAUTHENTICATED, a
// caller below a field's @hasRole FORBIDDEN (without a token,
// UNAUTHENTICATED), as with valid arguments, and nothing runs. A caller who
// may is told what is wrong, with the same code, message and
// extensions.field as ever.
func TestAccessIsCheckedBeforeArgumentBounds(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, viewer, stranger := e.Register("Owner"), e.Register("Viewer"), e.Register("Stranger")
		e.CreateTenant(owner, "acme")
		e.AddMember(owner, "acme", viewer, "VIEWER")
		o, v := owner.Caller("acme"), viewer.Caller("acme")
		badToken := graphtest.Caller{Token: "not.a.token", TenantSlug: "acme"}
		const (
			projects101   = `{ projects(first: 101) { totalCount } }`
			createProject = `mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }`
			activity101   = `{ activityLogs(first: 101) { totalCount } }`
			activityAfter = `{ activityLogs(after: "garbage") { totalCount } }`
			nestedOwner   = `{ projects(first: 1) { edges { node { activity(first: 101) { totalCount } } } } }`
			emptyIn       = `{ projects(where: {idIn: []}) { totalCount } }`
			login         = `mutation($i: LoginInput!) { login(input: $i) { token } }`
		)
		nulName := map[string]any{"i": map[string]any{"name": "a\x00"}}
		nulLogin := map[string]any{"i": map[string]any{"email": "a\x00@example.test", "password": "x"}}
		for _, tc := range []struct {
			name   string
			caller graphtest.Caller
			query  string
			vars   map[string]any
			want   string
			field  string // for BAD_USER_INPUT: extensions.field, which the message starts with
		}{
			{"bad token, page size", badToken, projects101, nil, "UNAUTHENTICATED", ""},
			{"bad token, NUL in a public field", graphtest.Caller{Token: "not.a.token"}, login, nulLogin, "UNAUTHENTICATED", ""},
			{"bad token, empty In list", badToken, emptyIn, nil, "UNAUTHENTICATED", ""},
			{"no token, page size", graphtest.Caller{TenantSlug: "acme"}, projects101, nil, "UNAUTHENTICATED", ""},
			{"non-member, empty In list", stranger.Caller("acme"), emptyIn, nil, "FORBIDDEN", ""},
			{"viewer, NUL in a MEMBER mutation", v, createProject, nulName, "FORBIDDEN", ""},
			{"viewer, OWNER page size", v, activity101, nil, "FORBIDDEN", ""},
			{"viewer, OWNER cursor", v, activityAfter, nil, "FORBIDDEN", ""},
			{"viewer, OWNER field nested in a VIEWER one", v, nestedOwner, nil, "FORBIDDEN", ""},
			{"viewer, page size of a VIEWER field", v, projects101, nil, "BAD_USER_INPUT", "projects.first"},
			{"viewer, empty In list of a VIEWER field", v, emptyIn, nil, "BAD_USER_INPUT", "projects.where.idIn"},
			{"anonymous, NUL in a public field", graphtest.Caller{}, login, nulLogin, "BAD_USER_INPUT", "login.input.email"},
			{"owner, NUL", o, createProject, nulName, "BAD_USER_INPUT", "createProject.input.name"},
			{"owner, page size", o, activity101, nil, "BAD_USER_INPUT", "activityLogs.first"},
			{"owner, cursor", o, activityAfter, nil, "BAD_USER_INPUT", "activityLogs.after"},
			{"owner, nested page size", o, nestedOwner, nil, "BAD_USER_INPUT", "activity.first"},
		} {
			r := e.Do(tc.caller, tc.query, tc.vars)
			if len(r.Errors) != 1 || r.Code() != tc.want {
				t.Errorf("%s: got %+v, want one %s", tc.name, r.Errors, tc.want)
				continue
			}
			if field, _ := r.Errors[0].Extensions["field"].(string); field != tc.field ||
				tc.field != "" && !strings.HasPrefix(r.Errors[0].Message, tc.field+" must") && !strings.HasPrefix(r.Errors[0].Message, tc.field+": ") {
				t.Errorf("%s: got field %q and message %q, want field %q and a message starting with it", tc.name, field, r.Errors[0].Message, tc.field)
			}
		}
		var got struct{ Projects struct{ TotalCount int } }
		e.MustDo(o, `{ projects { totalCount } }`, nil, &got)
		if got.Projects.TotalCount != 0 {
			t.Errorf("projects: got %d, want none created", got.Projects.TotalCount)
		}
	})
}
