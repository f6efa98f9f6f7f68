package graph_test

// tenantStats: the current tenant's numbers, for its OWNER, from aggregate
// queries.

import (
	"fmt"
	"strings"
	"testing"

	"tenantgraph/graph/graphtest"
)

const statsQuery = `{ tenantStats {
	memberCount projectCount taskCount commentCount
	projectsByStatus { status count }
	tasksByStatus { status count } } }`

// statsOf returns c's tenantStats as one line, statuses in the order served.
func statsOf(t *testing.T, e *graphtest.Env, c graphtest.Caller) string {
	t.Helper()
	var out struct {
		TenantStats struct {
			MemberCount, ProjectCount, TaskCount, CommentCount int
			ProjectsByStatus, TasksByStatus                    []struct {
				Status string
				Count  int
			}
		}
	}
	isoMust(t, e, c, statsQuery, nil, &out)
	s := out.TenantStats
	var b strings.Builder
	fmt.Fprintf(&b, "members %d, projects %d, tasks %d, comments %d; projects:", s.MemberCount, s.ProjectCount, s.TaskCount, s.CommentCount)
	for _, p := range s.ProjectsByStatus {
		fmt.Fprintf(&b, " %s %d", p.Status, p.Count)
	}
	b.WriteString("; tasks:")
	for _, p := range s.TasksByStatus {
		fmt.Fprintf(&b, " %s %d", p.Status, p.Count)
	}
	return b.String()
}

// statsTask creates a task in a status.
func statsTask(t *testing.T, e *graphtest.Env, c graphtest.Caller, project, status string) string {
	t.Helper()
	var out struct{ CreateTask struct{ ID string } }
	isoMust(t, e, c, `mutation($p: ID!, $s: TaskStatus) { createTask(input: {projectID: $p, title: "t", status: $s}) { id } }`,
		map[string]any{"p": project, "s": status}, &out)
	return out.CreateTask.ID
}

