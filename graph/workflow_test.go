package graph_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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

// TestNewProjectStartsInDraft: whoever creates it, a project starts in DRAFT,
// and createProject has no way to say otherwise.
func TestNewProjectStartsInDraft(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		tm := newPermTeam(t, e, "fresh")
		for _, r := range []string{"OWNER", "MANAGER", "MEMBER"} {
			t.Run(r, func(t *testing.T) {
				var out struct{ CreateProject struct{ Status string } }
				envFor(t, e).MustDo(tm.caller(r), `mutation($i: CreateProjectInput!) { createProject(input: $i) { status } }`,
					map[string]any{"i": map[string]any{"name": "New", "description": "fresh"}}, &out)
				if out.CreateProject.Status != "DRAFT" {
					t.Errorf("got %s, want DRAFT", out.CreateProject.Status)
				}
			})
		}
		t.Run("status in the input", func(t *testing.T) {
			e := envFor(t, e)
			r := e.Do(tm.caller("OWNER"), `mutation { createProject(input: {name: "Sneaky", status: ACTIVE}) { id } }`, nil)
			if got := r.Code(); got != "GRAPHQL_VALIDATION_FAILED" {
				t.Errorf("got %q (%+v), want GRAPHQL_VALIDATION_FAILED", got, r.Errors)
			}
			var out struct{ Projects struct{ TotalCount int } }
			e.MustDo(tm.caller("OWNER"), `{ projects(where: {status: ACTIVE}) { totalCount } }`, nil, &out)
			if out.Projects.TotalCount != 0 {
				t.Errorf("got %d ACTIVE projects, want 0", out.Projects.TotalCount)
			}
		})
	})
}

// TestUpdateProjectCannotChangeStatus: UpdateProjectInput has no status, so
// asking for one fails validation (inline or in variables) and changes
// nothing; a valid update leaves the status alone.
func TestUpdateProjectCannotChangeStatus(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		tm := newPermTeam(t, e, "nostatus")
		owner := tm.caller("OWNER")
		p := e.CreateProject(owner, "Original")
		e.Transition(owner, p, "SUBMITTED")
		tries := []struct {
			name, query string
			vars        map[string]any
		}{
			{"inline", fmt.Sprintf(`mutation { updateProject(id: %q, input: {name: "Changed", status: ARCHIVED}) { id } }`, p), nil},
			{"variables", `mutation($id: ID!, $i: UpdateProjectInput!) { updateProject(id: $id, input: $i) { id } }`,
				map[string]any{"id": p, "i": map[string]any{"name": "Changed", "status": "APPROVED"}}},
		}
		for _, try := range tries {
			t.Run(try.name, func(t *testing.T) {
				r := envFor(t, e).Do(owner, try.query, try.vars)
				if got := r.Code(); got != "GRAPHQL_VALIDATION_FAILED" {
					t.Errorf("got %q (%+v), want GRAPHQL_VALIDATION_FAILED", got, r.Errors)
				}
			})
		}
		var out struct{ Node struct{ Name, Status string } }
		e.MustDo(owner, `query($id: ID!) { node(id: $id) { ... on Project { name status } } }`, map[string]any{"id": p}, &out)
		if out.Node.Name != "Original" || out.Node.Status != "SUBMITTED" {
			t.Errorf("after the refused updates: got %+v, want name Original, status SUBMITTED", out.Node)
		}
		var upd struct{ UpdateProject struct{ Name, Status string } }
		e.MustDo(owner, `mutation($id: ID!) { updateProject(id: $id, input: {name: "Renamed"}) { name status } }`, map[string]any{"id": p}, &upd)
		if upd.UpdateProject.Name != "Renamed" || upd.UpdateProject.Status != "SUBMITTED" {
			t.Errorf("after a valid update: got %+v, want name Renamed, status SUBMITTED", upd.UpdateProject)
		}
	})
}

