package graph_test

import (
	"testing"

	"tenantgraph/ent/activitylog"
	"tenantgraph/graph/graphtest"
)

// adminOps are the contract's administration operations, exercised by
// TestContractAdministration.
var adminOps = map[string]bool{"TenantStats": true, "ActivityLog": true}

// TestContractAdministration sends TenantStats and ActivityLog as the
// contract writes them: an OWNER sees the tenant's numbers and who changed
// what; everyone else is FORBIDDEN; a failed mutation leaves no entry.
func TestContractAdministration(t *testing.T) {
	ops := contractOperations(t)
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member := e.Register("Owen"), e.Register("Mia")
		e.CreateTenant(owner, "admin")
		e.AddMember(owner, "admin", member, "MEMBER")
		o, m := owner.Caller("admin"), member.Caller("admin")
		p := e.CreateProject(m, "Rocket")
		task := e.CreateTask(m, p, "Fuel")
		e.CreateComment(m, task, "ordered")
		e.Transition(m, p, "SUBMITTED")
		e.MustDo(o, `mutation { updateTenantConfig(input: {notificationChannels: [IN_APP, SLACK], slackWebhookURL: "https://127.0.0.1:9/hook"}) { id } }`, nil, nil)
		// A failed mutation leaves no entry.
		if r := e.Do(m, `mutation($id: ID!) { a: updateProject(id: $id, input: {name: "Renamed"}) { id } b: createProject(input: {name: ""}) { id } }`, map[string]any{"id": p}); r.Code() != "BAD_USER_INPUT" {
			t.Fatalf("failing mutation: got %q", r.Code())
		}

		var st struct {
			TenantStats struct {
				MemberCount, ProjectCount, TaskCount, CommentCount int
				ProjectsByStatus                                   []struct {
					Status string
					Count  int
				}
				TasksByStatus []struct {
					Status string
					Count  int
				}
			}
		}
		e.Do(o, ops["TenantStats"], nil).Decode(t, &st)
		s := st.TenantStats
		if s.MemberCount != 2 || s.ProjectCount != 1 || s.TaskCount != 1 || s.CommentCount != 1 {
			t.Errorf("stats: got %+v, want 2 members, 1 project, 1 task, 1 comment", s)
		}
		byStatus := map[string]int{}
		for _, c := range s.ProjectsByStatus {
			byStatus[c.Status] = c.Count
		}
		if len(s.ProjectsByStatus) != 7 || byStatus["SUBMITTED"] != 1 || byStatus["DRAFT"] != 0 {
			t.Errorf("projectsByStatus: got %+v, want all 7 statuses with SUBMITTED 1", s.ProjectsByStatus)
		}
		if len(s.TasksByStatus) != 3 || s.TasksByStatus[0].Status != "TODO" || s.TasksByStatus[0].Count != 1 {
			t.Errorf("tasksByStatus: got %+v, want TODO 1 first", s.TasksByStatus)
		}

		type entry struct {
			ID, Action, EntityType, EntityID, Summary, CreatedAt string
			Actor                                                struct{ ID, Email string }
		}
		var log struct {
			ActivityLogs struct {
				TotalCount int
				Edges      []struct{ Node entry }
			}
		}
		e.Do(o, ops["ActivityLog"], map[string]any{"first": 50}).Decode(t, &log)
		var actions []string
		for _, edge := range log.ActivityLogs.Edges {
			actions = append(actions, edge.Node.Action)
		}
		want := []string{"tenant.config", "project.transition", "comment.create", "task.create", "project.create", "member.add", "tenant.create"}
		if len(actions) != len(want) {
			t.Fatalf("actions newest first: got %v, want %v", actions, want)
		}
		for i := range want {
			if actions[i] != want[i] {
				t.Fatalf("actions newest first: got %v, want %v", actions, want)
			}
		}
		tr := log.ActivityLogs.Edges[1].Node
		if tr.Summary != "DRAFT → SUBMITTED" || tr.EntityType != "Project" || tr.EntityID != p || tr.Actor.Email != member.Email {
			t.Errorf("transition entry: got %+v", tr)
		}

		var filtered struct{ ActivityLogs struct{ TotalCount int } }
		e.Do(o, ops["ActivityLog"], map[string]any{"first": 10, "where": map[string]any{"action": "project.create", "entityID": p}}).Decode(t, &filtered)
		if filtered.ActivityLogs.TotalCount != 1 {
			t.Errorf("filtered by action and entity: got %d, want 1", filtered.ActivityLogs.TotalCount)
		}
		var perProject struct {
			Node struct {
				Activity struct {
					Edges []struct{ Node struct{ Action string } }
				}
			}
		}
		e.MustDo(o, `query($id: ID!) { node(id: $id) { ... on Project { activity(first: 10) { edges { node { action } } } } } }`, map[string]any{"id": p}, &perProject)
		if got := len(perProject.Node.Activity.Edges); got != 2 {
			t.Errorf("Project.activity: got %d entries, want 2 (create, transition)", got)
		}

		// The secret is masked in the stored changes.
		entries, err := e.DB.Client.ActivityLog.Query().Where(activitylog.Action("tenant.config")).All(acctSystemContext())
		if err != nil || len(entries) != 1 {
			t.Fatalf("config entries: got %d, %v", len(entries), err)
		}
		for _, ch := range entries[0].Changes {
			if ch.Field == "slackWebhookURL" && (ch.New == "" || ch.New == "https://127.0.0.1:9/hook") {
				t.Errorf("webhook change: got %+v, want it masked", ch)
			}
		}

		for _, name := range []string{"TenantStats", "ActivityLog"} {
			if got := e.Do(m, ops[name], map[string]any{"first": 5}).Code(); got != "FORBIDDEN" {
				t.Errorf("%s as a MEMBER: got %q, want FORBIDDEN", name, got)
			}
		}
	})
}