func TestTenantStats(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, mgr, mem, vic, shared := e.Register("Owner"), e.Register("Manny"), e.Register("Mia"), e.Register("Vic"), e.Register("Shared")
		acmeID := e.CreateTenant(owner, "acme")
		e.AddMember(owner, "acme", mgr, "MANAGER")
		e.AddMember(owner, "acme", mem, "MEMBER")
		e.AddMember(owner, "acme", vic, "VIEWER")
		e.AddMember(owner, "acme", shared, "MEMBER")
		o, g := owner.Caller("acme"), mgr.Caller("acme")

		statuses := map[string][]string{ // a path to each status
			"DRAFT":     nil,
			"SUBMITTED": {"SUBMITTED"},
			"APPROVED":  {"SUBMITTED", "APPROVED"},
			"REJECTED":  {"SUBMITTED", "REJECTED"},
			"ACTIVE":    {"SUBMITTED", "APPROVED", "ACTIVE"},
			"COMPLETED": {"SUBMITTED", "APPROVED", "ACTIVE", "COMPLETED"},
		}
		projects := map[string]string{}
		for status, path := range statuses {
			projects[status] = e.CreateProject(g, "in "+status)
			for _, to := range path {
				e.Transition(g, projects[status], to)
			}
		}
		e.CreateProject(g, "second draft")
		archived := e.CreateProject(g, "to archive")
		// Tasks: TODO 3, IN_PROGRESS 2, DONE 1 (the archived project's task included).
		statsTask(t, e, g, projects["DRAFT"], "TODO")
		statsTask(t, e, g, projects["DRAFT"], "TODO")
		statsTask(t, e, g, projects["ACTIVE"], "IN_PROGRESS")
		statsTask(t, e, g, projects["ACTIVE"], "IN_PROGRESS")
		done := statsTask(t, e, g, projects["APPROVED"], "DONE")
		kept := statsTask(t, e, g, archived, "TODO")
		e.CreateComment(g, done, "one")
		e.CreateComment(o, done, "two")
		e.CreateComment(o, kept, "three")
		e.Transition(g, archived, "ARCHIVED")
		// Deleted rows are not counted.
		gone := e.CreateProject(g, "gone")
		goneTask := statsTask(t, e, g, gone, "DONE")
		e.CreateComment(g, goneTask, "gone")
		e.MustDo(g, `mutation($id: ID!) { deleteProject(id: $id) }`, map[string]any{"id": gone}, nil)
		removed := e.Register("Removed")
		e.MustDo(o, `mutation($id: ID!) { removeMember(id: $id) }`, map[string]any{"id": e.AddMember(owner, "acme", removed, "MEMBER")}, nil)

		// Another tenant, with a shared member and data of its own.
		other := e.Register("Other")
		e.CreateTenant(other, "other")
		e.AddMember(other, "other", shared, "MANAGER")
		oc := other.Caller("other")
		op := e.CreateProject(oc, "elsewhere")
		e.Transition(oc, op, "SUBMITTED")
		ot := statsTask(t, e, oc, op, "DONE")
		for i := 0; i < 3; i++ {
			e.CreateComment(oc, ot, "elsewhere")
		}

		want := "members 5, projects 8, tasks 6, comments 3; " +
			"projects: DRAFT 2 SUBMITTED 1 APPROVED 1 REJECTED 1 ACTIVE 1 COMPLETED 1 ARCHIVED 1; " +
			"tasks: TODO 3 IN_PROGRESS 2 DONE 1"
		if got := statsOf(t, e, o); got != want {
			t.Errorf("acme:\ngot  %s\nwant %s", got, want)
		}
		wantOther := "members 2, projects 1, tasks 1, comments 3; " +
			"projects: DRAFT 0 SUBMITTED 1 APPROVED 0 REJECTED 0 ACTIVE 0 COMPLETED 0 ARCHIVED 0; " +
			"tasks: TODO 0 IN_PROGRESS 0 DONE 1"
		if got := statsOf(t, e, oc); got != wantOther {
			t.Errorf("other:\ngot  %s\nwant %s", got, wantOther)
		}

		t.Run("OWNER only", func(t *testing.T) {
			for _, c := range []struct {
				name string
				as   graphtest.Caller
				want string
			}{
				{"MANAGER", g, "FORBIDDEN"},
				{"MEMBER", mem.Caller("acme"), "FORBIDDEN"},
				{"VIEWER", vic.Caller("acme"), "FORBIDDEN"},
				{"the other tenant's OWNER", other.Caller("acme"), "FORBIDDEN"},
				{"a removed member", removed.Caller("acme"), "FORBIDDEN"},
				{"anonymous", graphtest.Caller{TenantSlug: "acme"}, "UNAUTHENTICATED"},
				{"the other tenant's OWNER naming acme by ID", graphtest.Caller{Token: other.Token, TenantID: acmeID}, "FORBIDDEN"},
			} {
				r := e.Do(c.as, statsQuery, nil)
				if r.Code() != c.want || string(r.Data) != "null" {
					t.Errorf("%s: got %q %s, want %s and no data", c.name, r.Code(), r.Data, c.want)
				}
			}
		})
	})
}

// TestTenantStatsStatementsConstant: the numbers come from a fixed number of
// aggregate queries, however many rows there are.
func TestTenantStatsStatementsConstant(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		o := owner.Caller("acme")
		p := e.CreateProject(o, "Rocket")
		addTasks := func(n int) {
			for n > 0 {
				batch := min(n, 40)
				var q strings.Builder
				q.WriteString("mutation($p: ID!) {")
				for i := 0; i < batch; i++ {
					fmt.Fprintf(&q, " t%d: createTask(input: {projectID: $p, title: \"t%d\", status: %s}) { id }", i, i, []string{"TODO", "IN_PROGRESS", "DONE"}[i%3])
				}
				q.WriteString(" }")
				isoMust(t, e, o, q.String(), map[string]any{"p": p}, nil)
				n -= batch
			}
		}
		measure := func() (int64, string) {
			e.Counter.Reset()
			got := statsOf(t, e, o)
			return e.Counter.Count(), got
		}
		addTasks(5)
		small, smallStats := measure()
		addTasks(195)
		large, largeStats := measure()
		if !strings.Contains(smallStats, "tasks 5,") || !strings.Contains(largeStats, "tasks 200,") {
			t.Fatalf("stats: got %q then %q, want 5 then 200 tasks", smallStats, largeStats)
		}
		t.Logf("statements: %d with 5 tasks, %d with 200", small, large)
		if small != large {
			t.Errorf("statements: got %d with 5 tasks and %d with 200, want the same", small, large)
		}
		if small != 5 { // the session's role, then four aggregates
			t.Errorf("statements: got %d, want 5: the session's role and four aggregates", small)
		}
	})
}