// TestArchivedProjectIsReadOnly: every change to an ARCHIVED project, its
// tasks or their comments is CONFLICT, even for the OWNER who wrote them all,
// and writes nothing; deleting the project stays MANAGER and up.
func TestArchivedProjectIsReadOnly(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		tm := newPermTeam(t, e, "archive")
		owner := tm.caller("OWNER")
		p := e.CreateProject(owner, "Old")
		task := e.CreateTask(owner, p, "Old task")
		comment := e.CreateComment(owner, task, "Old comment")
		e.Transition(owner, p, "ARCHIVED")
		before := tm.snapshot(t, e)

		writes := []struct {
			name, query string
			vars        map[string]any
		}{
			{"updateProject", `mutation($id: ID!) { updateProject(id: $id, input: {name: "New"}) { id } }`, map[string]any{"id": p}},
			{"updateProject description only", `mutation($id: ID!) { updateProject(id: $id, input: {description: null}) { id } }`, map[string]any{"id": p}},
			{"createTask", `mutation($p: ID!) { createTask(input: {projectID: $p, title: "New"}) { id } }`, map[string]any{"p": p}},
			{"updateTask", `mutation($id: ID!) { updateTask(id: $id, input: {status: DONE}) { id } }`, map[string]any{"id": task}},
			{"deleteTask", `mutation($id: ID!) { deleteTask(id: $id) }`, map[string]any{"id": task}},
			{"createComment", `mutation($t: ID!) { createComment(input: {taskID: $t, body: "New"}) { id } }`, map[string]any{"t": task}},
			{"updateComment", `mutation($id: ID!) { updateComment(id: $id, input: {body: "New"}) { id } }`, map[string]any{"id": comment}},
			{"deleteComment", `mutation($id: ID!) { deleteComment(id: $id) }`, map[string]any{"id": comment}},
		}
		for _, w := range writes {
			t.Run(w.name, func(t *testing.T) {
				e := envFor(t, e)
				r := e.Do(owner, w.query, w.vars)
				if got := r.Code(); got != "CONFLICT" {
					t.Errorf("got %q (%+v), want CONFLICT", got, r.Errors)
				}
				if after := tm.snapshot(t, e); after != before {
					t.Errorf("a refused %s wrote:\nbefore %s\nafter  %s", w.name, before, after)
				}
			})
		}

		t.Run("deleteProject", func(t *testing.T) {
			e := envFor(t, e)
			if got := e.Do(tm.caller("MEMBER"), `mutation($id: ID!) { deleteProject(id: $id) }`, map[string]any{"id": p}).Code(); got != forbidden {
				t.Errorf("MEMBER: got %q, want %q", got, forbidden)
			}
			e.MustDo(tm.caller("MANAGER"), `mutation($id: ID!) { deleteProject(id: $id) }`, map[string]any{"id": p}, nil)
			var out struct{ Nodes []*struct{ ID string } }
			e.MustDo(owner, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{p, task, comment}}, &out)
			for i, n := range out.Nodes {
				if n != nil {
					t.Errorf("node %d after deleteProject: got %s, want null", i, n.ID)
				}
			}
		})
	})
}

