package graph_test

// The project workflow: its table, every transition, available transitions.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/role"
	"tenantgraph/internal/workflow"
)

// wfTable is the workflow table as issue 2 states it, in its order. The API
// tests derive every expectation from it.
var wfTable = []struct{ From, To, MinRole string }{
	{"DRAFT", "SUBMITTED", "MEMBER"},
	{"SUBMITTED", "DRAFT", "MEMBER"},
	{"SUBMITTED", "APPROVED", "MANAGER"},
	{"SUBMITTED", "REJECTED", "MANAGER"},
	{"REJECTED", "DRAFT", "MEMBER"},
	{"APPROVED", "ACTIVE", "MANAGER"},
	{"ACTIVE", "COMPLETED", "MANAGER"},
	{"DRAFT", "ARCHIVED", "MANAGER"},
	{"REJECTED", "ARCHIVED", "MANAGER"},
	{"COMPLETED", "ARCHIVED", "MANAGER"},
	{"ARCHIVED", "DRAFT", "OWNER"},
}

var (
	wfStatuses = []string{"DRAFT", "SUBMITTED", "APPROVED", "REJECTED", "ACTIVE", "COMPLETED", "ARCHIVED"}
	wfRoles    = []string{"OWNER", "MANAGER", "MEMBER", "VIEWER"}
	wfRank     = map[string]int{"VIEWER": 1, "MEMBER": 2, "MANAGER": 3, "OWNER": 4}
)

// wfWant is the code transitionProject must answer ("" for success).
func wfWant(from, to, r string) string {
	if wfRank[r] < wfRank["MEMBER"] { // below the least role of any row
		return forbidden
	}
	for _, row := range wfTable {
		if row.From == from && row.To == to {
			if wfRank[r] < wfRank[row.MinRole] {
				return forbidden
			}
			return allowed
		}
	}
	return "INVALID_TRANSITION"
}

// wfAvailable is what availableTransitions must list, in table order.
func wfAvailable(from, r string) []string {
	out := []string{}
	for _, row := range wfTable {
		if row.From == from && wfRank[r] >= wfRank[row.MinRole] {
			out = append(out, row.To)
		}
	}
	return out
}

// wfPaths returns, for every status, the shortest sequence of moves from
// DRAFT that reaches it (an OWNER may take every row).
func wfPaths(t *testing.T) map[string][]string {
	t.Helper()
	paths := map[string][]string{"DRAFT": {}}
	for queue := []string{"DRAFT"}; len(queue) > 0; queue = queue[1:] {
		for _, row := range wfTable {
			if _, seen := paths[row.To]; row.From == queue[0] && !seen {
				paths[row.To] = append(slices.Clone(paths[queue[0]]), row.To)
				queue = append(queue, row.To)
			}
		}
	}
	if len(paths) != len(wfStatuses) {
		t.Fatalf("got %d statuses reachable from DRAFT, want %d", len(paths), len(wfStatuses))
	}
	return paths
}

// wfBatchSize bounds the root fields of one batched operation.
const wfBatchSize = 25

// wfBatch runs the root fields of one operation kind ("mutation" or "query")
// in batches of aliased fields and returns each field's result in order. A
// batched mutation is one transaction: it fails as a whole.
func wfBatch(t *testing.T, e *graphtest.Env, c graphtest.Caller, kind string, fields []string) []json.RawMessage {
	t.Helper()
	out := make([]json.RawMessage, 0, len(fields))
	for start := 0; start < len(fields); start += wfBatchSize {
		chunk := fields[start:min(start+wfBatchSize, len(fields))]
		var q strings.Builder
		q.WriteString(kind + " {")
		for i, f := range chunk {
			fmt.Fprintf(&q, "\n f%d: %s", i, f)
		}
		q.WriteString("\n}")
		var data map[string]json.RawMessage
		e.MustDo(c, q.String(), nil, &data)
		for i := range chunk {
			out = append(out, data[fmt.Sprintf("f%d", i)])
		}
	}
	return out
}

// wfProjectsIn creates one project per entry of statuses and drives each to
// its status through the table as c (an OWNER), in a few batched requests.
func wfProjectsIn(t *testing.T, e *graphtest.Env, c graphtest.Caller, statuses []string) []string {
	t.Helper()
	creates := make([]string, len(statuses))
	for i := range statuses {
		creates[i] = fmt.Sprintf(`createProject(input: {name: "Project %d"}) { id }`, i)
	}
	ids := make([]string, len(statuses))
	for i, raw := range wfBatch(t, e, c, "mutation", creates) {
		var p struct{ ID string }
		if err := json.Unmarshal(raw, &p); err != nil || p.ID == "" {
			t.Fatalf("createProject %d: got %s (%v)", i, raw, err)
		}
		ids[i] = p.ID
	}
	paths := wfPaths(t)
	for step := 0; ; step++ {
		var moves []string
		for i, id := range ids {
			if path := paths[statuses[i]]; step < len(path) {
				moves = append(moves, fmt.Sprintf(`transitionProject(id: %q, to: %s) { id }`, id, path[step]))
			}
		}
		if len(moves) == 0 {
			break
		}
		wfBatch(t, e, c, "mutation", moves)
	}
	if got := wfStatusesOf(t, e, c, ids); !slices.Equal(got, statuses) {
		t.Fatalf("setup: got statuses %v, want %v", got, statuses)
	}
	return ids
}

