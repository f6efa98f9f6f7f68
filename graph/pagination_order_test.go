package graph_test

// Ordering of projects and tasks, and paging through orderings with ties.

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"tenantgraph/graph/graphtest"
)

func TestProjectOrder(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		c := owner.Caller("acme")
		ids := map[string]string{}
		for _, name := range []string{"delta", "alpha", "echo", "charlie", "bravo"} {
			ids[name] = e.CreateProject(c, name)
		}
		for _, name := range []string{"echo", "alpha"} {
			pgMust(t, e, c, `mutation($id: ID!, $n: String) { updateProject(id: $id, input: {name: $n}) { id } }`,
				map[string]any{"id": ids[name], "n": name}, nil)
		}

		tests := []struct {
			field string
			asc   []string
		}{
			{"CREATED_AT", []string{"delta", "alpha", "echo", "charlie", "bravo"}},
			{"UPDATED_AT", []string{"delta", "charlie", "bravo", "echo", "alpha"}},
			{"NAME", []string{"alpha", "bravo", "charlie", "delta", "echo"}},
		}
		for _, tt := range tests {
			for _, dir := range []string{"ASC", "DESC"} {
				t.Run(tt.field+"/"+dir, func(t *testing.T) {
					want := tt.asc
					if dir == "DESC" {
						want = pgReversed(want)
					}
					var out struct{ Projects pgConn }
					pgMust(t, e, c, `query($f: ProjectOrderField!, $d: OrderDirection!) {
						projects(orderBy: {field: $f, direction: $d}) { edges { node { id name createdAt updatedAt } } } }`,
						map[string]any{"f": tt.field, "d": dir}, &out)
					var got []string
					for _, edge := range out.Projects.Edges {
						got = append(got, edge.Node.Name)
					}
					if !slices.Equal(got, want) {
						t.Fatalf("got %v, want %v", got, want)
					}
				})
			}
		}
	})
}

func TestTaskOrder(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		c := owner.Caller("acme")
		p := e.CreateProject(c, "Rocket")
		tasks := []struct{ title, priority, due string }{
			{"delta", "HIGH", "2030-03-01T00:00:00Z"},
			{"alpha", "LOW", "2030-05-01T00:00:00Z"},
			{"echo", "URGENT", "2030-01-15T00:00:00Z"},
			{"charlie", "MEDIUM", "2030-02-01T09:30:00Z"},
		}
		ids := map[string]string{}
		for _, tk := range tasks {
			ids[tk.title] = pgCreateTask(t, e, c, map[string]any{"projectID": p, "title": tk.title, "priority": tk.priority, "dueDate": tk.due})
		}
		pgMust(t, e, c, `mutation($id: ID!) { updateTask(id: $id, input: {status: DONE}) { id } }`, map[string]any{"id": ids["alpha"]}, nil)

		tests := []struct {
			field string
			asc   []string
		}{
			{"CREATED_AT", []string{"delta", "alpha", "echo", "charlie"}},
			{"UPDATED_AT", []string{"delta", "echo", "charlie", "alpha"}},
			{"TITLE", []string{"alpha", "charlie", "delta", "echo"}},
			// By urgency, not alphabetically (HIGH, LOW, MEDIUM, URGENT).
			{"PRIORITY", []string{"alpha", "charlie", "delta", "echo"}},
			{"DUE_DATE", []string{"echo", "charlie", "delta", "alpha"}},
		}
		queries := []struct{ name, query string }{
			{"tasks", `query($f: TaskOrderField!, $d: OrderDirection!, $p: ID!) {
				tasks(orderBy: {field: $f, direction: $d}) { edges { node { id title priority } } }
				x: node(id: $p) { id } }`},
			{"Project.tasks", `query($f: TaskOrderField!, $d: OrderDirection!, $p: ID!) {
				x: node(id: $p) { ... on Project { tasks(orderBy: {field: $f, direction: $d}) { edges { node { id title priority } } } } } }`},
		}
		for _, q := range queries {
			for _, tt := range tests {
				for _, dir := range []string{"ASC", "DESC"} {
					t.Run(q.name+"/"+tt.field+"/"+dir, func(t *testing.T) {
						want := tt.asc
						if dir == "DESC" {
							want = pgReversed(want)
						}
						var out struct {
							Tasks pgConn
							X     struct{ Tasks pgConn }
						}
						pgMust(t, e, c, q.query, map[string]any{"f": tt.field, "d": dir, "p": p}, &out)
						conn := out.Tasks
						if q.name == "Project.tasks" {
							conn = out.X.Tasks
						}
						var got []string
						for _, edge := range conn.Edges {
							got = append(got, edge.Node.Title)
						}
						if !slices.Equal(got, want) {
							t.Fatalf("got %v, want %v", got, want)
						}
					})
				}
			}
		}
	})
}

