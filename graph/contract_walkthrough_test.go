package graph_test

import (
	"strings"
	"testing"

	"tenantgraph/graph/graphtest"
)

// TestContractWalkthrough sends every in-scope contract operation, exactly as
// the contract writes it, and checks that it behaves as its comment says.
func TestContractWalkthrough(t *testing.T) {
	ops := contractOperations(t)
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		used := map[string]bool{}
		run := func(c graphtest.Caller, name string, vars map[string]any) *graphtest.Response {
			t.Helper()
			doc, ok := ops[name]
			if !ok {
				t.Fatalf("the contract has no operation %s", name)
			}
			used[name] = true
			return e.Do(c, doc, vars)
		}
		must := func(c graphtest.Caller, name string, vars map[string]any, out any) {
			t.Helper()
			r := run(c, name, vars)
			r.Decode(t, out)
		}
		wantCode := func(r *graphtest.Response, code string) {
			t.Helper()
			if r.Code() != code {
				t.Errorf("code: got %q (%+v), want %q", r.Code(), r.Errors, code)
			}
		}
		type authPayload struct {
			Token     string
			ExpiresAt string
			User      struct{ ID, Email, Name string }
		}

		// Accounts.
		var reg struct{ Register authPayload }
		must(graphtest.Caller{}, "Register", map[string]any{"input": map[string]any{
			"email": "Ada@Example.TEST", "password": "analytical-engine", "name": "Ada"}}, &reg)
		if reg.Register.User.Email != "ada@example.test" || reg.Register.Token == "" || reg.Register.ExpiresAt == "" {
			t.Errorf("register: got %+v, want lower-cased email, a token and expiresAt", reg.Register)
		}
		r := run(graphtest.Caller{}, "Register", map[string]any{"input": map[string]any{
			"email": "ADA@example.test", "password": "analytical-engine", "name": "Ada again"}})
		wantCode(r, "BAD_USER_INPUT")
		if len(r.Errors) > 0 && !strings.Contains(r.Errors[0].Message, "email") {
			t.Errorf("taken email: got message %q, want it to name the field email", r.Errors[0].Message)
		}

		var login struct{ Login authPayload }
		must(graphtest.Caller{}, "Login", map[string]any{"input": map[string]any{
			"email": "ada@example.test", "password": "analytical-engine"}}, &login)
		ada := graphtest.User{ID: login.Login.User.ID, Email: "ada@example.test", Token: login.Login.Token}
		wrongPassword := run(graphtest.Caller{}, "Login", map[string]any{"input": map[string]any{"email": "ada@example.test", "password": "nope-nope-nope"}})
		wrongEmail := run(graphtest.Caller{}, "Login", map[string]any{"input": map[string]any{"email": "nobody@example.test", "password": "analytical-engine"}})
		wantCode(wrongPassword, "UNAUTHENTICATED")
		wantCode(wrongEmail, "UNAUTHENTICATED")
		if len(wrongPassword.Errors) > 0 && len(wrongEmail.Errors) > 0 && wrongPassword.Errors[0].Message != wrongEmail.Errors[0].Message {
			t.Errorf("login messages differ: %q vs %q", wrongPassword.Errors[0].Message, wrongEmail.Errors[0].Message)
		}

		// Tenants and members.
		var cur struct {
			CurrentTenant struct{ ID, Slug, Name string }
		}
		must(graphtest.Caller{}, "CurrentTenant", nil, &cur)
		if cur.CurrentTenant.Slug != "default" {
			t.Errorf("currentTenant without headers: got %q, want default", cur.CurrentTenant.Slug)
		}
		var ct struct {
			CreateTenant struct{ ID, Slug, Name string }
		}
		must(graphtest.Caller{Token: ada.Token}, "CreateTenant", map[string]any{"input": map[string]any{"name": "Acme", "slug": "acme"}}, &ct)
		wantCode(run(graphtest.Caller{Token: ada.Token}, "CreateTenant", map[string]any{"input": map[string]any{"name": "Acme 2", "slug": "acme"}}), "CONFLICT")
		acme := ada.Caller("acme")
		byID := graphtest.Caller{Token: ada.Token, TenantID: ct.CreateTenant.ID}

		var viewer struct {
			Viewer struct {
				Email       string
				Memberships []struct {
					Role   string
					Tenant struct{ Slug string }
				}
			}
		}
		must(acme, "Viewer", nil, &viewer)
		if len(viewer.Viewer.Memberships) != 1 || viewer.Viewer.Memberships[0].Role != "OWNER" || viewer.Viewer.Memberships[0].Tenant.Slug != "acme" {
			t.Errorf("viewer memberships: got %+v, want OWNER of acme", viewer.Viewer.Memberships)
		}

		bob := e.Register("Bob")
		var add struct {
			AddMember struct {
				ID, Role string
				User     struct{ ID, Email string }
				Tenant   struct{ ID string }
			}
		}
		must(byID, "AddMember", map[string]any{"input": map[string]any{"email": bob.Email, "role": "MEMBER"}}, &add)
		if add.AddMember.User.ID != bob.ID || add.AddMember.Tenant.ID != ct.CreateTenant.ID || add.AddMember.Role != "MEMBER" {
			t.Errorf("addMember: got %+v", add.AddMember)
		}
		wantCode(run(acme, "AddMember", map[string]any{"input": map[string]any{"email": bob.Email, "role": "VIEWER"}}), "CONFLICT")
		wantCode(run(acme, "AddMember", map[string]any{"input": map[string]any{"email": "ghost@example.test", "role": "VIEWER"}}), "NOT_FOUND")

		var upd struct{ UpdateMemberRole struct{ ID, Role string } }
		must(acme, "UpdateMemberRole", map[string]any{"id": add.AddMember.ID, "role": "MANAGER"}, &upd)
		if upd.UpdateMemberRole.Role != "MANAGER" {
			t.Errorf("updateMemberRole: got %q, want MANAGER", upd.UpdateMemberRole.Role)
		}
		var members struct {
			Members struct {
				TotalCount int
				PageInfo   struct {
					HasNextPage bool
					EndCursor   string
				}
				Edges []struct {
					Node struct {
						ID, Role string
						User     struct{ ID, Email, Name string }
					}
				}
			}
		}
		must(bob.Caller("acme"), "Members", map[string]any{"first": 10}, &members)
		if members.Members.TotalCount != 2 || len(members.Members.Edges) != 2 {
			t.Errorf("members: got %+v, want Ada and Bob", members.Members)
		}
		adaMembership := ""
		for _, edge := range members.Members.Edges {
			if edge.Node.User.ID == ada.ID {
				adaMembership = edge.Node.ID
			}
		}
		wantCode(run(acme, "RemoveMember", map[string]any{"id": adaMembership}), "CONFLICT") // the last OWNER
		wantCode(run(acme, "UpdateMemberRole", map[string]any{"id": adaMembership, "role": "MEMBER"}), "CONFLICT")

		// Projects and the workflow.
		bobC := bob.Caller("acme")
		var cp struct {
			CreateProject struct {
				ID, Name, Status, CreatedAt string
				Description                 *string
				CreatedBy                   struct{ ID string }
			}
		}
		must(bobC, "CreateProject", map[string]any{"input": map[string]any{"name": "Rocket", "description": "To the moon"}}, &cp)
		p := cp.CreateProject
		if p.Status != "DRAFT" || p.CreatedBy.ID != bob.ID || p.Description == nil || *p.Description != "To the moon" {
			t.Errorf("createProject: got %+v", p)
		}
		var up struct {
			UpdateProject struct{ ID, Name, UpdatedAt string }
		}
		must(bobC, "UpdateProject", map[string]any{"id": p.ID, "input": map[string]any{"name": "Big rocket"}}, &up)
		if up.UpdateProject.Name != "Big rocket" {
			t.Errorf("updateProject: got %q", up.UpdateProject.Name)
		}
		var wf struct {
			ProjectWorkflow []struct{ From, To, MinRole string }
		}
		must(graphtest.Caller{}, "ProjectWorkflow", nil, &wf)
		if len(wf.ProjectWorkflow) != 11 {
			t.Errorf("projectWorkflow rows: got %d, want 11", len(wf.ProjectWorkflow))
		}
		var tr struct {
			TransitionProject struct{ ID, Status, UpdatedAt string }
		}
		must(bobC, "TransitionProject", map[string]any{"id": p.ID, "to": "SUBMITTED"}, &tr)
		if tr.TransitionProject.Status != "SUBMITTED" {
			t.Errorf("transition: got %q, want SUBMITTED", tr.TransitionProject.Status)
		}
		wantCode(run(bobC, "TransitionProject", map[string]any{"id": p.ID, "to": "COMPLETED"}), "INVALID_TRANSITION")
		var node struct {
			Node struct {
				ID, Name, Status     string
				AvailableTransitions []string
				CreatedBy            struct{ ID, Name string }
			}
		}
		must(acme, "Project", map[string]any{"id": p.ID}, &node)
		if got := strings.Join(node.Node.AvailableTransitions, ","); got != "DRAFT,APPROVED,REJECTED" {
			t.Errorf("availableTransitions for the OWNER of a SUBMITTED project: got %s, want DRAFT,APPROVED,REJECTED", got)
		}
		var projects struct {
			Projects struct {
				TotalCount int
				Edges      []struct {
					Cursor string
					Node   struct{ ID, Name, Status, CreatedAt string }
				}
			}
		}
		must(acme, "Projects", map[string]any{"first": 5, "where": map[string]any{"status": "SUBMITTED"}, "orderBy": map[string]any{"field": "NAME", "direction": "ASC"}}, &projects)
		if projects.Projects.TotalCount != 1 || projects.Projects.Edges[0].Node.ID != p.ID {
			t.Errorf("projects filtered by status: got %+v", projects.Projects)
		}

		// Tasks and comments.
		var task struct {
			CreateTask struct {
				ID, Title, Status, Priority string
				DueDate                     *string
				Project                     struct{ ID string }
				Assignee                    *struct{ ID string }
			}
		}
		must(bobC, "CreateTask", map[string]any{"input": map[string]any{"projectID": p.ID, "title": "Fuel", "priority": "URGENT", "assigneeID": ada.ID, "dueDate": "2030-01-02T03:04:05Z"}}, &task)
		if task.CreateTask.Status != "TODO" || task.CreateTask.Priority != "URGENT" || task.CreateTask.Assignee == nil || task.CreateTask.Assignee.ID != ada.ID || task.CreateTask.Project.ID != p.ID {
			t.Errorf("createTask: got %+v", task.CreateTask)
		}
		outsider := e.Register("Outsider")
		wantCode(run(bobC, "CreateTask", map[string]any{"input": map[string]any{"projectID": p.ID, "title": "x", "assigneeID": outsider.ID}}), "BAD_USER_INPUT")
		var ut struct {
			UpdateTask struct {
				ID, Title, Status, Priority string
				Assignee                    *struct{ ID string }
			}
		}
		must(bobC, "UpdateTask", map[string]any{"id": task.CreateTask.ID, "input": map[string]any{"status": "IN_PROGRESS", "assigneeID": nil}}, &ut)
		if ut.UpdateTask.Status != "IN_PROGRESS" || ut.UpdateTask.Assignee != nil {
			t.Errorf("updateTask: got %+v, want IN_PROGRESS and unassigned", ut.UpdateTask)
		}
		var tasks struct {
			Tasks struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						ID      string
						Project struct{ ID string }
					}
				}
			}
		}
		must(acme, "Tasks", map[string]any{"first": 10, "orderBy": map[string]any{"field": "PRIORITY", "direction": "DESC"}}, &tasks)
		if tasks.Tasks.TotalCount != 1 {
			t.Errorf("tasks: got %d, want 1", tasks.Tasks.TotalCount)
		}
		var cc struct {
			CreateComment struct {
				ID, Body string
				Author   struct{ ID string }
				Task     struct{ ID string }
			}
		}
		must(bobC, "CreateComment", map[string]any{"input": map[string]any{"taskID": task.CreateTask.ID, "body": "Fuel ordered"}}, &cc)
		if cc.CreateComment.Author.ID != bob.ID || cc.CreateComment.Task.ID != task.CreateTask.ID {
			t.Errorf("createComment: got %+v", cc.CreateComment)
		}
		wantCode(run(acme, "UpdateComment", map[string]any{"id": cc.CreateComment.ID, "input": map[string]any{"body": "not mine"}}), "FORBIDDEN")
		var uc struct{ UpdateComment struct{ ID, Body string } }
		must(bobC, "UpdateComment", map[string]any{"id": cc.CreateComment.ID, "input": map[string]any{"body": "Fuel delivered"}}, &uc)
		if uc.UpdateComment.Body != "Fuel delivered" {
			t.Errorf("updateComment: got %q", uc.UpdateComment.Body)
		}

		var tree struct {
			Projects struct {
				Edges []struct {
					Node struct {
						Tasks struct {
							TotalCount int
							Edges      []struct {
								Node struct {
									Comments struct{ TotalCount int }
								}
							}
						}
					}
				}
			}
		}
		must(acme, "ProjectTree", map[string]any{"first": 20}, &tree)
		if len(tree.Projects.Edges) != 1 || tree.Projects.Edges[0].Node.Tasks.TotalCount != 1 ||
			tree.Projects.Edges[0].Node.Tasks.Edges[0].Node.Comments.TotalCount != 1 {
			t.Errorf("projectTree: got %+v", tree)
		}
		var n struct {
			Node *struct {
				ID       string
				Typename string `json:"__typename"`
			}
		}
		must(acme, "Node", map[string]any{"id": task.CreateTask.ID}, &n)
		if n.Node == nil || n.Node.Typename != "Task" {
			t.Errorf("node(task): got %+v, want a Task", n.Node)
		}

		var del struct{ DeleteComment string }
		must(acme, "DeleteComment", map[string]any{"id": cc.CreateComment.ID}, &del)
		var delTask struct{ DeleteTask string }
		must(bobC, "DeleteTask", map[string]any{"id": task.CreateTask.ID}, &delTask)
		must(bobC, "DeleteProject", map[string]any{"id": p.ID}, new(struct{ DeleteProject string })) // Bob is a MANAGER now
		must(acme, "Node", map[string]any{"id": p.ID}, &n)
		if n.Node != nil {
			t.Errorf("node(deleted project): got %+v, want null", n.Node)
		}
		must(acme, "RemoveMember", map[string]any{"id": add.AddMember.ID}, new(struct{ RemoveMember string }))

		for name := range ops {
			if _, later := laterIssues[name]; !later && !used[name] && !notificationOps[name] && !adminOps[name] {
				t.Errorf("contract operation %s is not exercised by this walkthrough", name)
			}
		}
	})
}
