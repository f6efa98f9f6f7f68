package graph_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"

	"tenantgraph/ent"
	"tenantgraph/graph/graphtest"
)

// Values that one database takes and the other refuses must get the same
// clear error on both, before they reach either. Each of these answered
// INTERNAL_SERVER_ERROR on one of them, or worse.

// A due date whose UTC falls past the year 9999 (an offset carries
// 9999-12-31T23:00:00-01:00 there) was stored on SQLite as text its driver
// could not read back: every later read of the tenant's tasks failed.
func TestTimesOutsideFourDigitYearsAreRefused(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		c := owner.Caller("acme")
		p := e.CreateProject(c, "Rocket")
		task := e.CreateTask(c, p, "Fuel")
		for _, due := range []string{"9999-12-31T23:00:00-01:00", "0000-01-01T00:00:00+00:01"} {
			r := e.Do(c, `mutation($p: ID!, $d: Time) { createTask(input: {projectID: $p, title: "Late", dueDate: $d}) { id } }`, map[string]any{"p": p, "d": due})
			if r.Code() != "BAD_USER_INPUT" {
				t.Errorf("createTask with dueDate %s: got %s %+v, want BAD_USER_INPUT", due, r.Data, r.Errors)
			}
			r = e.Do(c, `mutation($t: ID!, $d: Time) { updateTask(id: $t, input: {dueDate: $d}) { id } }`, map[string]any{"t": task, "d": due})
			if r.Code() != "BAD_USER_INPUT" {
				t.Errorf("updateTask with dueDate %s: got %s %+v, want BAD_USER_INPUT", due, r.Data, r.Errors)
			}
			r = e.Do(c, `query($d: Time) { tasks(where: {dueDateLT: $d}) { totalCount } }`, map[string]any{"d": due})
			if r.Code() != "BAD_USER_INPUT" {
				t.Errorf("a filter bound %s: got %s %+v, want BAD_USER_INPUT", due, r.Data, r.Errors)
			}
		}
		var out struct{ Tasks struct{ TotalCount int } }
		pgMust(t, e, c, `{ tasks { totalCount edges { node { dueDate } } } }`, nil, &out)
		if out.Tasks.TotalCount != 1 {
			t.Errorf("tasks: got %d, want the one created before", out.Tasks.TotalCount)
		}
		// The years' ends themselves are fine.
		for _, due := range []string{"9999-12-30T23:00:00-01:00", "0001-01-02T00:00:00Z"} {
			pgMust(t, e, c, `mutation($p: ID!, $d: Time) { createTask(input: {projectID: $p, title: "Edge", dueDate: $d}) { id } }`, map[string]any{"p": p, "d": due}, nil)
		}
		pgMust(t, e, c, `{ tasks { totalCount edges { node { dueDate } } } }`, nil, &out)
	})
}

// A tenant header that no slug could be (bytes past 0x7F, a NUL in
// connection_init) was sent to the database, where PostgreSQL failed it:
// an internal error over HTTP, and 1013 (try again) over the websocket.
func TestATenantHeaderThatIsNoSlugIsNotFound(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		body, _ := json.Marshal(map[string]any{"query": "{ currentTenant { id } }"})
		for _, slug := range []string{"\xff", "acme\xff", "ACME", "a b"} {
			raw := e.Raw(graphtest.Caller{Token: owner.Token}, http.MethodPost, "/graphql",
				http.Header{"Content-Type": {"application/json"}, "X-Tenant-Slug": {slug}}, body)
			if !strings.Contains(string(raw.Body), `"code":"NOT_FOUND"`) {
				t.Errorf("X-Tenant-Slug %q: got %d %s, want NOT_FOUND", slug, raw.Status, raw.Body)
			}
		}
		conn := dialRaw(t, e)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := wsjson.Write(ctx, conn, map[string]any{"type": "connection_init",
			"payload": map[string]any{"Authorization": "Bearer " + owner.Token, "X-Tenant-Slug": "acme\u0000"}}); err != nil {
			t.Fatal(err)
		}
		if status := closeStatus(ctx, conn); status != 4403 {
			t.Errorf("connection_init with a NUL in its slug: close code %d, want 4403", status)
		}
	})
}

// A string that is not UTF-8 can come in a GET request's query string
// (JSON bodies cannot carry one): PostgreSQL refused it in a filter.
func TestStringsThatAreNotUTF8AreRefused(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		query := "{ projects(where: {nameContains: \"\xff\"}) { totalCount } }"
		raw := e.Raw(owner.Caller("acme"), http.MethodGet, "/graphql?query="+url.QueryEscape(query), nil, nil)
		if body := string(raw.Body); !strings.Contains(body, `"code":"BAD_USER_INPUT"`) || !strings.Contains(body, "UTF-8") {
			t.Errorf("got %d %s, want BAD_USER_INPUT: must be valid UTF-8", raw.Status, body)
		}
	})
}

