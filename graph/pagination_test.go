package graph_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"tenantgraph/graph/graphtest"
)

// pgConn is the part of any connection these tests read.
type pgConn struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	Edges []struct {
		Cursor string
		Node   pgNode
	}
}

type pgNode struct {
	ID, Name, Title, Priority, Status string
	CreatedAt, UpdatedAt              string
	DueDate                           *string
}

func (c pgConn) ids() []string {
	out := make([]string, len(c.Edges))
	for i, e := range c.Edges {
		out[i] = e.Node.ID
	}
	return out
}

const pgConnFields = `totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
	edges { cursor node { id } }`

// pgMust sends query and decodes its data into out, failing t (which may be
// a subtest) on any error.
func pgMust(t *testing.T, e *graphtest.Env, c graphtest.Caller, query string, vars map[string]any, out any) {
	t.Helper()
	r := e.Do(c, query, vars)
	if len(r.Errors) > 0 {
		t.Fatalf("%s\nunexpected errors: %+v", query, r.Errors)
	}
	if out != nil {
		r.Decode(t, out)
	}
}

// pgCreateTask creates a task with the given input fields (projectID and
// title included) and returns its ID.
func pgCreateTask(t *testing.T, e *graphtest.Env, c graphtest.Caller, input map[string]any) string {
	t.Helper()
	var out struct{ CreateTask struct{ ID string } }
	pgMust(t, e, c, `mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }`, map[string]any{"i": input}, &out)
	return out.CreateTask.ID
}

// pgWorld is one tenant with an owner, a member, n projects (P01…), and a
// project "Big" holding n tasks, the first of which holds n comments.
type pgWorld struct {
	owner, bob graphtest.User
	c          graphtest.Caller
	projects   []string // in creation order, "Big" last
	big        string
	tasks      []string
	comments   []string
}

func newPgWorld(t *testing.T, e *graphtest.Env, n int) *pgWorld {
	t.Helper()
	w := &pgWorld{owner: e.Register("Owner"), bob: e.Register("Bob")}
	e.CreateTenant(w.owner, "acme")
	e.AddMember(w.owner, "acme", w.bob, "MEMBER")
	w.c = w.owner.Caller("acme")
	for i := 1; i < n; i++ {
		w.projects = append(w.projects, e.CreateProject(w.c, fmt.Sprintf("P%02d", i)))
	}
	w.big = e.CreateProject(w.c, "Big")
	w.projects = append(w.projects, w.big)
	for i := 1; i <= n; i++ {
		w.tasks = append(w.tasks, e.CreateTask(w.c, w.big, fmt.Sprintf("T%02d", i)))
	}
	for i := 1; i <= n; i++ {
		w.comments = append(w.comments, e.CreateComment(w.c, w.tasks[0], fmt.Sprintf("C%02d", i)))
	}
	return w
}

