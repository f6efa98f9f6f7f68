package graph_test

// pageInfo asked for without edges, where no page is read and counts tell
// it.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"tenantgraph/graph/graphtest"
)

// A connection asked for pageInfo without edges answers what it answers
// with them: hasNextPage and hasPreviousPage depend on the page size and
// the cursors, not only on whether the list has a row.
func TestPageInfoWithoutEdges(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newPgWorld(t, e, 5)
		connections := []struct {
			name, query string // %s: the arguments, then the selection
			path        []string
		}{
			{"projects", `query($id: ID!, $a: Cursor, $b: Cursor) { x: node(id: $id) { id } projects(after: $a, before: $b, %s) { %s } }`, []string{"projects"}},
			{"Project.tasks", `query($id: ID!, $a: Cursor, $b: Cursor) { node(id: $id) { ... on Project { tasks(after: $a, before: $b, %s) { %s } } } }`, []string{"node", "tasks"}},
		}
		const withEdges = `pageInfo { hasNextPage hasPreviousPage } edges { cursor node { id } }`
		const withoutEdges = `pageInfo { hasNextPage hasPreviousPage }`
		for _, conn := range connections {
			do := func(t *testing.T, args, selection string, vars map[string]any) pgConn {
				t.Helper()
				vars["id"] = w.big
				var data json.RawMessage
				pgMust(t, e, w.c, fmt.Sprintf(conn.query, args, selection), vars, &data)
				return pgPath(conn.path...)(data)
			}
			all := do(t, "first: 100", withEdges, map[string]any{})
			if len(all.Edges) != 5 {
				t.Fatalf("%s: got %d items, want 5", conn.name, len(all.Edges))
			}
			c := func(i int) string { return all.Edges[i].Cursor }
			tests := []struct {
				args string // the page size, then where the cursors are, for the name
				vars map[string]any
			}{
				{"first: 100", nil},
				{"first: 5", nil},
				{"first: 4", nil},
				{"last: 100", nil},
				{"last: 5", nil},
				{"last: 4", nil},
				{"first: 2 after 1", map[string]any{"a": c(1)}},
				{"first: 3 after 1", map[string]any{"a": c(1)}},
				{"first: 10 after 4", map[string]any{"a": c(4)}},
				{"last: 2 before 3", map[string]any{"b": c(3)}},
				{"last: 3 before 3", map[string]any{"b": c(3)}},
				{"first: 2 before 3", map[string]any{"b": c(3)}},
				{"last: 1 after 0 before 2", map[string]any{"a": c(0), "b": c(2)}},
			}
			for _, tt := range tests {
				t.Run(conn.name+"/"+tt.args, func(t *testing.T) {
					vars := func() map[string]any {
						v := map[string]any{}
						for k, x := range tt.vars {
							v[k] = x
						}
						return v
					}
					size, _, _ := strings.Cut(tt.args, " after")
					size, _, _ = strings.Cut(size, " before")
					want := do(t, size, withEdges, vars()).PageInfo
					got := do(t, size, withoutEdges, vars()).PageInfo
					if got.HasNextPage != want.HasNextPage || got.HasPreviousPage != want.HasPreviousPage {
						t.Fatalf("without edges: hasNextPage %v, hasPreviousPage %v; with edges: %v, %v",
							got.HasNextPage, got.HasPreviousPage, want.HasNextPage, want.HasPreviousPage)
					}
				})
			}
			// first: 0 reads no page either way: nothing follows the last row.
			t.Run(conn.name+"/first: 0 after the last", func(t *testing.T) {
				got := do(t, "first: 0", withoutEdges, map[string]any{"a": c(4)}).PageInfo
				if got.HasNextPage || !got.HasPreviousPage {
					t.Fatalf("hasNextPage %v, hasPreviousPage %v; want false, true", got.HasNextPage, got.HasPreviousPage)
				}
			})
		}
	})
}
