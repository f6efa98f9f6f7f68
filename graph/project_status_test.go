package graph_test

// A project's status changes only by transitionProject; ARCHIVED is read-only.

import (
	"fmt"
	"testing"

	"tenantgraph/graph/graphtest"
)

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
