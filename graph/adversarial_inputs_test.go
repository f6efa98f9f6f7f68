package graph_test

// The adversarial suite: hostile values in the arguments. Invalid IDs,
// cursors, times, enums and numbers everywhere, and oversized strings, are
// refused with BAD_USER_INPUT (or, for values of the wrong GraphQL type,
// GRAPHQL_VALIDATION_FAILED; for an oversized body, 413), never served and
// never an internal error. TestMalformedIDs (errors_test.go) covers the
// first ID arguments; this covers the rest.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"tenantgraph/graph/graphtest"
)

// advInputWorld is a tenant with one of everything, for hostile values.
type advInputWorld struct {
	e                                  *graphtest.Env
	a                                  *adv
	owner, mia                         graphtest.User
	o                                  graphtest.Caller
	project, task, comment, membership string
	notification                       string
}

func newAdvInputWorld(t *testing.T, e *graphtest.Env) *advInputWorld {
	t.Helper()
	w := &advInputWorld{e: e, a: newAdv(e)}
	w.owner, w.mia = e.Register("Owner"), e.Register("Mia")
	e.CreateTenant(w.owner, "acme")
	w.o = w.owner.Caller("acme")
	w.membership = e.AddMember(w.owner, "acme", w.mia, "MEMBER")
	w.project = e.CreateProject(w.o, "Rocket")
	w.task = createAssignedTask(t, e, w.o, w.project, "Fuel", w.mia.ID)
	w.comment = e.CreateComment(w.o, w.task, "ordered")
	ids := notificationIDs(t, e, w.mia.Caller("acme"))
	if len(ids) == 0 {
		t.Fatal("Mia has no notification")
	}
	w.notification = ids[0]
	return w
}

// advUse is an argument of some operation: query with the hostile value as
// $v (and the world's IDs as $p, $t, $c, $m, $n).
type advUse struct{ name, query string }

// advIDUses are the ID arguments TestMalformedIDs leaves out.
var advIDUses = []advUse{
	{"updateTask id", `mutation($v: ID!) { updateTask(id: $v, input: {title: "x"}) { id } }`},
	{"updateTask assigneeID", `mutation($v: ID, $t: ID!) { updateTask(id: $t, input: {assigneeID: $v}) { id } }`},
	{"deleteTask", `mutation($v: ID!) { deleteTask(id: $v) }`},
	{"updateComment", `mutation($v: ID!) { updateComment(id: $v, input: {body: "x"}) { id } }`},
	{"deleteComment", `mutation($v: ID!) { deleteComment(id: $v) }`},
	{"updateMemberRole", `mutation($v: ID!) { updateMemberRole(id: $v, role: VIEWER) { id } }`},
	{"markNotificationRead", `mutation($v: ID!) { markNotificationRead(id: $v) { id } }`},
	{"projects idIn", `query($v: ID!) { projects(where: {idIn: [$v]}) { totalCount } }`},
	{"projects createdByID", `query($v: ID) { projects(where: {createdByID: $v}) { totalCount } }`},
	{"tasks projectID", `query($v: ID) { tasks(where: {projectID: $v}) { totalCount } }`},
	{"tasks assigneeIDNotIn", `query($v: ID!) { tasks(where: {assigneeIDNotIn: [$v]}) { totalCount } }`},
	{"members userID", `query($v: ID) { members(where: {userID: $v}) { totalCount } }`},
	{"members idNEQ", `query($v: ID) { members(where: {idNEQ: $v}) { totalCount } }`},
	{"activityLogs entityID", `query($v: ID) { activityLogs(where: {entityID: $v}) { totalCount } }`},
	{"activityLogs actorIDIn", `query($v: ID!) { activityLogs(where: {actorIDIn: [$v]}) { totalCount } }`},
	{"Project.tasks assigneeID", `query($v: ID, $p: ID!) { node(id: $p) { ... on Project { tasks(where: {assigneeID: $v}) { totalCount } } } }`},
	{"Task.comments authorID", `query($v: ID, $t: ID!) { node(id: $t) { ... on Task { comments(where: {authorID: $v}) { totalCount } } } }`},
	{"nodes among good ones", `query($v: ID!, $p: ID!) { nodes(ids: [$p, $v]) { id } }`},
}

