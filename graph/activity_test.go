package graph_test

// The activity log: one entry per successful mutation of tenant data, none
// for a failed one, append-only, readable by OWNERs alone.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"tenantgraph/ent/activitylog"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/role"
	"tenantgraph/internal/viewer"
)

// actEntry is one activityLogs node with every field.
type actEntry struct {
	ID, Action, EntityType, EntityID, Summary, CreatedAt string
	Actor                                                struct{ ID string }
	Changes                                              []actChange
}

type actChange struct{ Field, Old, New string }

const actLogQuery = `query($first: Int, $after: Cursor, $where: ActivityLogWhereInput, $orderBy: ActivityLogOrder) {
	activityLogs(first: $first, after: $after, where: $where, orderBy: $orderBy) {
		totalCount
		pageInfo { hasNextPage endCursor }
		edges { node { id action entityType entityID summary createdAt actor { id } changes { field old new } } } } }`

// actLog returns the tenant's entries as c sees them (newest first unless
// vars say otherwise), failing t on any error.
func actLog(t *testing.T, e *graphtest.Env, c graphtest.Caller, vars map[string]any) []actEntry {
	t.Helper()
	if vars == nil {
		vars = map[string]any{}
	}
	if vars["first"] == nil {
		vars["first"] = 100
	}
	var out struct {
		ActivityLogs struct {
			TotalCount int
			Edges      []struct{ Node actEntry }
		}
	}
	isoMust(t, e, c, actLogQuery, vars, &out)
	entries := make([]actEntry, len(out.ActivityLogs.Edges))
	for i, edge := range out.ActivityLogs.Edges {
		entries[i] = edge.Node
	}
	if out.ActivityLogs.TotalCount != len(entries) && len(entries) < vars["first"].(int) {
		t.Errorf("totalCount: got %d, want %d (the entries listed)", out.ActivityLogs.TotalCount, len(entries))
	}
	return entries
}

// actCountAll counts the entries of every tenant, past the privacy layer.
func actCountAll(t *testing.T, e *graphtest.Env) int {
	t.Helper()
	n, err := e.DB.Client.ActivityLog.Query().Count(acctSystemContext())
	if err != nil {
		t.Fatalf("counting activity entries: %v", err)
	}
	return n
}