// TestConcurrentTransitions: racers move one project from the same status at
// the same moment. Exactly one wins; every other gets CONFLICT or
// INVALID_TRANSITION; the project ends in the winner's status. Each race is
// repeated on fresh projects, free and with writes held (see holdWrites):
// held, on PostgreSQL every racer has read the old status and passed the
// table check before any can write, so the losers must all get CONFLICT from
// the conditional update (SQLite serialises whole transactions, so there a
// loser reads the new status and gets INVALID_TRANSITION).
func TestConcurrentTransitions(t *testing.T) {
	const (
		racers = 8
		rounds = 4
	)
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		tm := newPermTeam(t, e, "race")
		races := []struct {
			name, from, as string
			to             func(i int) string
		}{
			{"DRAFT to SUBMITTED", "DRAFT", "MEMBER", func(int) string { return "SUBMITTED" }},
			{"SUBMITTED to APPROVED or REJECTED", "SUBMITTED", "MANAGER", func(i int) string { return []string{"APPROVED", "REJECTED"}[i%2] }},
			{"DRAFT to SUBMITTED or ARCHIVED", "DRAFT", "OWNER", func(i int) string { return []string{"SUBMITTED", "ARCHIVED"}[i%2] }},
		}
		for _, race := range races {
			for _, held := range []bool{false, true} {
				name, losing := race.name+"/free", []string{"CONFLICT", "INVALID_TRANSITION"}
				if held {
					name = race.name + "/held"
					if e.Dialect == "postgres" {
						losing = []string{"CONFLICT"}
					}
				}
				t.Run(name, func(t *testing.T) {
					e := envFor(t, e)
					from := make([]string, rounds)
					for i := range from {
						from[i] = race.from
					}
					projects := wfProjectsIn(t, e, tm.caller("OWNER"), from)
					losers := map[string]int{}
					for round, p := range projects {
						type result struct{ to, code, status string }
						results := make([]result, racers)
						release := func() {}
						if held {
							release = holdWrites(t, e, "projects")
						}
						var wg sync.WaitGroup
						start := make(chan struct{})
						for i := range racers {
							wg.Add(1)
							go func() {
								defer wg.Done()
								<-start
								to := race.to(i)
								r := e.Do(tm.caller(race.as), wfTransition, map[string]any{"id": p, "to": to})
								res := result{to: to, code: r.Code()}
								if res.code == allowed {
									var out struct{ TransitionProject struct{ Status string } }
									if err := json.Unmarshal(r.Data, &out); err == nil {
										res.status = out.TransitionProject.Status
									}
								}
								results[i] = res
							}()
						}
						close(start)
						if held {
							awaitLockWaiters(t, e, racers)
							release()
						}
						wg.Wait()

						var winner *result
						for i, res := range results {
							switch {
							case res.code == allowed:
								if winner != nil {
									t.Errorf("round %d: two winners: %+v and %+v", round, *winner, res)
								}
								winner = &results[i]
							case slices.Contains(losing, res.code):
								losers[res.code]++
							default:
								t.Errorf("round %d: racer %d got %q, want success or one of %v", round, i, res.code, losing)
							}
						}
						if winner == nil {
							t.Errorf("round %d: no racer won: %+v", round, results)
							continue
						}
						if winner.status != winner.to {
							t.Errorf("round %d: winner's response status got %q, want %q", round, winner.status, winner.to)
						}
						if got := wfStatusesOf(t, e, tm.caller("OWNER"), []string{p})[0]; got != winner.to {
							t.Errorf("round %d: final status got %s, want the winner's %s", round, got, winner.to)
						}
					}
					t.Logf("losers' codes over %d rounds: %v", rounds, losers)
				})
			}
		}
	})
}

// holdWrites blocks writes to table from other connections until release is
// called, while reads go on: on SQLite a write transaction (which locks the
// whole database), on PostgreSQL LOCK TABLE … IN EXCLUSIVE MODE. Requests
// sent meanwhile resolve their session and read, then wait at their first
// write, so a race between them is no longer decided by who started first.
func holdWrites(t *testing.T, e *graphtest.Env, table string) (release func()) {
	t.Helper()
	ctx := t.Context()
	tx, err := e.DB.SQL.BeginTx(ctx, nil) // BEGIN IMMEDIATE on SQLite (see database.SQLiteDSN)
	if err != nil {
		t.Fatalf("holding writes: %v", err)
	}
	if e.Dialect == "postgres" {
		if _, err := tx.ExecContext(ctx, "LOCK TABLE "+table+" IN EXCLUSIVE MODE"); err != nil {
			tx.Rollback()
			t.Fatalf("locking %s: %v", table, err)
		}
	}
	var once sync.Once
	release = func() { once.Do(func() { tx.Rollback() }) }
	t.Cleanup(release)
	return release
}

// awaitLockWaiters waits until n requests wait on the lock of holdWrites. On
// PostgreSQL pg_stat_activity shows them. On SQLite a request waiting to
// begin its write transaction holds a pooled connection while it waits, so
// n of them are there once n connections beyond the holder's stay in use
// (a session lookup holds one for well under a millisecond).
func awaitLockWaiters(t *testing.T, e *graphtest.Env, n int) {
	t.Helper()
	waiting := func() int {
		if e.Dialect != "postgres" {
			return e.DB.SQL.Stats().InUse - 1
		}
		var w int
		err := e.DB.SQL.QueryRowContext(t.Context(),
			`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&w)
		if err != nil {
			t.Fatalf("watching locks: %v", err)
		}
		return w
	}
	deadline := time.Now().Add(10 * time.Second)
	for steady := 0; steady < 3; time.Sleep(10 * time.Millisecond) {
		w := waiting()
		if w < n {
			steady = 0
		} else {
			steady++
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d requests waiting on a lock after 10s, want %d", w, n)
		}
	}
}