// advCursorUses are the connections' cursors.
var advCursorUses = []advUse{
	{"projects after", `query($v: Cursor) { projects(after: $v) { totalCount } }`},
	{"projects before", `query($v: Cursor) { projects(before: $v, last: 5) { totalCount } }`},
	{"tasks after", `query($v: Cursor) { tasks(after: $v) { totalCount } }`},
	{"members after", `query($v: Cursor) { members(after: $v) { totalCount } }`},
	{"notifications after", `query($v: Cursor) { notifications(after: $v) { totalCount } }`},
	{"activityLogs after", `query($v: Cursor) { activityLogs(after: $v) { totalCount } }`},
	{"Project.tasks after", `query($v: Cursor, $p: ID!) { node(id: $p) { ... on Project { tasks(after: $v) { totalCount } } } }`},
	{"Project.activity before", `query($v: Cursor, $p: ID!) { node(id: $p) { ... on Project { activity(before: $v, last: 5) { totalCount } } } }`},
	{"Task.comments after", `query($v: Cursor, $t: ID!) { node(id: $t) { ... on Task { comments(after: $v) { totalCount } } } }`},
}

// advTimeUses are the Time arguments.
var advTimeUses = []advUse{
	{"createTask dueDate", `mutation($v: Time, $p: ID!) { createTask(input: {projectID: $p, title: "x", dueDate: $v}) { id } }`},
	{"updateTask dueDate", `mutation($v: Time, $t: ID!) { updateTask(id: $t, input: {dueDate: $v}) { id } }`},
	{"projects createdAtGT", `query($v: Time) { projects(where: {createdAtGT: $v}) { totalCount } }`},
	{"tasks dueDateLT", `query($v: Time) { tasks(where: {dueDateLT: $v}) { totalCount } }`},
	{"activityLogs createdAtGTE", `query($v: Time) { activityLogs(where: {createdAtGTE: $v}) { totalCount } }`},
}

// advEnumUses are the enum arguments, in variables.
var advEnumUses = []advUse{
	{"transitionProject to", `mutation($v: ProjectStatus!, $p: ID!) { transitionProject(id: $p, to: $v) { id } }`},
	{"updateMemberRole role", `mutation($v: Role!, $m: ID!) { updateMemberRole(id: $m, role: $v) { id } }`},
	{"addMember role", `mutation($v: Role!) { addMember(input: {email: "owner@example.test", role: $v}) { id } }`},
	{"createTask status", `mutation($v: TaskStatus, $p: ID!) { createTask(input: {projectID: $p, title: "x", status: $v}) { id } }`},
	{"createTask priority", `mutation($v: TaskPriority, $p: ID!) { createTask(input: {projectID: $p, title: "x", priority: $v}) { id } }`},
	{"updateTask status", `mutation($v: TaskStatus, $t: ID!) { updateTask(id: $t, input: {status: $v}) { id } }`},
	{"updateTask priority", `mutation($v: TaskPriority, $t: ID!) { updateTask(id: $t, input: {priority: $v}) { id } }`},
	{"updateTenantConfig channels", `mutation($v: NotificationChannel!) { updateTenantConfig(input: {notificationChannels: [$v]}) { id } }`},
	{"projects status", `query($v: ProjectStatus) { projects(where: {status: $v}) { totalCount } }`},
	{"projects statusIn", `query($v: ProjectStatus!) { projects(where: {statusIn: [$v]}) { totalCount } }`},
	{"tasks priority", `query($v: TaskPriority) { tasks(where: {priority: $v}) { totalCount } }`},
	{"members role", `query($v: Role) { members(where: {role: $v}) { totalCount } }`},
	{"projects orderBy field", `query($v: ProjectOrderField!) { projects(orderBy: {field: $v}) { totalCount } }`},
	{"tasks orderBy direction", `query($v: OrderDirection!) { tasks(orderBy: {field: PRIORITY, direction: $v}) { totalCount } }`},
	{"activityLogs orderBy field", `query($v: ActivityLogOrderField!) { activityLogs(orderBy: {field: $v}) { totalCount } }`},
}

func (w *advInputWorld) vars(v any) map[string]any {
	return map[string]any{"v": v, "p": w.project, "t": w.task, "c": w.comment, "m": w.membership, "n": w.notification}
}