// Paging through an ordering with many ties (priority, due date) yields
// every task exactly once, in order.
func TestTaskOrderWalkWithTies(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		c, all := pgTasksForWalk(t, e, false)
		for _, field := range []string{"PRIORITY", "DUE_DATE"} {
			for _, dir := range []string{"ASC", "DESC"} {
				t.Run(field+"/"+dir, func(t *testing.T) {
					pgCheckOrderedWalk(t, field, dir, pgWalkTasks(t, e, c, field, dir), all)
				})
			}
		}
	})
}

// Tasks without a due date take part in DUE_DATE paging like any other:
// walking the pages yields every task exactly once.
func TestTaskDueDateWalkIncludesTasksWithoutDueDate(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		c, all := pgTasksForWalk(t, e, true)
		for _, dir := range []string{"ASC", "DESC"} {
			t.Run(dir, func(t *testing.T) {
				pgCheckOrderedWalk(t, "DUE_DATE", dir, pgWalkTasks(t, e, c, "DUE_DATE", dir), all)
			})
		}
	})
}

// pgTasksForWalk creates 17 tasks with cycling priorities and due dates
// (many ties; every third task undated when someUndated) and returns the
// caller and the sorted task IDs.
func pgTasksForWalk(t *testing.T, e *graphtest.Env, someUndated bool) (graphtest.Caller, []string) {
	t.Helper()
	owner := e.Register("Owner")
	e.CreateTenant(owner, "acme")
	c := owner.Caller("acme")
	p := e.CreateProject(c, "Rocket")
	priorities := []string{"URGENT", "LOW", "HIGH", "MEDIUM"}
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var all []string
	for i := range 17 {
		in := map[string]any{"projectID": p, "title": fmt.Sprintf("T%02d", i), "priority": priorities[i%4]}
		if !someUndated || i%3 != 0 {
			in["dueDate"] = base.AddDate(0, 0, (i*7)%5).Format(time.RFC3339)
		}
		all = append(all, pgCreateTask(t, e, c, in))
	}
	slices.Sort(all)
	return c, all
}

// pgWalkTasks pages through tasks ordered by field with pages of 4.
func pgWalkTasks(t *testing.T, e *graphtest.Env, c graphtest.Caller, field, dir string) []pgNode {
	t.Helper()
	var nodes []pgNode
	var after any
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("the walk does not end")
		}
		var out struct{ Tasks pgConn }
		pgMust(t, e, c, `query($f: TaskOrderField!, $d: OrderDirection!, $after: Cursor) {
			tasks(first: 4, after: $after, orderBy: {field: $f, direction: $d}) {
				pageInfo { hasNextPage endCursor } edges { node { id title priority dueDate } } } }`,
			map[string]any{"f": field, "d": dir, "after": after}, &out)
		for _, edge := range out.Tasks.Edges {
			nodes = append(nodes, edge.Node)
		}
		if !out.Tasks.PageInfo.HasNextPage {
			return nodes
		}
		after = *out.Tasks.PageInfo.EndCursor
	}
}

// pgCheckOrderedWalk fails unless nodes are exactly the tasks all, each
// once, in field order (unset due dates may sort first or last).
func pgCheckOrderedWalk(t *testing.T, field, dir string, nodes []pgNode, all []string) {
	t.Helper()
	rank := map[string]int{"LOW": 0, "MEDIUM": 1, "HIGH": 2, "URGENT": 3}
	var got []string
	for _, n := range nodes {
		got = append(got, n.ID)
	}
	slices.Sort(got)
	if !slices.Equal(got, all) {
		var walked []string
		for _, n := range nodes {
			due := "unset"
			if n.DueDate != nil {
				due = *n.DueDate
			}
			walked = append(walked, n.Title+"@"+due)
		}
		t.Fatalf("got %d tasks, want each of the %d exactly once; walked %v", len(nodes), len(all), walked)
	}
	for i := 1; i < len(nodes); i++ {
		a, b := nodes[i-1], nodes[i]
		var cmp int
		if field == "PRIORITY" {
			cmp = rank[a.Priority] - rank[b.Priority]
		} else {
			if a.DueDate == nil || b.DueDate == nil {
				continue
			}
			cmp = compareStrings(*a.DueDate, *b.DueDate)
		}
		if dir == "DESC" {
			cmp = -cmp
		}
		if cmp > 0 {
			t.Fatalf("items %d and %d out of %s %s order: %+v then %+v", i-1, i, field, dir, a, b)
		}
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