// first/last outside 0..100 are refused before any resolver or SQL runs, on
// top-level and nested connections alike, literal or through variables.
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
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.Counter.Reset()
				r := e.Do(w.c, tt.query, tt.vars)
				ran := e.Counter.Count()
				if got := r.Code(); got != "BAD_USER_INPUT" {
					t.Fatalf("code: got %q (errors %+v, data %s), want BAD_USER_INPUT", got, r.Errors, r.Data)
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

// pgPath returns a function digging a connection out of data along keys
// (array indices as decimal strings).
func pgPath(keys ...string) func(json.RawMessage) pgConn {
	return func(data json.RawMessage) pgConn {
		var cur any
		if err := json.Unmarshal(data, &cur); err != nil {
			panic(err)
		}
		for _, k := range keys {
			switch v := cur.(type) {
			case map[string]any:
				cur = v[k]
			case []any:
				var i int
				fmt.Sscan(k, &i)
				if i >= len(v) {
					return pgConn{}
				}
				cur = v[i]
			default:
				return pgConn{}
			}
		}
		b, _ := json.Marshal(cur)
		var c pgConn
		_ = json.Unmarshal(b, &c)
		return c
	}
}

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

func pgReversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
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

// where filters narrow the connection, and totalCount counts the filtered
// set, not the page.
func TestConnectionFilters(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		bob := e.Register("Bob")
		e.CreateTenant(owner, "acme")
		bobMembership := e.AddMember(owner, "acme", bob, "MEMBER")
		c := owner.Caller("acme")

		var rockets, submitted, drafts []string
		for i := range 6 {
			name := fmt.Sprintf("Boat %d", i)
			if i%2 == 0 {
				name = fmt.Sprintf("Rocket %d", i)
			}
			id := e.CreateProject(c, name)
			if i%2 == 0 {
				rockets = append(rockets, id)
			}
			if i < 4 {
				e.Transition(c, id, "SUBMITTED")
				submitted = append(submitted, id)
			} else {
				drafts = append(drafts, id)
			}
		}
		p := rockets[0]
		var high, urgentOrHigh, bobs, done []string
		for i := range 8 {
			prio := []string{"LOW", "MEDIUM", "HIGH", "URGENT"}[i%4]
			in := map[string]any{"projectID": p, "title": fmt.Sprintf("T%d", i), "priority": prio}
			if i%3 == 0 {
				in["assigneeID"] = bob.ID
			}
			if i >= 5 {
				in["status"] = "DONE"
			}
			id := pgCreateTask(t, e, c, in)
			if prio == "HIGH" {
				high = append(high, id)
			}
			if prio == "HIGH" || prio == "URGENT" {
				urgentOrHigh = append(urgentOrHigh, id)
			}
			if i%3 == 0 {
				bobs = append(bobs, id)
			}
			if i >= 5 {
				done = append(done, id)
			}
		}

		tests := []struct {
			name  string
			query string
			vars  map[string]any
			path  []string
			want  []string
		}{
			{"projects by status", `{ projects(first: 1, where: {status: SUBMITTED}) { totalCount edges { node { id } } } }`, nil, []string{"projects"}, submitted},
			{"projects by nameContains", `{ projects(first: 1, where: {nameContains: "Rocket"}) { totalCount edges { node { id } } } }`, nil, []string{"projects"}, rockets},
			{"projects by status and name", `{ projects(first: 1, where: {status: SUBMITTED, nameContains: "Rocket"}) { totalCount edges { node { id } } } }`, nil, []string{"projects"}, []string{rockets[0], rockets[1]}},
			{"projects by statusIn", `{ projects(first: 1, where: {statusIn: [DRAFT]}) { totalCount edges { node { id } } } }`, nil, []string{"projects"}, drafts},
			{"tasks by priority", `{ tasks(first: 1, where: {priority: HIGH}) { totalCount edges { node { id } } } }`, nil, []string{"tasks"}, high},
			{"tasks by priorityGTE (urgency, not spelling)", `{ tasks(first: 1, where: {priorityGTE: HIGH}) { totalCount edges { node { id } } } }`, nil, []string{"tasks"}, urgentOrHigh},
			{"tasks by assigneeID", `query($a: ID!) { tasks(first: 1, where: {assigneeID: $a}) { totalCount edges { node { id } } } }`, map[string]any{"a": bob.ID}, []string{"tasks"}, bobs},
			{"tasks by status", `{ tasks(first: 1, where: {status: DONE}) { totalCount edges { node { id } } } }`, nil, []string{"tasks"}, done},
			{"Project.tasks by priority", `query($p: ID!) { node(id: $p) { ... on Project { tasks(first: 1, where: {priority: HIGH}) { totalCount edges { node { id } } } } } }`,
				map[string]any{"p": p}, []string{"node", "tasks"}, high},
			{"Project.tasks by assignee", `query($p: ID!, $a: ID!) { node(id: $p) { ... on Project { tasks(first: 1, where: {assigneeID: $a}) { totalCount edges { node { id } } } } } }`,
				map[string]any{"p": p, "a": bob.ID}, []string{"node", "tasks"}, bobs},
			{"members by role", `{ members(first: 1, where: {role: MEMBER}) { totalCount edges { node { id } } } }`, nil, []string{"members"}, []string{bobMembership}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.Do(c, tt.query, tt.vars)
				var data json.RawMessage
				r.Decode(t, &data)
				conn := pgPath(tt.path...)(data)
				if conn.TotalCount != len(tt.want) {
					t.Errorf("totalCount: got %d, want %d", conn.TotalCount, len(tt.want))
				}
				if len(conn.Edges) != 1 || !slices.Contains(tt.want, conn.Edges[0].Node.ID) {
					t.Errorf("page: got %v, want one of %v", conn.ids(), tt.want)
				}
				// The whole filtered set, to be sure it is exactly the expected one.
				all := e.Do(c, pgFirst100(tt.query), tt.vars)
				var allData json.RawMessage
				all.Decode(t, &allData)
				got := pgPath(tt.path...)(allData).ids()
				slices.Sort(got)
				want := slices.Clone(tt.want)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("filtered set: got %v, want %v", got, want)
				}
			})
		}
	})
}

// pgFirst100 widens the page of a filter query from 1 to 100.
func pgFirst100(query string) string {
	return strings.ReplaceAll(query, "(first: 1, ", "(first: 100, ")
}
