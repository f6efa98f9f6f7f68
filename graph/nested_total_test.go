package graph_test

import (
	"fmt"
	"slices"
	"testing"

	"tenantgraph/graph/graphtest"
)

// A nested connection's totalCount comes with its page query when the page
// starts at the beginning (ent/template/total_in_page.tmpl), and from a
// separate count otherwise. Both paths must give the same numbers: the
// parent's children in the tenant, after the where filter, whatever the
// page's size, order, direction or cursor.
func TestNestedTotalCount(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "counts")
		c := owner.Caller("counts")
		// Three projects with 5, 0 and 2 tasks; titles "a…" and "b…" for the
		// filter. The first task of the first project has 3 comments.
		sizes := []int{5, 0, 2}
		var firstTask string
		for p, n := range sizes {
			pid := e.CreateProject(c, fmt.Sprintf("P%d", p))
			for k := 0; k < n; k++ {
				prefix := "a"
				if k%2 == 1 {
					prefix = "b"
				}
				id := e.CreateTask(c, pid, fmt.Sprintf("%s-%d-%d", prefix, p, k))
				if firstTask == "" {
					firstTask = id
				}
			}
		}
		for k := 0; k < 3; k++ {
			e.CreateComment(c, firstTask, fmt.Sprintf("comment %d", k))
		}
		// Another tenant's rows must never be counted.
		other := e.Register("Other")
		e.CreateTenant(other, "elsewhere")
		oc := other.Caller("elsewhere")
		opid := e.CreateProject(oc, "Theirs")
		for k := 0; k < 4; k++ {
			e.CreateComment(oc, e.CreateTask(oc, opid, fmt.Sprintf("a-theirs-%d", k)), "theirs")
		}

		type conn struct {
			TotalCount int
			PageInfo   struct{ HasNextPage, HasPreviousPage bool }
			Edges      []struct {
				Cursor string
				Node   struct {
					Title    string
					Comments struct {
						TotalCount int
						Edges      []struct{ Node struct{ Body string } }
					}
				}
			}
		}
		tasksOf := func(args string) []conn {
			t.Helper()
			var out struct {
				Projects struct {
					Edges []struct{ Node struct{ Tasks conn } }
				}
			}
			e.MustDo(c, `{ projects(first: 10) { edges { node { tasks(`+args+`) {
				totalCount pageInfo { hasNextPage hasPreviousPage }
				edges { cursor node { title comments(first: 2) { totalCount edges { node { body } } } } } } } } } }`, nil, &out)
			var got []conn
			for _, edge := range out.Projects.Edges {
				got = append(got, edge.Node.Tasks)
			}
			if len(got) != len(sizes) {
				t.Fatalf("tasks(%s): got %d projects, want %d", args, len(got), len(sizes))
			}
			return got
		}
		check := func(args string, wantTotals, wantEdges []int) []conn {
			t.Helper()
			got := tasksOf(args)
			for i := range got {
				if got[i].TotalCount != wantTotals[i] || len(got[i].Edges) != wantEdges[i] {
					t.Errorf("tasks(%s) of project %d: totalCount %d with %d edges, want %d with %d",
						args, i, got[i].TotalCount, len(got[i].Edges), wantTotals[i], wantEdges[i])
				}
			}
			return got
		}

		// The page's own count: first and last, any order, and a filter.
		got := check("first: 2", []int{5, 0, 2}, []int{2, 0, 2})
		if !got[0].PageInfo.HasNextPage || got[2].PageInfo.HasNextPage {
			t.Errorf("first: 2: hasNextPage %v and %v, want true and false", got[0].PageInfo.HasNextPage, got[2].PageInfo.HasNextPage)
		}
		if cm := got[0].Edges[0].Node.Comments; cm.TotalCount != 3 || len(cm.Edges) != 2 {
			t.Errorf("comments(first: 2) of the first task: totalCount %d with %d edges, want 3 with 2", cm.TotalCount, len(cm.Edges))
		}
		check("first: 10", []int{5, 0, 2}, []int{5, 0, 2})
		check("last: 1", []int{5, 0, 2}, []int{1, 0, 1})
		check("first: 3, orderBy: {field: CREATED_AT, direction: DESC}", []int{5, 0, 2}, []int{3, 0, 2})
		// The count and the per-parent limit are windows of the page query's
		// own SELECT; the order is applied, also by a field the query does not
		// select (CREATED_AT above, PRIORITY below: entgql adds the ordered
		// field to the selection).
		byTitle := check("first: 3, orderBy: {field: TITLE, direction: DESC}", []int{5, 0, 2}, []int{3, 0, 2})
		var titles []string
		for _, edge := range byTitle[0].Edges {
			titles = append(titles, edge.Node.Title)
		}
		if want := []string{"b-0-3", "b-0-1", "a-0-4"}; !slices.Equal(titles, want) {
			t.Errorf("tasks(first: 3, orderBy: TITLE DESC) of project 0: got %v, want %v", titles, want)
		}
		check("first: 2, orderBy: {field: PRIORITY, direction: ASC}", []int{5, 0, 2}, []int{2, 0, 2})
		check(`first: 1, where: {titleHasPrefix: "a"}`, []int{3, 0, 1}, []int{1, 0, 1})
		check(`first: 5, where: {titleHasPrefix: "b"}`, []int{2, 0, 1}, []int{2, 0, 1})

		// The separate count: no nodes asked for, and a cursor.
		var totals struct {
			Projects struct {
				Edges []struct {
					Node struct{ Tasks struct{ TotalCount int } }
				}
			}
		}
		e.MustDo(c, `{ projects(first: 10) { edges { node { tasks(first: 1) { totalCount } } } } }`, nil, &totals)
		for i, edge := range totals.Projects.Edges {
			if edge.Node.Tasks.TotalCount != sizes[i] {
				t.Errorf("tasks { totalCount } of project %d: got %d, want %d", i, edge.Node.Tasks.TotalCount, sizes[i])
			}
		}
		check("first: 0", []int{5, 0, 2}, []int{0, 0, 0})
		after := got[0].Edges[0].Cursor
		got = check(fmt.Sprintf("first: 2, after: %q", after), []int{5, 0, 2}, []int{2, 0, 2})
		if got[0].Edges[0].Node.Title != "b-0-1" {
			t.Errorf("after the first task: got %q first, want b-0-1", got[0].Edges[0].Node.Title)
		}
	})
}
