package graph_test

// Page size bounds (first/last) and the default page size.

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"tenantgraph/graph/graphtest"
)

// first/last outside 0..100 are refused before any resolver or SQL but the
// session's lookup runs, on top-level and nested connections alike, literal
// or through variables.
func TestPageSizeLimits(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newPgWorld(t, e, 3)

		// What the session lookup alone costs, and what a real page costs.
		e.Counter.Reset()
		pgMust(t, e, w.c, `{ currentTenant { id } }`, nil, nil)
		sessionOnly := e.Counter.Count()
		e.Counter.Reset()
		pgMust(t, e, w.c, `{ projects(first: 100) { totalCount edges { node { id } } } }`, nil, nil)
		if withPage := e.Counter.Count(); withPage <= sessionOnly {
			t.Fatalf("statements: a projects page ran %d, the session alone %d: the counter does not see connection queries", withPage, sessionOnly)
		}

		tests := []struct {
			name  string
			query string
			vars  map[string]any
		}{
			{"projects first 101", `{ projects(first: 101) { totalCount } }`, nil},
			{"projects last 101", `{ projects(last: 101) { totalCount } }`, nil},
			{"projects first -1", `{ projects(first: -1) { totalCount } }`, nil},
			{"projects last -1", `{ projects(last: -1) { totalCount } }`, nil},
			{"projects first 1000000", `{ projects(first: 1000000) { totalCount } }`, nil},
			{"tasks first 101", `{ tasks(first: 101) { totalCount } }`, nil},
			{"members last 101", `{ members(last: 101) { totalCount } }`, nil},
			{"valid first, last 101", `{ projects(first: 10, last: 101) { totalCount } }`, nil},
			{"Project.tasks first 101", `{ projects { edges { node { tasks(first: 101) { totalCount } } } } }`, nil},
			{"Project.tasks last -5", `{ projects { edges { node { tasks(last: -5) { totalCount } } } } }`, nil},
			{"Task.comments first 101", `{ tasks { edges { node { comments(first: 101) { totalCount } } } } }`, nil},
			{"Task.comments two levels down", `{ projects { edges { node { tasks(first: 5) { edges { node { comments(first: 101) { totalCount } } } } } } } }`, nil},
			{"second root field", `{ currentTenant { id } projects(first: 101) { totalCount } }`, nil},
			{"aliased", `{ a: projects(first: 1) { totalCount } b: projects(first: 101) { totalCount } }`, nil},
			{"in a fragment", `{ ...F } fragment F on Query { projects(first: 101) { totalCount } }`, nil},
			{"in an inline fragment under node", `query($id: ID!) { node(id: $id) { ... on Project { tasks(first: 101) { totalCount } } } }`, map[string]any{"id": w.big}},
			{"variable first 101", `query($n: Int) { projects(first: $n) { totalCount } }`, map[string]any{"n": 101}},
			{"variable last -1", `query($n: Int) { projects(last: $n) { totalCount } }`, map[string]any{"n": -1}},
			{"variable on Project.tasks", `query($n: Int) { projects { edges { node { tasks(first: $n) { totalCount } } } } }`, map[string]any{"n": 101}},
			{"variable on Task.comments", `query($n: Int!) { tasks { edges { node { comments(last: $n) { totalCount } } } } }`, map[string]any{"n": 500}},
			{"variable with a default", `query($n: Int = 101) { projects(first: $n) { totalCount } }`, nil},
			// gqlparser takes a string of digits for an Int variable, and
			// the resolvers and entgql's eager loads read it as a number.
			{"variable as a string", `query($n: Int) { projects(first: $n) { totalCount } }`, map[string]any{"n": "100000"}},
			{"variable as a negative string", `query($n: Int) { projects(last: $n) { totalCount } }`, map[string]any{"n": "-1"}},
			{"variable as a string, nested", `query($n: Int) { projects(first: 1) { edges { node { tasks(first: $n) { totalCount } } } } }`, map[string]any{"n": "101"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.Counter.Reset()
				r := e.Do(w.c, tt.query, tt.vars)
				ran := e.Counter.Count()
				if got := r.Code(); got != "BAD_USER_INPUT" {
					t.Fatalf("code: got %q (errors %+v, data %s), want BAD_USER_INPUT", got, r.Errors, r.Data)
				}
				// extensions.field names the connection with the argument,
				// as the message does (a client learns which page size).
				field, _ := r.Errors[0].Extensions["field"].(string)
				conn, arg, _ := strings.Cut(field, ".")
				if conn == "" || (arg != "first" && arg != "last") || !strings.HasPrefix(r.Errors[0].Message, field+" must") {
					t.Errorf("extensions.field %q, message %q: want the connection and its argument (projects.first), as the message starts", field, r.Errors[0].Message)
				}
				if ran > sessionOnly {
					t.Errorf("statements: got %d, want at most %d (the session lookup): the connection ran before the check", ran, sessionOnly)
				}
				if string(r.Data) != "" && string(r.Data) != "null" {
					t.Errorf("data: got %s, want none", r.Data)
				}
			})
		}

		allowed := []struct{ name, query string }{
			{"first 100", `{ projects(first: 100) { totalCount } }`},
			{"last 100", `{ projects(last: 100) { totalCount } }`},
			{"first 0", `{ projects(first: 0) { totalCount } }`},
			{"nested first 100", `{ projects { edges { node { tasks(first: 100) { totalCount } } } } }`},
			{"nested comments last 100", `{ tasks { edges { node { comments(last: 100) { totalCount } } } } }`},
		}
		for _, tt := range allowed {
			t.Run(tt.name, func(t *testing.T) {
				pgMust(t, e, w.c, tt.query, nil, nil)
			})
		}
		t.Run("variable as a string within bounds", func(t *testing.T) {
			var out struct {
				Projects struct {
					Edges []struct{ Node struct{ ID string } }
				}
			}
			pgMust(t, e, w.c, `query($n: Int) { projects(first: $n) { edges { node { id } } } }`, map[string]any{"n": "2"}, &out)
			if len(out.Projects.Edges) != 2 {
				t.Errorf("projects(first: \"2\"): got %d, want 2", len(out.Projects.Edges))
			}
		})
	})
}

