package graph_test

// Every contract operation, sent as written with realistic variables (the
// largest page sizes included), is served under the production limits.

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"tenantgraph/graph/graphtest"
)

func TestContractOperationsPassDefaultLimits(t *testing.T) {
	ops := contractOperations(t)
	graphtest.RunWith(t, limDefaults, func(t *testing.T, e *graphtest.Env) {
		owner, mia := e.Register("Owner"), e.Register("Mia")
		o, m := owner.Caller("limits"), mia.Caller("limits")
		ids := map[string]string{}
		// keep records the string at path in the data under name.
		keep := func(name string, path ...string) func(json.RawMessage) {
			return func(data json.RawMessage) {
				var v any
				_ = json.Unmarshal(data, &v)
				for _, p := range path {
					if list, ok := v.([]any); ok && len(list) > 0 {
						v = list[0]
					}
					obj, _ := v.(map[string]any)
					v = obj[p]
				}
				ids[name], _ = v.(string)
			}
		}
		id := func(name string) func() map[string]any {
			return func() map[string]any { return map[string]any{"id": ids[name]} }
		}
		sent := map[string]bool{}
		steps := []struct {
			op   string
			as   graphtest.Caller
			vars func() map[string]any
			keep func(json.RawMessage)
		}{
			{"Register", graphtest.Caller{}, func() map[string]any {
				return map[string]any{"input": map[string]any{"email": "new@example.test", "password": "long enough", "name": "New"}}
			}, nil},
			{"Login", graphtest.Caller{}, func() map[string]any {
				return map[string]any{"input": map[string]any{"email": owner.Email, "password": "correct horse battery"}}
			}, nil},
			{"CreateTenant", graphtest.Caller{Token: owner.Token}, func() map[string]any {
				return map[string]any{"input": map[string]any{"name": "Limits", "slug": "limits"}}
			}, nil},
			{"Viewer", o, nil, nil},
			{"CurrentTenant", o, nil, nil},
			{"AddMember", o, func() map[string]any {
				return map[string]any{"input": map[string]any{"email": mia.Email, "role": "MEMBER"}}
			},
				keep("membership", "addMember", "id")},
			{"UpdateMemberRole", o, func() map[string]any { return map[string]any{"id": ids["membership"], "role": "MANAGER"} }, nil},
			{"Members", o, func() map[string]any { return map[string]any{"first": 100} }, nil},
			{"UpdateTenantConfig", o, func() map[string]any {
				return map[string]any{"input": map[string]any{"notificationChannels": []string{"IN_APP", "EMAIL"}}}
			}, nil},
			{"CreateProject", m, func() map[string]any {
				return map[string]any{"input": map[string]any{"name": "Rocket", "description": "To the moon"}}
			}, keep("project", "createProject", "id")},
			{"UpdateProject", m, func() map[string]any {
				return map[string]any{"id": ids["project"], "input": map[string]any{"name": "Rocket II"}}
			}, nil},
			{"ProjectWorkflow", m, nil, nil},
			{"TransitionProject", m, func() map[string]any { return map[string]any{"id": ids["project"], "to": "SUBMITTED"} }, nil},
			{"Project", m, id("project"), nil},
			{"Projects", m, func() map[string]any {
				return map[string]any{"first": 100, "where": map[string]any{"status": "SUBMITTED"}, "orderBy": map[string]any{"field": "CREATED_AT", "direction": "DESC"}}
			}, nil},
			{"CreateTask", o, func() map[string]any {
				return map[string]any{"input": map[string]any{"projectID": ids["project"], "title": "Fuel", "priority": "HIGH",
					"assigneeID": mia.ID, "dueDate": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)}}
			}, keep("task", "createTask", "id")},
			{"UpdateTask", m, func() map[string]any {
				return map[string]any{"id": ids["task"], "input": map[string]any{"status": "IN_PROGRESS"}}
			}, nil},
			{"Tasks", m, func() map[string]any {
				return map[string]any{"first": 100, "where": map[string]any{"status": "IN_PROGRESS"}, "orderBy": map[string]any{"field": "PRIORITY", "direction": "DESC"}}
			}, nil},
			{"CreateComment", m, func() map[string]any {
				return map[string]any{"input": map[string]any{"taskID": ids["task"], "body": "Ordered"}}
			},
				keep("comment", "createComment", "id")},
			{"UpdateComment", m, func() map[string]any {
				return map[string]any{"id": ids["comment"], "input": map[string]any{"body": "Ordered twice"}}
			}, nil},
			{"ProjectTree", m, func() map[string]any { return map[string]any{"first": 100} }, nil},
			{"Node", m, id("comment"), nil},
			{"Notifications", m, func() map[string]any { return map[string]any{"first": 100, "unreadOnly": true} },
				keep("notification", "notifications", "edges", "node", "id")},
			{"MarkNotificationRead", m, id("notification"), nil},
			{"MarkAllNotificationsRead", m, nil, nil},
			{"TenantStats", o, nil, nil},
			{"ActivityLog", o, func() map[string]any {
				return map[string]any{"first": 100, "where": map[string]any{"entityType": "Project"}}
			}, nil},
			{"DeleteComment", m, id("comment"), nil},
			{"DeleteTask", o, id("task"), nil},
			{"DeleteProject", m, id("project"), nil},
			{"NotificationAdded", m, nil, nil}, // over websocket, below
			{"RemoveMember", o, id("membership"), nil},
		}
		for _, s := range steps {
			if s.op == "NotificationAdded" {
				// As the contract says: over graphql-transport-ws.
				sent[s.op] = true
				feed := subscribe(t, e, mia, "limits")
				p := e.CreateProject(o, "Probe")
				createAssignedTask(t, e, o, p, "Fuel again", mia.ID)
				if got := feed.next(t, 5*time.Second); !strings.Contains(got.Title, "Fuel again") {
					t.Errorf("NotificationAdded: got %+v, want the assignment", got)
				}
				continue
			}
			var vars map[string]any
			if s.vars != nil {
				vars = s.vars()
			}
			r := e.DoOperation(s.as, ops[s.op], s.op, vars)
			sent[s.op] = true
			if len(r.Errors) > 0 {
				t.Errorf("%s: got %+v, want it served", s.op, r.Errors)
				continue
			}
			if s.keep != nil {
				s.keep(r.Data)
			}
		}

		var left []string
		for _, name := range slices.Sorted(maps.Keys(ops)) {
			if !sent[name] {
				left = append(left, name)
			}
		}
		if len(left) > 0 {
			t.Errorf("contract operations not sent: %v", left)
		}
	})
}