// A nested filter that adds no condition ({}, or only false xIsNil flags)
// failed inside entgql, an internal error; a top-level one matches
// everything, as before.
func TestNestedFiltersWithoutAConditionAreRefused(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		c := owner.Caller("acme")
		e.CreateTask(c, e.CreateProject(c, "Rocket"), "Fuel")
		for _, q := range []string{
			`{ tasks(where: {not: {}}) { totalCount } }`,
			`{ tasks(where: {and: [{}]}) { totalCount } }`,
			`{ tasks(where: {or: [{assigneeIDIsNil: true}, {assigneeIDIsNil: false}]}) { totalCount } }`,
			`{ tasks(where: {not: {statusNotIn: []}}) { totalCount } }`,
			`{ projects(where: {hasTasksWith: {}}) { totalCount } }`,
			`{ tasks(where: {title: "Fuel", not: {}}) { totalCount } }`,
		} {
			r := e.Do(c, q, nil)
			if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "must hold a condition") {
				t.Errorf("%s: got %s %+v, want BAD_USER_INPUT", q, r.Data, r.Errors)
			}
		}
		for _, q := range []string{
			`{ tasks(where: {}) { totalCount } }`,
			`{ tasks(where: {assigneeIDIsNil: false}) { totalCount } }`,
			`{ tasks(where: {not: {assigneeIDIsNil: false, title: "Nope"}}) { totalCount } }`,
			`{ tasks(where: {or: [{assigneeIDIsNil: true}, {title: "Fuel"}]}) { totalCount } }`,
			`{ projects(where: {hasTasks: false, not: {hasTasksWith: {title: "Nope"}}}) { totalCount } }`,
		} {
			var out map[string]struct{ TotalCount int }
			pgMust(t, e, c, q, nil, &out)
		}
	})
}

// Cursors are not signed: a forged one of the right kind carried a value
// PostgreSQL refused (a NUL or bytes that are not UTF-8, an integer past
// PRIORITY's smallint or past int64, a time past 9999), an internal error;
// SQLite refused some of them too.
func TestForgedCursorValuesAreRefused(t *testing.T) {
	cursorOf := func(id int, v any) string {
		var b bytes.Buffer
		ent.Cursor{ID: id, Value: v}.MarshalGQL(&b)
		var s string
		if err := json.Unmarshal(b.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	cursor := func(v any) string { return cursorOf(1, v) }
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		c := owner.Caller("acme")
		e.CreateTask(c, e.CreateProject(c, "Rocket"), "Fuel")
		cases := []struct {
			name, query string
			value       any
		}{
			{"a NUL", `query($a: Cursor) { projects(orderBy: {field: NAME}, after: $a) { totalCount } }`, "a\x00"},
			{"not UTF-8", `query($a: Cursor) { tasks(orderBy: {field: TITLE}, after: $a) { totalCount } }`, "\xff"},
			{"past smallint", `query($a: Cursor) { tasks(orderBy: {field: PRIORITY}, after: $a) { totalCount } }`, 40000},
			{"past int64", `query($a: Cursor) { tasks(orderBy: {field: PRIORITY}, after: $a) { totalCount } }`, uint64(math.MaxUint64)},
			{"past 9999", `query($a: Cursor) { notifications(after: $a) { totalCount } }`, time.Unix(1e13, 0)},
			{"nested", `query($a: Cursor) { projects(first: 1) { edges { node { tasks(orderBy: {field: TITLE}, after: $a) { totalCount } } } } }`, "a\x00"},
		}
		for _, tc := range cases {
			r := e.Do(c, tc.query, map[string]any{"a": cursor(tc.value)})
			if r.Code() != "BAD_USER_INPUT" {
				t.Errorf("%s: got %s %+v, want BAD_USER_INPUT", tc.name, r.Data, r.Errors)
			}
		}
		// No ID is zero or negative: an ID past int64 (2^64-1, which
		// decoded as -1) paged from the start as if there were no cursor.
		pastInt64 := append(append([]byte{0x82, 0xa1, 'i', 0xcf}, bytes.Repeat([]byte{0xff}, 8)...), 0xa1, 'v', 0xc0)
		for name, forged := range map[string]string{
			"an ID past int64":                     base64.RawURLEncoding.EncodeToString(pastInt64),
			"an ID past int64, in standard base64": base64.RawStdEncoding.EncodeToString(pastInt64),
			"a negative ID":                        cursorOf(-5, nil),
		} {
			r := e.Do(c, `query($a: Cursor) { projects(after: $a) { totalCount } }`, map[string]any{"a": forged})
			if r.Code() != "BAD_USER_INPUT" {
				t.Errorf("%s: got %s %+v, want BAD_USER_INPUT", name, r.Data, r.Errors)
			}
		}
		// A cursor the server issued still works.
		var page struct {
			Tasks struct {
				Edges []struct{ Cursor string }
			}
		}
		pgMust(t, e, c, `{ tasks(first: 1, orderBy: {field: PRIORITY}) { edges { cursor } } }`, nil, &page)
		pgMust(t, e, c, `query($a: Cursor) { tasks(orderBy: {field: PRIORITY}, after: $a) { totalCount } }`, map[string]any{"a": page.Tasks.Edges[0].Cursor}, nil)
	})
}

