package graph_test

// The text of notifications about objects with unusual names.

import (
	"strings"
	"testing"

	"tenantgraph/graph/graphtest"
)

// A notification quotes a project's or task's name as it is, and a name
// of the full 200 characters notifies like any other: neither escaped
// (the zero-width joiners inside emoji such as 👨‍💻 as \u200d, quotes as
// \") nor so long with escapes that the notification could not be written
// and the change failed.
func TestNotificationQuotesNamesAsTheyAre(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member := e.Register("Owner"), e.Register("Member")
		e.CreateTenant(owner, "acme")
		e.AddMember(owner, "acme", member, "MEMBER")
		oc, mc := owner.Caller("acme"), member.Caller("acme")

		family := strings.Repeat("👨‍👩‍👧", 40) // 200 characters, 80 of them zero-width joiners
		quotes := strings.Repeat(`"\`, 100)   // 200 characters
		tests := []struct {
			name, projectName, taskTitle string
		}{
			{"emoji", "👨‍💻 Dev team", "Ship 👩‍🚀"},
			{"200 characters with joiners", family, family},
			{"200 quotes and backslashes", quotes, quotes},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := e.CreateProject(mc, tt.projectName)
				r := e.Do(mc, `mutation($id: ID!) { transitionProject(id: $id, to: SUBMITTED) { status } }`, map[string]any{"id": p})
				if len(r.Errors) > 0 {
					t.Fatalf("submitting: %+v", r.Errors)
				}
				task := e.CreateTask(mc, p, tt.taskTitle)
				r = e.Do(oc, `mutation($id: ID!) { createComment(input: {taskID: $id, body: "Looks good"}) { id } }`, map[string]any{"id": task})
				if len(r.Errors) > 0 {
					t.Fatalf("commenting: %+v", r.Errors)
				}
				want := map[graphtest.Caller]string{
					oc: `"` + tt.projectName + `" was submitted for approval`,
					mc: `"` + tt.taskTitle + `"`,
				}
				for c, prefix := range map[graphtest.Caller]string{oc: "", mc: "New comment on "} {
					var out struct {
						Notifications struct {
							Edges []struct{ Node struct{ Title string } }
						}
					}
					pgMust(t, e, c, `{ notifications(first: 1) { edges { node { title } } } }`, nil, &out)
					if len(out.Notifications.Edges) != 1 {
						t.Fatalf("got %d notifications, want 1", len(out.Notifications.Edges))
					}
					if got := out.Notifications.Edges[0].Node.Title; got != prefix+want[c] {
						t.Errorf("title: got %s, want %s", got, prefix+want[c])
					}
				}
			})
		}
	})
}
