package graph_test

// after and before together, and each with the "other" page size (first
// with before, last with after), as the Relay specification's
// ApplyCursorsToEdges defines them: the cursors bound the list, then first
// keeps the start of what is left and last its end.

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"tenantgraph/graph/graphtest"
)

func TestCursorBoundsInBothDirections(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newPgWorld(t, e, 10)
		connections := []struct {
			name, query string // query takes $id, $first, $last, $after, $before
			path        []string
		}{
			{"projects", `query($id: ID!, $first: Int, $last: Int, $after: Cursor, $before: Cursor) {
				x: node(id: $id) { id }
				projects(first: $first, last: $last, after: $after, before: $before%s) { ` + pgConnFields + ` } }`,
				[]string{"projects"}},
			{"Project.tasks", `query($id: ID!, $first: Int, $last: Int, $after: Cursor, $before: Cursor) {
				node(id: $id) { ... on Project { tasks(first: $first, last: $last, after: $after, before: $before%s) { ` + pgConnFields + ` } } } }`,
				[]string{"node", "tasks"}},
		}
		orders := []string{"", ", orderBy: {field: CREATED_AT, direction: DESC}", ", orderBy: {field: UPDATED_AT}"}
		cases := []struct {
			name          string
			first, last   any
			after, before int // indexes into the whole list; -1: none
		}{
			{"first before", 3, nil, -1, 6},
			{"first after before", 10, nil, 1, 6},
			{"last after", nil, 2, 6, -1},
			{"last after before", nil, 2, 1, 6},
			{"after before, nothing between", 5, nil, 4, 5},
		}
		for _, conn := range connections {
			for _, order := range orders {
				query := fmt.Sprintf(conn.query, order)
				var whole json.RawMessage
				pgMust(t, e, w.c, query, map[string]any{"id": w.big, "first": 100}, &whole)
				all := pgPath(conn.path...)(whole)
				if len(all.Edges) != 10 {
					t.Fatalf("%s%s: got %d items, want 10", conn.name, order, len(all.Edges))
				}
				for _, tc := range cases {
					t.Run(conn.name+order+"/"+tc.name, func(t *testing.T) {
						vars := map[string]any{"id": w.big, "first": tc.first, "last": tc.last}
						lo, hi := 0, len(all.Edges)
						if tc.after >= 0 {
							vars["after"], lo = all.Edges[tc.after].Cursor, tc.after+1
						}
						if tc.before >= 0 {
							vars["before"], hi = all.Edges[tc.before].Cursor, tc.before
						}
						want := all.ids()[lo:hi]
						if n, ok := tc.first.(int); ok && n < len(want) {
							want = want[:n]
						}
						if n, ok := tc.last.(int); ok && n < len(want) {
							want = want[len(want)-n:]
						}
						var out json.RawMessage
						pgMust(t, e, w.c, query, vars, &out)
						if got := pgPath(conn.path...)(out).ids(); !slices.Equal(got, want) {
							t.Fatalf("got %v, want %v (the list: %v)", got, want, all.ids())
						}
					})
				}
			}
		}
	})
}
