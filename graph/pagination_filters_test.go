package graph_test

// Where filters on connections and the totalCount of a filtered set.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"tenantgraph/graph/graphtest"
)

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

// An empty list where it would mean "none" (xIn: [], or: []) is refused:
// entgql left it out of the query, so tasks(where: {projectIDIn: []}), what
// a UI sends with every project deselected, answered every task. Where an
// empty list means "all" (xNotIn: [], and: []), it is served as such.
func TestEmptyFilterLists(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		c := owner.Caller("acme")
		p := e.CreateProject(c, "Rocket")
		e.CreateTask(c, p, "Fuel")
		for _, where := range []string{`{projectIDIn: []}`, `{statusIn: []}`, `{idIn: []}`, `{or: []}`, `{and: [{or: []}]}`, `{hasProjectWith: {idIn: []}}`} {
			r := e.Do(c, `{ tasks(where: `+where+`) { totalCount } }`, nil)
			if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "must not be empty") {
				t.Errorf("where %s: got %s %+v, want BAD_USER_INPUT, must not be empty", where, r.Data, r.Errors)
			}
		}
		r := e.Do(c, `query($ids: [ID!]) { tasks(where: {projectIDIn: $ids}) { totalCount } }`, map[string]any{"ids": []string{}})
		if r.Code() != "BAD_USER_INPUT" {
			t.Errorf("an empty list in a variable: got %s %+v, want BAD_USER_INPUT", r.Data, r.Errors)
		}
		for _, where := range []string{`{statusNotIn: []}`, `{and: []}`} {
			var out struct{ Tasks struct{ TotalCount int } }
			pgMust(t, e, c, `{ tasks(where: `+where+`) { totalCount } }`, nil, &out)
			if out.Tasks.TotalCount != 1 {
				t.Errorf("where %s: got %d tasks, want every one (1)", where, out.Tasks.TotalCount)
			}
		}
	})
}

// A time written with an offset means the same instant as in UTC, in a
// filter as in a due date: on SQLite, which compares stored times as text,
// a bound kept at its offset compared hours off (dueDateGT at +05:00 found
// no task due after it).
func TestTimeFiltersWithAnOffset(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		c := owner.Caller("acme")
		p := e.CreateProject(c, "P")
		create := func(title, due string) {
			t.Helper()
			var out struct{ CreateTask struct{ DueDate string } }
			e.MustDo(c, `mutation($p: ID!, $t: String!, $d: Time) { createTask(input: {projectID: $p, title: $t, dueDate: $d}) { dueDate } }`,
				map[string]any{"p": p, "t": title, "d": due}, &out)
			if got, want := out.CreateTask.DueDate, map[string]string{"early": "2029-12-31T18:00:00Z", "late": "2029-12-31T21:00:00Z"}[title]; got != want {
				t.Fatalf("%s: dueDate got %s, want %s", title, got, want)
			}
		}
		create("early", "2029-12-31T13:00:00-05:00")
		create("late", "2030-01-01T02:00:00+05:00")

		// 19:00 UTC, between the two, written three ways.
		for _, bound := range []string{"2029-12-31T19:00:00Z", "2030-01-01T00:00:00+05:00", "2029-12-31T14:00:00-05:00"} {
			for _, tc := range []struct {
				filter string
				want   []string
			}{
				{"dueDateGT", []string{"late"}},
				{"dueDateLT", []string{"early"}},
				{"dueDateNEQ", []string{"early", "late"}},
			} {
				t.Run(tc.filter+" "+bound, func(t *testing.T) {
					var out struct {
						Tasks struct {
							Edges []struct{ Node struct{ Title string } }
						}
					}
					e.MustDo(c, fmt.Sprintf(`query($b: Time!) { tasks(first: 10, where: {%s: $b}, orderBy: {field: DUE_DATE, direction: ASC}) { edges { node { title } } } }`, tc.filter),
						map[string]any{"b": bound}, &out)
					var got []string
					for _, edge := range out.Tasks.Edges {
						got = append(got, edge.Node.Title)
					}
					if !slices.Equal(got, tc.want) {
						t.Errorf("got %v, want %v", got, tc.want)
					}
				})
			}
		}
		// The same instant as a due date, written another way, is found.
		var out struct{ Tasks struct{ TotalCount int } }
		e.MustDo(c, `query($b: Time!) { tasks(where: {dueDate: $b}) { totalCount } }`, map[string]any{"b": "2029-12-31T16:00:00-05:00"}, &out)
		if out.Tasks.TotalCount != 1 {
			t.Errorf("dueDate 16:00-05:00 (the late task's): got %d tasks, want 1", out.Tasks.TotalCount)
		}
	})
}

// pgFirst100 widens the page of a filter query from 1 to 100.
func pgFirst100(query string) string {
	return strings.ReplaceAll(query, "(first: 1, ", "(first: 100, ")
}
