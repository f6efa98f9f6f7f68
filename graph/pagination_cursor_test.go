package graph_test

// Walking connections page by page with cursors, forwards and backwards.

import (
	"encoding/json"
	"slices"
	"testing"

	"tenantgraph/graph/graphtest"
)

// Walking a connection page by page, forwards with after or backwards with
// before, yields every item exactly once, in order.
func TestCursorWalk(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newPgWorld(t, e, 25)
		// "Big" sorts before "P01" in byte order.
		nameAsc := append([]string{w.big}, w.projects[:24]...)

		tests := []struct {
			name  string
			query string // takes $first/$last, $after/$before and $id
			path  []string
			want  []string
		}{
			{"projects", `query($first: Int, $after: Cursor, $last: Int, $before: Cursor) {
				projects(first: $first, after: $after, last: $last, before: $before) { ` + pgConnFields + ` } }`,
				[]string{"projects"}, w.projects},
			{"projects by NAME", `query($first: Int, $after: Cursor, $last: Int, $before: Cursor) {
				projects(first: $first, after: $after, last: $last, before: $before, orderBy: {field: NAME}) { ` + pgConnFields + ` } }`,
				[]string{"projects"}, nameAsc},
			{"projects by NAME DESC", `query($first: Int, $after: Cursor, $last: Int, $before: Cursor) {
				projects(first: $first, after: $after, last: $last, before: $before, orderBy: {field: NAME, direction: DESC}) { ` + pgConnFields + ` } }`,
				[]string{"projects"}, pgReversed(nameAsc)},
			{"tasks", `query($first: Int, $after: Cursor, $last: Int, $before: Cursor) {
				tasks(first: $first, after: $after, last: $last, before: $before) { ` + pgConnFields + ` } }`,
				[]string{"tasks"}, w.tasks},
			{"Project.tasks", `query($id: ID!, $first: Int, $after: Cursor, $last: Int, $before: Cursor) {
				node(id: $id) { ... on Project { tasks(first: $first, after: $after, last: $last, before: $before) { ` + pgConnFields + ` } } } }`,
				[]string{"node", "tasks"}, w.tasks},
			{"Task.comments", `query($id: ID!, $first: Int, $after: Cursor, $last: Int, $before: Cursor) {
				node(id: $id) { ... on Task { comments(first: $first, after: $after, last: $last, before: $before) { ` + pgConnFields + ` } } } }`,
				[]string{"node", "comments"}, w.comments},
		}
		for _, tt := range tests {
			id := w.big
			if tt.path[len(tt.path)-1] == "comments" {
				id = w.tasks[0]
			}
			t.Run(tt.name+"/forwards", func(t *testing.T) {
				got := pgWalk(t, e, w.c, tt.query, id, tt.path, true)
				if !slices.Equal(got, tt.want) {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			})
			t.Run(tt.name+"/backwards", func(t *testing.T) {
				got := pgWalk(t, e, w.c, tt.query, id, tt.path, false)
				if !slices.Equal(got, tt.want) {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			})
		}

		t.Run("last without before", func(t *testing.T) {
			var out struct{ Projects pgConn }
			pgMust(t, e, w.c, `{ projects(last: 5) { `+pgConnFields+` } }`, nil, &out)
			if got, want := out.Projects.ids(), w.projects[20:]; !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			if !out.Projects.PageInfo.HasPreviousPage {
				t.Errorf("hasPreviousPage: got false, want true")
			}
		})
	})
}

// pgWalk pages through the connection at path with pages of 7, forwards
// (first/after) or backwards (last/before), and returns the items in
// connection order.
func pgWalk(t *testing.T, e *graphtest.Env, c graphtest.Caller, query, id string, path []string, forwards bool) []string {
	t.Helper()
	const pageSize = 7
	var pages [][]string
	var cursor any
	seen := map[string]bool{}
	for i := 0; ; i++ {
		if i > 20 {
			t.Fatalf("more than 20 pages of %d: the walk does not end", pageSize)
		}
		vars := map[string]any{"id": id}
		if forwards {
			vars["first"], vars["after"] = pageSize, cursor
		} else {
			vars["last"], vars["before"] = pageSize, cursor
		}
		r := e.Do(c, query, vars)
		var data json.RawMessage
		r.Decode(t, &data)
		conn := pgPath(path...)(data)
		ids := conn.ids()
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("page %d repeats %s", i, id)
			}
			seen[id] = true
		}
		pages = append(pages, ids)
		more := conn.PageInfo.HasNextPage
		next := conn.PageInfo.EndCursor
		if !forwards {
			more, next = conn.PageInfo.HasPreviousPage, conn.PageInfo.StartCursor
		}
		if !more {
			break
		}
		if len(ids) != pageSize {
			t.Fatalf("page %d has %d items and claims more follow, want %d", i, len(ids), pageSize)
		}
		if next == nil {
			t.Fatalf("page %d claims more follow but has no cursor", i)
		}
		cursor = *next
	}
	if !forwards {
		slices.Reverse(pages)
	}
	var out []string
	for _, p := range pages {
		out = append(out, p...)
	}
	return out
}