// refuse sends use with value v and fails unless it is refused with one of
// codes (and served nothing).
func (w *advInputWorld) refuse(t *testing.T, c graphtest.Caller, use advUse, v any, codes ...string) {
	t.Helper()
	r := w.a.do(t, c, use.query, w.vars(v))
	for _, code := range codes {
		if r.Code() == code {
			return
		}
	}
	t.Errorf("%s with %s: got %q %s, want one of %v", use.name, advShort(advJSON(v)), r.Code(), r.Data, codes)
}

func advJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestAdversarialInvalidValues(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newAdvInputWorld(t, e)
		before := advRows(t, e)
		// The owner calls, except for the caller's own notification.
		as := func(use advUse) graphtest.Caller {
			if strings.HasPrefix(use.name, "markNotificationRead") || strings.HasPrefix(use.name, "notifications") {
				return w.mia.Caller("acme")
			}
			return w.o
		}
		t.Run("IDs", func(t *testing.T) {
			for _, id := range []any{"!!!", "", "1", "-1", "é", strings.Repeat("Z", 100_000), "gid:1",
				base64.RawURLEncoding.EncodeToString([]byte("gid:0")), base64.RawURLEncoding.EncodeToString([]byte("gid:1 OR 1=1")),
				base64.RawURLEncoding.EncodeToString([]byte("gid:99999999999999999999")), 7, true, map[string]any{"id": 1}, []any{w.project}} {
				for _, use := range advIDUses {
					w.refuse(t, as(use), use, id, "BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED")
				}
			}
		})
		t.Run("cursors", func(t *testing.T) {
			for _, cursor := range []any{"garbage!!", "", "null", strings.Repeat("A", 10_000),
				base64.StdEncoding.EncodeToString([]byte(`{"id": 1}`)), base64.RawURLEncoding.EncodeToString([]byte{0x81, 0xa1, 'i', 0xa1, 'x'}), 12, false} {
				for _, use := range advCursorUses {
					w.refuse(t, as(use), use, cursor, "BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED")
				}
			}
		})
		t.Run("times", func(t *testing.T) {
			for _, v := range []any{"tomorrow", "", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-01-01", "2024-01-01T25:00:00Z", "10000-01-01T00:00:00Z", 1700000000, "'; DROP TABLE tasks; --"} {
				for _, use := range advTimeUses {
					if v == "" && !strings.Contains(use.name, "Task dueDate") {
						continue // gqlgen's Time reads "" as the zero time: a harmless bound in a filter
					}
					w.refuse(t, as(use), use, v, "BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED")
				}
			}
		})
		t.Run("enums", func(t *testing.T) {
			for _, v := range []any{"done", "DONE'", "", "OWNER; DROP TABLE memberships", "SUBMITTED\u0000", "submitted", " DRAFT", 3, true, []any{"DRAFT"}} {
				for _, use := range advEnumUses {
					// The validator refuses most; a few reach the enum's own
					// decoding, which refuses them as bad input.
					w.refuse(t, as(use), use, v, "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT")
				}
			}
			for _, q := range []string{
				`mutation($p: ID!) { transitionProject(id: $p, to: "SUBMITTED") { id } }`,
				`mutation($p: ID!) { transitionProject(id: $p, to: submitted) { id } }`,
				`{ tasks(where: {priority: CRITICAL}) { totalCount } }`,
				`{ members(orderBy: {field: EMAIL}) { totalCount } }`,
			} {
				w.refuse(t, w.o, advUse{"a literal", q}, nil, "GRAPHQL_VALIDATION_FAILED")
			}
		})
		t.Run("names and titles", func(t *testing.T) {
			// One line each, not blank: no line break, tab or other control
			// character, and not only characters that show nothing.
			for _, v := range []any{"Rocket\nlaunch", "Rocket\tlaunch", "x\x1b[2J", "a\u0007b", "\u200b", "\ufeff \u200b"} {
				for _, use := range advStringUses {
					if strings.HasSuffix(use.name, " name") || strings.HasSuffix(use.name, " title") {
						w.refuse(t, as(use), use, v, "BAD_USER_INPUT")
					}
				}
			}
			// Text of several lines may have line breaks, but not be blank.
			for _, use := range advStringUses {
				if strings.HasSuffix(use.name, " body") {
					w.refuse(t, as(use), use, "\u200b\n\u200b", "BAD_USER_INPUT")
				}
			}
		})
		t.Run("page sizes", func(t *testing.T) {
			use := advUse{"projects first", `query($v: Int) { projects(first: $v) { totalCount } }`}
			for _, v := range []any{-1, 101, 1 << 31, 1 << 62, 1.5, "ten", true} {
				w.refuse(t, w.o, use, v, "BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED", "QUERY_TOO_COMPLEX")
			}
		})
		if after := advRows(t, e); after != before {
			t.Errorf("rows: got %s after the attempts, want %s", after, before)
		}
		w.a.finish(t)
	})
}