// TestActivityEveryMutation runs each mutation of tenant data once and
// checks the one entry it leaves: action, entity, actor, summary and the
// changed fields with their old and new values.
func TestActivityEveryMutation(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, mia := e.Register("Owner"), e.Register("Mia")
		o, m := owner.Caller("acme"), mia.Caller("acme")
		const hook, hook2 = "https://127.0.0.1:9/hook-secret-1", "https://127.0.0.1:9/hook-secret-2"
		var tenantID, membershipID, projectID, taskID, commentID string
		id := func(dst *string, path ...string) func(json.RawMessage) {
			return func(data json.RawMessage) {
				var v any
				_ = json.Unmarshal(data, &v)
				for _, p := range path {
					v = v.(map[string]any)[p]
				}
				*dst = v.(string)
			}
		}
		steps := []struct {
			name    string
			as      graphtest.Caller
			query   string
			vars    func() map[string]any
			keep    func(json.RawMessage) // records the new object's ID
			actor   graphtest.User
			action  string
			typ     string
			entity  *string
			summary string
			changes func() []actChange
		}{
			{"createTenant", graphtest.Caller{Token: owner.Token}, `mutation { createTenant(input: {name: "Acme Corp", slug: "acme"}) { id } }`, nil,
				id(&tenantID, "createTenant", "id"), owner, "tenant.create", "Tenant", &tenantID, `created tenant "Acme Corp"`,
				func() []actChange { return []actChange{{"name", "", "Acme Corp"}, {"slug", "", "acme"}} }},
			{"addMember", o, `mutation($e: String!) { addMember(input: {email: $e, role: MEMBER}) { id } }`, func() map[string]any { return map[string]any{"e": mia.Email} },
				id(&membershipID, "addMember", "id"), owner, "member.add", "Membership", &membershipID, "added mia@example.test as MEMBER",
				func() []actChange { return []actChange{{"user", "", mia.Email}, {"role", "", "MEMBER"}} }},
			{"updateMemberRole", o, `mutation($id: ID!) { updateMemberRole(id: $id, role: MANAGER) { id } }`, func() map[string]any { return map[string]any{"id": membershipID} },
				nil, owner, "member.update_role", "Membership", &membershipID, "MEMBER → MANAGER",
				func() []actChange { return []actChange{{"role", "MEMBER", "MANAGER"}} }},
			{"updateTenantConfig sets the webhook", o, `mutation($h: String) { updateTenantConfig(input: {notificationChannels: [IN_APP, SLACK], slackWebhookURL: $h}) { id } }`,
				func() map[string]any { return map[string]any{"h": hook} }, nil, owner, "tenant.config", "Tenant", &tenantID, "changed notification settings",
				func() []actChange {
					return []actChange{{"notificationChannels", "IN_APP", "IN_APP,SLACK"}, {"slackWebhookURL", "", "••••••"}}
				}},
			{"updateTenantConfig changes the webhook", o, `mutation($h: String) { updateTenantConfig(input: {slackWebhookURL: $h}) { id } }`,
				func() map[string]any { return map[string]any{"h": hook2} }, nil, owner, "tenant.config", "Tenant", &tenantID, "changed notification settings",
				func() []actChange {
					return []actChange{{"slackWebhookURL", "••••••", "••••••"}}
				}},
			{"updateTenantConfig clears the webhook", o, `mutation { updateTenantConfig(input: {notificationChannels: [IN_APP], slackWebhookURL: null}) { id } }`,
				nil, nil, owner, "tenant.config", "Tenant", &tenantID, "changed notification settings",
				func() []actChange {
					return []actChange{{"notificationChannels", "IN_APP,SLACK", "IN_APP"}, {"slackWebhookURL", "••••••", ""}}
				}},
			{"createProject", m, `mutation { createProject(input: {name: "Rocket", description: "To the moon"}) { id } }`, nil,
				id(&projectID, "createProject", "id"), mia, "project.create", "Project", &projectID, `created project "Rocket"`,
				func() []actChange {
					return []actChange{{"name", "", "Rocket"}, {"description", "", "To the moon"}, {"status", "", "DRAFT"}}
				}},
			{"updateProject", m, `mutation($id: ID!) { updateProject(id: $id, input: {name: "Rocket II", description: "To the moon"}) { id } }`,
				func() map[string]any { return map[string]any{"id": projectID} }, nil, mia, "project.update", "Project", &projectID, `updated project "Rocket II"`,
				func() []actChange { return []actChange{{"name", "Rocket", "Rocket II"}} }},
			{"transitionProject", m, `mutation($id: ID!) { transitionProject(id: $id, to: SUBMITTED) { id } }`,
				func() map[string]any { return map[string]any{"id": projectID} }, nil, mia, "project.transition", "Project", &projectID, "DRAFT → SUBMITTED",
				func() []actChange { return []actChange{{"status", "DRAFT", "SUBMITTED"}} }},
			{"createTask", m, `mutation($p: ID!, $a: ID) { createTask(input: {projectID: $p, title: "Fuel", priority: HIGH, assigneeID: $a}) { id } }`,
				func() map[string]any { return map[string]any{"p": projectID, "a": mia.ID} }, id(&taskID, "createTask", "id"), mia, "task.create", "Task", &taskID, `created task "Fuel"`,
				func() []actChange {
					return []actChange{{"title", "", "Fuel"}, {"status", "", "TODO"}, {"priority", "", "HIGH"}, {"assignee", "", mia.ID}}
				}},
			{"updateTask lists only the changed fields", m, `mutation($id: ID!) { updateTask(id: $id, input: {title: "Fuel", priority: HIGH, status: IN_PROGRESS, dueDate: "2031-05-01T12:00:00Z"}) { id } }`,
				func() map[string]any { return map[string]any{"id": taskID} }, nil, mia, "task.update", "Task", &taskID, `updated task "Fuel"`,
				func() []actChange {
					return []actChange{{"status", "TODO", "IN_PROGRESS"}, {"dueDate", "", "2031-05-01T12:00:00Z"}}
				}},
			{"createComment", o, `mutation($t: ID!) { createComment(input: {taskID: $t, body: "first!"}) { id } }`,
				func() map[string]any { return map[string]any{"t": taskID} }, id(&commentID, "createComment", "id"), owner, "comment.create", "Comment", &commentID, `commented on task "Fuel"`,
				func() []actChange { return []actChange{{"body", "", "first!"}} }},
			{"updateComment", o, `mutation($id: ID!) { updateComment(id: $id, input: {body: "second!"}) { id } }`,
				func() map[string]any { return map[string]any{"id": commentID} }, nil, owner, "comment.update", "Comment", &commentID, "edited a comment",
				func() []actChange { return []actChange{{"body", "first!", "second!"}} }},
			{"deleteComment", m, `mutation($id: ID!) { deleteComment(id: $id) }`,
				func() map[string]any { return map[string]any{"id": commentID} }, nil, mia, "comment.delete", "Comment", &commentID, "deleted a comment",
				func() []actChange { return []actChange{{"body", "second!", ""}} }},
			{"deleteTask", m, `mutation($id: ID!) { deleteTask(id: $id) }`,
				func() map[string]any { return map[string]any{"id": taskID} }, nil, mia, "task.delete", "Task", &taskID, `deleted task "Fuel"`,
				func() []actChange {
					return []actChange{{"title", "Fuel", ""}, {"status", "IN_PROGRESS", ""}, {"priority", "HIGH", ""},
						{"assignee", mia.ID, ""}, {"dueDate", "2031-05-01T12:00:00Z", ""}}
				}},
			{"deleteProject", m, `mutation($id: ID!) { deleteProject(id: $id) }`,
				func() map[string]any { return map[string]any{"id": projectID} }, nil, mia, "project.delete", "Project", &projectID, `deleted project "Rocket II"`,
				func() []actChange { return []actChange{{"name", "Rocket II", ""}, {"status", "SUBMITTED", ""}} }},
			{"removeMember", o, `mutation($id: ID!) { removeMember(id: $id) }`,
				func() map[string]any { return map[string]any{"id": membershipID} }, nil, owner, "member.remove", "Membership", &membershipID, "removed a MANAGER",
				func() []actChange { return []actChange{{"role", "MANAGER", ""}} }},
		}
		seen := 0
		for _, s := range steps {
			var vars map[string]any
			if s.vars != nil {
				vars = s.vars()
			}
			r := e.Do(s.as, s.query, vars)
			if len(r.Errors) > 0 {
				t.Fatalf("%s: unexpected errors %+v", s.name, r.Errors)
			}
			if s.keep != nil {
				s.keep(r.Data)
			}
			entries := actLog(t, e, o, nil)
			if len(entries) != seen+1 {
				t.Fatalf("%s: got %d entries after it, want %d (exactly one more)", s.name, len(entries), seen+1)
			}
			seen++
			got := entries[0]
			want := actEntry{ID: got.ID, CreatedAt: got.CreatedAt, Action: s.action, EntityType: s.typ, EntityID: *s.entity, Summary: s.summary, Changes: s.changes()}
			want.Actor.ID = s.actor.ID
			if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
				t.Errorf("%s: entry\ngot  %s\nwant %s", s.name, g, w)
			}
		}

		t.Run("the webhook URL is never stored", func(t *testing.T) {
			rows, err := e.DB.Client.ActivityLog.Query().All(acctSystemContext())
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(rows)
			for _, secret := range []string{hook, hook2, "hook-secret"} {
				if strings.Contains(string(raw), secret) {
					t.Errorf("the activity log holds %q: %s", secret, raw)
				}
			}
		})
	})
}

