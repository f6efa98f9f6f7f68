package graph_test

// The world and helpers shared by the pagination, ordering and filter tests.

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

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

func pgReversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}