// An update's null for a field that cannot be cleared (a project's name; a
// task's title, status or priority; a tenant's channel list) changed
// nothing and answered as if it had worked, and logged an update that
// changed nothing. It is BAD_USER_INPUT naming the field, inline or
// through a variable, and nothing is written; leaving the field out still
// keeps it.
func TestNullForAFieldThatCannotBeClearedIsRefused(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		c := owner.Caller("acme")
		p := e.CreateProject(c, "Rocket")
		task := e.CreateTask(c, p, "Fuel")
		entries := func() int {
			var out struct{ ActivityLogs struct{ TotalCount int } }
			pgMust(t, e, c, `{ activityLogs { totalCount } }`, nil, &out)
			return out.ActivityLogs.TotalCount
		}
		before := entries()
		for _, tc := range []struct {
			name, field, query string
			vars               map[string]any
		}{
			{"a project's name", "name", `mutation($id: ID!) { updateProject(id: $id, input: {name: null, description: "set"}) { id } }`, map[string]any{"id": p}},
			{"a project's name in a variable", "name", `mutation($id: ID!, $in: UpdateProjectInput!) { updateProject(id: $id, input: $in) { id } }`, map[string]any{"id": p, "in": map[string]any{"name": nil}}},
			{"a task's title", "title", `mutation($id: ID!) { updateTask(id: $id, input: {title: null, description: "set"}) { id } }`, map[string]any{"id": task}},
			{"a task's status", "status", `mutation($id: ID!) { updateTask(id: $id, input: {status: null}) { id } }`, map[string]any{"id": task}},
			{"a task's priority in a variable", "priority", `mutation($id: ID!, $in: UpdateTaskInput!) { updateTask(id: $id, input: $in) { id } }`, map[string]any{"id": task, "in": map[string]any{"priority": nil}}},
			{"a tenant's channels", "notificationChannels", `mutation { updateTenantConfig(input: {notificationChannels: null}) { id } }`, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.Do(c, tc.query, tc.vars)
				if r.Code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != tc.field {
					t.Errorf("got %s %+v, want BAD_USER_INPUT naming %s", r.Data, r.Errors, tc.field)
				}
			})
		}
		if after := entries(); after != before {
			t.Errorf("activity entries: %d after the refusals, want %d as before", after, before)
		}
		var out struct {
			Project struct {
				Name        string
				Description *string
			}
			Task   struct{ Title, Status, Priority string }
			Tenant struct {
				Config struct{ NotificationChannels []string }
			}
		}
		pgMust(t, e, c, `query($p: ID!, $t: ID!) {
			project: node(id: $p) { ... on Project { name description } }
			task: node(id: $t) { ... on Task { title status priority } }
			tenant: currentTenant { config { notificationChannels } } }`, map[string]any{"p": p, "t": task}, &out)
		if out.Project.Name != "Rocket" || out.Project.Description != nil || out.Task.Title != "Fuel" || out.Task.Status != "TODO" || out.Task.Priority != "MEDIUM" ||
			len(out.Tenant.Config.NotificationChannels) != 1 {
			t.Errorf("after the refusals: got %+v, want everything as it was", out)
		}

		// Left out, the fields stay; [] turns the channels off.
		pgMust(t, e, c, `mutation($id: ID!) { updateTask(id: $id, input: {description: "kept the rest"}) { id } }`, map[string]any{"id": task}, nil)
		pgMust(t, e, c, `mutation { updateTenantConfig(input: {notificationChannels: []}) { id } }`, nil, nil)
		pgMust(t, e, c, `query($p: ID!, $t: ID!) {
			project: node(id: $p) { ... on Project { name description } }
			task: node(id: $t) { ... on Task { title status priority } }
			tenant: currentTenant { config { notificationChannels } } }`, map[string]any{"p": p, "t": task}, &out)
		if out.Task.Title != "Fuel" || out.Task.Status != "TODO" || len(out.Tenant.Config.NotificationChannels) != 0 {
			t.Errorf("after updates that left them out: got %+v, want title and status kept, no channels", out)
		}
	})
}