// wfStatusesOf reads the statuses of projects by ID, in order.
func wfStatusesOf(t *testing.T, e *graphtest.Env, c graphtest.Caller, ids []string) []string {
	t.Helper()
	fields := make([]string, len(ids))
	for i, id := range ids {
		fields[i] = fmt.Sprintf(`node(id: %q) { ... on Project { status } }`, id)
	}
	out := make([]string, len(ids))
	for i, raw := range wfBatch(t, e, c, "query", fields) {
		var p *struct{ Status string }
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("decoding %s: %v", raw, err)
		}
		if p != nil {
			out[i] = p.Status
		}
	}
	return out
}

const wfTransition = `mutation($id: ID!, $to: ProjectStatus!) { transitionProject(id: $id, to: $to) { id status } }`

// TestTransitionEveryPairEveryRole takes every (from, to) pair of the seven
// statuses as every role, each on a project of its own in status from: a
// pair not in the table is INVALID_TRANSITION, a role below the row's (or
// below MEMBER) FORBIDDEN, and otherwise the project moves; a refused
// transition leaves the status as it was.
func TestTransitionEveryPairEveryRole(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		tm := newPermTeam(t, e, "wf")
		type transitionCase struct{ from, to, role, project string }
		var cases []transitionCase
		var froms []string
		for _, from := range wfStatuses {
			for _, to := range wfStatuses {
				for _, r := range wfRoles {
					cases = append(cases, transitionCase{from: from, to: to, role: r})
					froms = append(froms, from)
				}
			}
		}
		owner := tm.caller("OWNER")
		for i, id := range wfProjectsIn(t, e, owner, froms) {
			cases[i].project = id
		}

		wantStatuses := make([]string, len(cases))
		for i, c := range cases {
			want := wfWant(c.from, c.to, c.role)
			wantStatuses[i] = c.from
			if want == allowed {
				wantStatuses[i] = c.to
			}
			t.Run(c.from+"->"+c.to+"/"+c.role, func(t *testing.T) {
				r := envFor(t, e).Do(tm.caller(c.role), wfTransition, map[string]any{"id": c.project, "to": c.to})
				if got := r.Code(); got != want {
					t.Fatalf("got code %q (%+v), want %q", got, r.Errors, want)
				}
				if want != allowed {
					if got := field(t, r, "transitionProject"); got != "" && got != "null" {
						t.Errorf("a refused transition returned %s, want null", got)
					}
					return
				}
				var out struct{ TransitionProject struct{ ID, Status string } }
				r.Decode(t, &out)
				if out.TransitionProject.ID != c.project || out.TransitionProject.Status != c.to {
					t.Errorf("got %+v, want project %s in %s", out.TransitionProject, c.project, c.to)
				}
			})
		}

		ids := make([]string, len(cases))
		for i, c := range cases {
			ids[i] = c.project
		}
		got := wfStatusesOf(t, e, owner, ids)
		for i, c := range cases {
			if got[i] != wantStatuses[i] {
				t.Errorf("%s->%s as %s: status afterwards got %s, want %s", c.from, c.to, c.role, got[i], wantStatuses[i])
			}
		}
	})
}

// TestProjectWorkflowQuery: projectWorkflow is the table, row for
// row, for anyone (it is public).
func TestProjectWorkflowQuery(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		tm := newPermTeam(t, e, "table")
		callers := map[string]graphtest.Caller{"anonymous, default tenant": {}}
		for _, who := range permCallers {
			callers[who] = tm.caller(who)
		}
		for name, c := range callers {
			t.Run(name, func(t *testing.T) {
				var out struct {
					ProjectWorkflow []struct{ From, To, MinRole string }
				}
				envFor(t, e).MustDo(c, `{ projectWorkflow { from to minRole } }`, nil, &out)
				if !slices.Equal(out.ProjectWorkflow, wfTable) {
					t.Errorf("got %v, want %v", out.ProjectWorkflow, wfTable)
				}
			})
		}
	})
}

// TestAvailableTransitions: for a project in every status, each role sees
// exactly the moves workflow.Available allows it, which are the issue
// table's, in table order.
func TestAvailableTransitions(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		tm := newPermTeam(t, e, "avail")
		ids := wfProjectsIn(t, e, tm.caller("OWNER"), wfStatuses)
		for _, r := range wfRoles {
			t.Run(r, func(t *testing.T) {
				e := envFor(t, e)
				fields := make([]string, len(ids))
				for i, id := range ids {
					fields[i] = fmt.Sprintf(`node(id: %q) { ... on Project { status availableTransitions } }`, id)
				}
				for i, raw := range wfBatch(t, e, tm.caller(r), "query", fields) {
					var p struct {
						Status               string
						AvailableTransitions []string
					}
					if err := json.Unmarshal(raw, &p); err != nil {
						t.Fatalf("decoding %s: %v", raw, err)
					}
					if p.Status != wfStatuses[i] {
						t.Fatalf("got status %s, want %s", p.Status, wfStatuses[i])
					}
					want := wfAvailable(p.Status, r)
					if p.AvailableTransitions == nil || !slices.Equal(p.AvailableTransitions, want) {
						t.Errorf("%s: got %v, want %v", p.Status, p.AvailableTransitions, want)
					}
					var fromPackage []string
					for _, s := range workflow.Available(workflow.Status(p.Status), role.Role(r)) {
						fromPackage = append(fromPackage, string(s))
					}
					if !slices.Equal(p.AvailableTransitions, fromPackage) {
						t.Errorf("%s: got %v, workflow.Available says %v", p.Status, p.AvailableTransitions, fromPackage)
					}
				}
			})
		}
	})
}