// TestActivityNotificationsReadWriteNone: marking notifications read changes
// only the caller's own inbox, not tenant data; by choice (README) it leaves
// no entry.
func TestActivityNotificationsReadWriteNone(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, mia := e.Register("Owner"), e.Register("Mia")
		e.CreateTenant(owner, "acme")
		e.AddMember(owner, "acme", mia, "MEMBER") // notifies Mia
		p := e.CreateProject(owner.Caller("acme"), "Rocket")
		createAssignedTask(t, e, owner.Caller("acme"), p, "Fuel", mia.ID) // notifies Mia again
		ids := notificationIDs(t, e, mia.Caller("acme"))
		if len(ids) != 2 {
			t.Fatalf("Mia's notifications: got %d, want 2", len(ids))
		}
		before := actCountAll(t, e)
		e.MustDo(mia.Caller("acme"), `mutation($id: ID!) { markNotificationRead(id: $id) { read } }`, map[string]any{"id": ids[0]}, nil)
		var all struct{ MarkAllNotificationsRead int }
		e.MustDo(mia.Caller("acme"), `mutation { markAllNotificationsRead }`, nil, &all)
		if all.MarkAllNotificationsRead != 1 {
			t.Errorf("markAllNotificationsRead: got %d, want 1", all.MarkAllNotificationsRead)
		}
		if got := actCountAll(t, e); got != before {
			t.Errorf("entries: got %d after marking read, want %d (none written)", got, before)
		}
	})
}