// Without first or last a connection returns 20 items, top-level and nested.
func TestDefaultPageSize(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newPgWorld(t, e, 25)
		tests := []struct {
			name  string
			query string
			vars  map[string]any
			conn  func(json.RawMessage) pgConn
			want  []string
		}{
			{"projects", `{ projects { ` + pgConnFields + ` } }`, nil, pgPath("projects"), w.projects},
			{"tasks", `{ tasks { ` + pgConnFields + ` } }`, nil, pgPath("tasks"), w.tasks},
			{"Project.tasks", `query($id: ID!) { node(id: $id) { ... on Project { tasks { ` + pgConnFields + ` } } } }`,
				map[string]any{"id": w.big}, pgPath("node", "tasks"), w.tasks},
			{"Task.comments", `query($id: ID!) { node(id: $id) { ... on Task { comments { ` + pgConnFields + ` } } } }`,
				map[string]any{"id": w.tasks[0]}, pgPath("node", "comments"), w.comments},
			{"Project.tasks under projects", `{ projects(where: {name: "Big"}) { edges { node { tasks { ` + pgConnFields + ` } } } } }`,
				nil, pgPath("projects", "edges", "0", "node", "tasks"), w.tasks},
			{"Task.comments under tasks", `{ tasks(where: {title: "T01"}) { edges { node { comments { ` + pgConnFields + ` } } } } }`,
				nil, pgPath("tasks", "edges", "0", "node", "comments"), w.comments},
			{"Project.tasks in a fragment", `{ projects(where: {name: "Big"}) { edges { node { ...T } } } } fragment T on Project { tasks { ` + pgConnFields + ` } }`,
				nil, pgPath("projects", "edges", "0", "node", "tasks"), w.tasks},
			{"first from a null variable", `query($n: Int) { projects(first: $n) { ` + pgConnFields + ` } }`,
				map[string]any{"n": nil}, pgPath("projects"), w.projects},
			{"first from an absent variable, nested", `query($n: Int, $id: ID!) { node(id: $id) { ... on Task { comments(first: $n) { ` + pgConnFields + ` } } } }`,
				map[string]any{"id": w.tasks[0]}, pgPath("node", "comments"), w.comments},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.Do(w.c, tt.query, tt.vars)
				var data json.RawMessage
				r.Decode(t, &data)
				conn := tt.conn(data)
				if conn.TotalCount != 25 {
					t.Errorf("totalCount: got %d, want 25", conn.TotalCount)
				}
				if got, want := conn.ids(), tt.want[:20]; !slices.Equal(got, want) {
					t.Errorf("got %d items %v, want the first 20 %v", len(got), got, want)
				}
				if !conn.PageInfo.HasNextPage {
					t.Errorf("hasNextPage: got false, want true")
				}
			})
		}
		// The server caches parsed documents: the default given to one request
		// must not stick to the document and cap the next one.
		t.Run("one document, different variables", func(t *testing.T) {
			const q = `query($n: Int) { projects(first: $n) { edges { node { id } } } }`
			for _, n := range []any{nil, 3, nil, 25, nil} {
				var out struct{ Projects pgConn }
				pgMust(t, e, w.c, q, map[string]any{"n": n}, &out)
				want := 20
				if n != nil {
					want = n.(int)
				}
				if got := len(out.Projects.Edges); got != want {
					t.Fatalf("first %v: got %d items, want %d", n, got, want)
				}
			}
		})
	})
}