// advStringUses are every string argument of every mutation: the query
// takes the hostile string as $v.
var advStringUses = []advUse{
	{"register name", `mutation($v: String!) { register(input: {email: "big1@example.test", password: "long enough", name: $v}) { token } }`},
	{"register email", `mutation($v: String!) { register(input: {email: $v, password: "long enough", name: "x"}) { token } }`},
	{"register password", `mutation($v: String!) { register(input: {email: "big2@example.test", password: $v, name: "x"}) { token } }`},
	{"login email", `mutation($v: String!) { login(input: {email: $v, password: "long enough"}) { token } }`},
	{"login password", `mutation($v: String!) { login(input: {email: "owner@example.test", password: $v}) { token } }`},
	{"createTenant name", `mutation($v: String!) { createTenant(input: {name: $v, slug: "big-tenant"}) { id } }`},
	{"createTenant slug", `mutation($v: String!) { createTenant(input: {name: "x", slug: $v}) { id } }`},
	{"addMember email", `mutation($v: String!) { addMember(input: {email: $v, role: MEMBER}) { id } }`},
	{"updateTenantConfig slackWebhookURL", `mutation($v: String) { updateTenantConfig(input: {slackWebhookURL: $v}) { id } }`},
	{"createProject name", `mutation($v: String!) { createProject(input: {name: $v}) { id } }`},
	{"createProject description", `mutation($v: String) { createProject(input: {name: "x", description: $v}) { id } }`},
	{"updateProject name", `mutation($v: String, $p: ID!) { updateProject(id: $p, input: {name: $v}) { id } }`},
	{"updateProject description", `mutation($v: String, $p: ID!) { updateProject(id: $p, input: {description: $v}) { id } }`},
	{"createTask title", `mutation($v: String!, $p: ID!) { createTask(input: {projectID: $p, title: $v}) { id } }`},
	{"createTask description", `mutation($v: String, $p: ID!) { createTask(input: {projectID: $p, title: "x", description: $v}) { id } }`},
	{"updateTask title", `mutation($v: String, $t: ID!) { updateTask(id: $t, input: {title: $v}) { id } }`},
	{"updateTask description", `mutation($v: String, $t: ID!) { updateTask(id: $t, input: {description: $v}) { id } }`},
	{"createComment body", `mutation($v: String!, $t: ID!) { createComment(input: {taskID: $t, body: $v}) { id } }`},
	{"updateComment body", `mutation($v: String!, $c: ID!) { updateComment(id: $c, input: {body: $v}) { id } }`},
}