// TestActivityFailedMutationWritesNone: a mutation that fails, whatever the
// reason and whichever of its fields fails, leaves no entry.
func TestActivityFailedMutationWritesNone(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, mia, vic := e.Register("Owner"), e.Register("Mia"), e.Register("Vic")
		e.CreateTenant(owner, "acme")
		e.AddMember(owner, "acme", mia, "MEMBER")
		e.AddMember(owner, "acme", vic, "VIEWER")
		o, m := owner.Caller("acme"), mia.Caller("acme")
		p := e.CreateProject(o, "Rocket")
		task := e.CreateTask(o, p, "Fuel")
		comment := e.CreateComment(o, task, "mine")
		ownerMembership := isoMembershipOf(t, e, o, owner)
		tests := []struct {
			name  string
			as    graphtest.Caller
			query string
			vars  map[string]any
			want  string
		}{
			{"validation error", m, `mutation { createProject(input: {name: ""}) { id } }`, nil, "BAD_USER_INPUT"},
			{"role below @hasRole", vic.Caller("acme"), `mutation { createProject(input: {name: "x"}) { id } }`, nil, "FORBIDDEN"},
			{"not the comment's author", m, `mutation($id: ID!) { updateComment(id: $id, input: {body: "x"}) { id } }`, map[string]any{"id": comment}, "FORBIDDEN"},
			{"not in the workflow", m, `mutation($id: ID!) { transitionProject(id: $id, to: APPROVED) { id } }`, map[string]any{"id": p}, "INVALID_TRANSITION"},
			{"last owner", o, `mutation($id: ID!) { updateMemberRole(id: $id, role: VIEWER) { id } }`, map[string]any{"id": ownerMembership}, "CONFLICT"},
			{"second field fails validation", m, `mutation($id: ID!) {
				a: updateProject(id: $id, input: {name: "Renamed"}) { id }
				b: createTask(input: {projectID: $id, title: "ok"}) { id }
				c: createProject(input: {name: ""}) { id } }`, map[string]any{"id": p}, "BAD_USER_INPUT"},
			{"second field is forbidden", m, `mutation($id: ID!) {
				a: transitionProject(id: $id, to: SUBMITTED) { id }
				b: deleteProject(id: $id) }`, map[string]any{"id": p}, "FORBIDDEN"},
			{"second field names nothing", o, `mutation($id: ID!, $t: ID!) {
				a: createComment(input: {taskID: $t, body: "x"}) { id }
				b: removeMember(id: $id) }`, map[string]any{"id": p, "t": task}, "NOT_FOUND"},
			{"config then a bad config", o, `mutation {
				a: updateTenantConfig(input: {notificationChannels: [IN_APP, EMAIL]}) { id }
				b: updateTenantConfig(input: {notificationChannels: [SLACK]}) { id } }`, nil, "BAD_USER_INPUT"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := actCountAll(t, e)
				r := e.Do(tt.as, tt.query, tt.vars)
				if !slices.ContainsFunc(r.Errors, func(x graphtest.Error) bool { return x.Code() == tt.want }) {
					t.Fatalf("got %+v, want a %s error", r.Errors, tt.want)
				}
				if got := actCountAll(t, e); got != before {
					t.Errorf("entries: got %d, want %d (none written)", got, before)
				}
			})
		}
	})
}

