package graph_test

// A cursor is valid only with the order it was issued for.

import (
	"encoding/json"
	"testing"

	"tenantgraph/graph/graphtest"
)

// A cursor of another order of the connection is BAD_USER_INPUT on both
// databases: neither an internal error (PostgreSQL compared a name with a
// timestamp) nor a page of whatever comparing unlike values kept (SQLite),
// nor, for a cursor of the default order, a page bounded by ID alone.
func TestCursorOfAnotherOrder(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newPgWorld(t, e, 5)
		cursorOf := func(query string, path ...string) string {
			t.Helper()
			r := e.Do(w.c, query, map[string]any{"id": w.big})
			var data json.RawMessage
			r.Decode(t, &data)
			conn := pgPath(path...)(data)
			if len(conn.Edges) < 3 {
				t.Fatalf("%s: got %d items, want at least 3", query, len(conn.Edges))
			}
			return conn.Edges[1].Cursor
		}
		byName := cursorOf(`query($id: ID!) { x: node(id: $id) { id } projects(orderBy: {field: NAME}) { edges { cursor node { id } } } }`, "projects")
		byID := cursorOf(`query($id: ID!) { x: node(id: $id) { id } projects { edges { cursor node { id } } } }`, "projects")
		byCreated := cursorOf(`query($id: ID!) { x: node(id: $id) { id } tasks(orderBy: {field: CREATED_AT}) { edges { cursor node { id } } } }`, "tasks")
		byTitle := cursorOf(`query($id: ID!) { node(id: $id) { ... on Project { tasks(orderBy: {field: TITLE}) { edges { cursor node { id } } } } } }`, "node", "tasks")

		tests := []struct {
			name, query, cursor string
		}{
			{"NAME cursor, CREATED_AT order", `query($c: Cursor) { projects(first: 2, after: $c, orderBy: {field: CREATED_AT}) { edges { node { id } } } }`, byName},
			{"default order's cursor, NAME order", `query($c: Cursor) { projects(first: 2, after: $c, orderBy: {field: NAME, direction: DESC}) { edges { node { id } } } }`, byID},
			{"NAME cursor, default order", `query($c: Cursor) { projects(last: 2, before: $c) { edges { node { id } } } }`, byName},
			{"CREATED_AT cursor, PRIORITY order", `query($c: Cursor) { tasks(first: 2, after: $c, orderBy: {field: PRIORITY}) { edges { node { id } } } }`, byCreated},
			{"TITLE cursor, nested DUE_DATE order", `query($c: Cursor) { projects(first: 100) { edges { node { tasks(first: 2, after: $c, orderBy: {field: DUE_DATE}) { edges { node { id } } } } } } }`, byTitle},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.Do(w.c, tt.query, map[string]any{"c": tt.cursor})
				if got := r.Code(); got != "BAD_USER_INPUT" {
					t.Fatalf("got code %q (errors %+v, data %s), want BAD_USER_INPUT", got, r.Errors, r.Data)
				}
			})
		}
	})
}