func TestAdversarialOversizedStrings(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newAdvInputWorld(t, e)
		before := advRows(t, e)
		t.Run("100,000 characters in each string argument", func(t *testing.T) {
			for _, v := range []string{strings.Repeat("x", 100_000), strings.Repeat("🚀", 100_000), "https://127.0.0.1:9/" + strings.Repeat("a", 100_000)} {
				for _, use := range advStringUses {
					codes := []string{"BAD_USER_INPUT"}
					if strings.HasPrefix(use.name, "login") {
						codes = []string{"UNAUTHENTICATED"} // the one answer to every failed login
					}
					w.refuse(t, w.o, use, v, codes...)
				}
			}
		})
		t.Run("100,000 characters in each string filter", func(t *testing.T) {
			long := strings.Repeat("%", 100_000)
			for _, use := range []advUse{
				{"projects nameContains", `query($v: String) { projects(where: {nameContains: $v}) { totalCount } }`},
				{"projects descriptionHasPrefix", `query($v: String) { projects(where: {descriptionHasPrefix: $v}) { totalCount } }`},
				{"tasks titleContainsFold", `query($v: String) { tasks(where: {titleContainsFold: $v}) { totalCount } }`},
				{"tasks descriptionEqualFold", `query($v: String) { tasks(where: {descriptionEqualFold: $v}) { totalCount } }`},
				{"Task.comments bodyHasSuffix", `query($v: String, $t: ID!) { node(id: $t) { ... on Task { comments(where: {bodyHasSuffix: $v}) { totalCount } } } }`},
				{"activityLogs summaryContains", `query($v: String) { activityLogs(where: {summaryContains: $v}) { totalCount } }`},
				{"projects nameIn", `query($v: String!) { projects(where: {nameIn: [$v, $v]}) { totalCount } }`},
			} {
				w.refuse(t, w.o, use, long, "BAD_USER_INPUT")
			}
		})
		t.Run("filters too big or too deep", func(t *testing.T) {
			many := make([]string, 600)
			for i := range many {
				many[i] = w.project
			}
			var deep any = map[string]any{"titleContains": "x"}
			for i := 0; i < 30; i++ {
				deep = map[string]any{"hasCommentsWith": map[string]any{"hasTaskWith": deep}}
			}
			ors := make([]any, 2000)
			for i := range ors {
				ors[i] = map[string]any{"nameContains": "x"}
			}
			w.refuse(t, w.o, advUse{"600 IDs", `query($v: [ID!]) { projects(where: {idIn: $v}) { totalCount } }`}, many, "BAD_USER_INPUT")
			w.refuse(t, w.o, advUse{"60 levels of hasWith", `query($v: TaskWhereInput) { tasks(where: $v) { totalCount } }`}, deep, "BAD_USER_INPUT")
			w.refuse(t, w.o, advUse{"2,000 ors", `query($v: [ProjectWhereInput!]) { projects(where: {or: $v}) { totalCount } }`}, ors, "BAD_USER_INPUT")
			// Within the bounds, a filter is served.
			r := w.a.do(t, w.o, `query($v: [ID!]) { projects(where: {idIn: $v}) { totalCount } }`, map[string]any{"v": many[:400]})
			if len(r.Errors) > 0 {
				t.Errorf("400 IDs: got %+v, want them served", r.Errors)
			}
		})
		t.Run("10 MB in one field", func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"query": `mutation($v: String!) { createProject(input: {name: $v}) { id } }`,
				"variables": map[string]any{"v": strings.Repeat("x", 10<<20)}})
			r := w.a.raw(t, w.o, http.MethodPost, "/graphql", secJSON, body)
			if r.Status != http.StatusRequestEntityTooLarge || r.Code() != "BAD_USER_INPUT" {
				t.Errorf("got %d %q, want 413 BAD_USER_INPUT", r.Status, r.Code())
			}
		})
		t.Run("a long operation name", func(t *testing.T) {
			// Served or refused, as long as the ledger finds nothing wrong.
			w.a.do(t, w.o, `query `+strings.Repeat("A", 100_000)+` { currentTenant { id } }`, nil)
		})
		if after := advRows(t, e); after != before {
			t.Errorf("rows: got %s after the attempts, want %s", after, before)
		}
		w.a.finish(t)
	})
}

// advRows counts the rows of every table, past the privacy layer.
func advRows(t *testing.T, e *graphtest.Env) string {
	t.Helper()
	ctx, c := acctSystemContext(), e.DB.Client
	counts := []func() (int, error){
		func() (int, error) { return c.Tenant.Query().Count(ctx) },
		func() (int, error) { return c.User.Query().Count(ctx) },
		func() (int, error) { return c.Membership.Query().Count(ctx) },
		func() (int, error) { return c.Project.Query().Count(ctx) },
		func() (int, error) { return c.Task.Query().Count(ctx) },
		func() (int, error) { return c.Comment.Query().Count(ctx) },
		func() (int, error) { return c.Notification.Query().Count(ctx) },
		func() (int, error) { return c.ActivityLog.Query().Count(ctx) },
	}
	var b strings.Builder
	for i, count := range counts {
		n, err := count()
		if err != nil {
			t.Fatalf("counting table %d: %v", i, err)
		}
		fmt.Fprintf(&b, " %d", n)
	}
	return b.String()
}