// TestActivityIsAppendOnly: the API offers no way to change or delete an
// entry, and the data layer refuses to, even for the tenant's OWNER.
func TestActivityIsAppendOnly(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		tenantID := e.CreateTenant(owner, "acme")
		o := owner.Caller("acme")
		e.CreateProject(o, "Rocket")

		t.Run("no mutation touches the log", func(t *testing.T) {
			var out struct {
				Schema struct {
					MutationType struct {
						Fields []json.RawMessage
					}
				} `json:"__schema"`
			}
			isoMust(t, e, o, `{ __schema { mutationType { fields {
				name
				type { name ofType { name ofType { name } } }
				args { name type { name ofType { name ofType { name } } } } } } } }`, nil, &out)
			if len(out.Schema.MutationType.Fields) < 15 {
				t.Fatalf("mutation fields: got %d, want the schema's mutations", len(out.Schema.MutationType.Fields))
			}
			for _, f := range out.Schema.MutationType.Fields {
				if strings.Contains(strings.ToLower(string(f)), "activity") {
					t.Errorf("a mutation mentions the activity log: %s", f)
				}
			}
		})

		t.Run("the data layer refuses", func(t *testing.T) {
			entries, err := e.DB.Client.ActivityLog.Query().Where(activitylog.Action("project.create")).All(acctSystemContext())
			if err != nil || len(entries) != 1 {
				t.Fatalf("got %d entries (%v), want the project's", len(entries), err)
			}
			entry := entries[0]
			ctx := viewer.NewContext(context.Background(), &viewer.Viewer{
				UserID: authDecodeID(t, owner.ID), TenantID: authDecodeID(t, tenantID), Role: role.Owner,
			})
			c := e.DB.Client.ActivityLog
			attempts := map[string]error{
				"UpdateOne": c.UpdateOneID(entry.ID).Exec(ctx),
				"Update":    c.Update().Where(activitylog.ID(entry.ID)).Exec(ctx),
				"DeleteOne": c.DeleteOneID(entry.ID).Exec(ctx),
			}
			_, attempts["Delete"] = c.Delete().Where(activitylog.ID(entry.ID)).Exec(ctx)
			for name, err := range attempts {
				if err == nil {
					t.Errorf("%s as the OWNER: got nil, want a refusal", name)
				}
			}
			after, err := e.DB.Client.ActivityLog.Get(acctSystemContext(), entry.ID)
			if err != nil || after.Summary != entry.Summary || !after.CreatedAt.Equal(entry.CreatedAt) {
				t.Errorf("the entry after the attempts: got %+v (%v), want it unchanged", after, err)
			}
		})
	})
}

// TestActivityAppendOnlyEvenForSystemWork: the ActivityLog policy
// (ent/schema/policy.go) promises that "nothing updates or deletes an entry,
// system work included", but a privacy decision on the context
// (privacy.DecisionContext(ctx, privacy.Allow), the system context of
// start-up and background work) skips every policy, the AlwaysDenyRule on
// updates and deletes included. Keeping the promise needs a schema hook on
// ActivityLog that rejects OpUpdate|OpUpdateOne|OpDelete|OpDeleteOne (hooks
// run whatever the privacy decision), then go generate.
func TestActivityAppendOnlyEvenForSystemWork(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		c := e.DB.Client.ActivityLog
		entry, err := c.Query().Where(activitylog.Action("tenant.create")).Only(acctSystemContext())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.UpdateOneID(entry.ID).Exec(acctSystemContext()); err == nil {
			t.Error("update in the system context: got nil, want a refusal")
		}
		if n, err := c.Delete().Where(activitylog.ID(entry.ID)).Exec(acctSystemContext()); err == nil {
			t.Errorf("delete in the system context: deleted %d, want a refusal", n)
		}
	})
}

// A project's activity asked for in a mutation's answer includes the entry
// the mutation itself wrote: the field reads in the mutation's transaction.
func TestActivityInAMutationsAnswerIncludesItsEntry(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		o := owner.Caller("acme")
		p := e.CreateProject(o, "Rocket")
		var out struct {
			TransitionProject struct {
				Activity struct {
					Edges []struct {
						Node struct{ Action, Summary string }
					}
				}
			}
		}
		e.MustDo(o, `mutation($id: ID!) { transitionProject(id: $id, to: SUBMITTED) {
			activity(first: 5) { edges { node { action summary } } } } }`, map[string]any{"id": p}, &out)
		edges := out.TransitionProject.Activity.Edges
		if len(edges) == 0 || edges[0].Node.Action != "project.transition" || edges[0].Node.Summary != "DRAFT → SUBMITTED" {
			t.Fatalf("the answer's activity: got %+v, want the transition's entry first", edges)
		}
	})
}
