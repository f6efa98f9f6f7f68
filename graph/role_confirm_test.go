package graph_test

// A mutation's checks use the caller's role as read when the operation
// started. A demotion or removal that commits while the mutation runs must
// not let through what only the old role allowed: the transaction reads
// the role again just before it commits (tenancy.ConfirmRole), and the
// mutation is refused with FORBIDDEN, writing nothing.

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"tenantgraph/ent"
	entcomment "tenantgraph/ent/comment"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/privacy"
	enttask "tenantgraph/ent/task"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/role"
	"tenantgraph/internal/workflow"
)

func TestRoleConfirmedAtCommit(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		sys := privacy.DecisionContext(context.Background(), privacy.Allow)
		owner, mia := e.Register("Olga"), e.Register("Mia")
		e.CreateTenant(owner, "acme")
		miaMembership := authDecodeID(t, e.AddMember(owner, "acme", mia, "MANAGER"))
		o, m := owner.Caller("acme"), mia.Caller("acme")

		// meanwhile, when set, runs once at the mutation's first write of
		// a project, task or comment: after its checks, before its commit.
		// On PostgreSQL it commits on a connection of its own, as a
		// concurrent OWNER's change would; SQLite's write transactions
		// take turns, so there it writes in the mutation's transaction,
		// which is what its commit would read all the same.
		var meanwhile atomic.Pointer[func(context.Context, *ent.Client) error]
		e.DB.Client.Use(func(next ent.Mutator) ent.Mutator {
			return ent.MutateFunc(func(ctx context.Context, mu ent.Mutation) (ent.Value, error) {
				if typ := mu.Type(); typ == "Project" || typ == "Task" || typ == "Comment" {
					if f := meanwhile.Swap(nil); f != nil {
						c := e.DB.Client
						if e.Dialect == dialect.SQLite {
							c = mu.(interface{ Client() *ent.Client }).Client()
						}
						done := make(chan error, 1)
						go func() { done <- (*f)(sys, c) }()
						select {
						case err := <-done:
							if err != nil {
								t.Errorf("the change meanwhile: %v", err)
							}
						case <-time.After(10 * time.Second):
							t.Errorf("the change meanwhile did not end in 10s")
						}
					}
				}
				return next.Mutate(ctx, mu)
			})
		})
		demote := func(ctx context.Context, c *ent.Client) error {
			return c.Membership.UpdateOneID(miaMembership).SetRole(role.Member).Exec(ctx)
		}
		remove := func(ctx context.Context, c *ent.Client) error {
			return c.Membership.DeleteOneID(miaMembership).Exec(ctx)
		}
		restore := func(t *testing.T) {
			t.Helper()
			n, err := e.DB.Client.Membership.Update().Where(membership.ID(miaMembership)).SetRole(role.Manager).Save(sys)
			if err == nil && n == 0 {
				miaMembership = authDecodeID(t, e.AddMember(owner, "acme", mia, "MANAGER"))
			} else if err != nil {
				t.Fatal(err)
			}
		}

		project := e.CreateProject(o, "Apollo")
		e.Transition(o, project, "SUBMITTED")
		task := e.CreateTask(o, project, "the owner's task")
		comment := e.CreateComment(o, task, "the owner's comment")

		for _, tc := range []struct {
			name, query string
			vars        map[string]any
			meanwhile   func(context.Context, *ent.Client) error
			message     string
			unchanged   func(t *testing.T)
		}{
			{"approve, demoted to MEMBER", `mutation($id: ID!) { transitionProject(id: $id, to: APPROVED) { status } }`,
				map[string]any{"id": project}, demote, "changed to MEMBER", func(t *testing.T) {
					if p, err := e.DB.Client.Project.Get(sys, authDecodeID(t, project)); err != nil || p.Status != workflow.Submitted {
						t.Errorf("project: got %v (%v), want still SUBMITTED", p, err)
					}
				}},
			{"delete another's task, removed", `mutation($id: ID!) { deleteTask(id: $id) }`,
				map[string]any{"id": task}, remove, "removed", func(t *testing.T) {
					if ok, err := e.DB.Client.Task.Query().Where(enttask.ID(authDecodeID(t, task))).Exist(sys); err != nil || !ok {
						t.Errorf("task: exists %v (%v), want it kept", ok, err)
					}
				}},
			{"delete another's comment, demoted to MEMBER", `mutation($id: ID!) { deleteComment(id: $id) }`,
				map[string]any{"id": comment}, demote, "changed to MEMBER", func(t *testing.T) {
					if ok, err := e.DB.Client.Comment.Query().Where(entcomment.ID(authDecodeID(t, comment))).Exist(sys); err != nil || !ok {
						t.Errorf("comment: exists %v (%v), want it kept", ok, err)
					}
				}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				defer restore(t)
				activities, _ := e.DB.Client.ActivityLog.Query().Count(sys)
				meanwhile.Store(&tc.meanwhile)
				r := e.Do(m, tc.query, tc.vars)
				if meanwhile.Load() != nil {
					t.Fatal("the mutation wrote nothing for the change to come between")
				}
				if r.Code() != "FORBIDDEN" || !strings.Contains(r.Errors[0].Message, tc.message) || string(r.Data) != "null" {
					t.Fatalf("got %s %+v, want FORBIDDEN (%q) and data null", r.Data, r.Errors, tc.message)
				}
				tc.unchanged(t)
				if n, _ := e.DB.Client.ActivityLog.Query().Count(sys); n != activities {
					t.Errorf("activity entries: got %d, want %d (none written)", n, activities)
				}
			})
		}

		// Unchallenged, the same MANAGER's mutations commit, and an OWNER
		// may still step down (their role is read under the tenant's lock,
		// and that read is not repeated at the commit).
		rlWant(t, "approving", e.Do(m, `mutation($id: ID!) { transitionProject(id: $id, to: APPROVED) { status } }`, map[string]any{"id": project}), "")
		rlWant(t, "deleting the comment", e.Do(m, `mutation($id: ID!) { deleteComment(id: $id) }`, map[string]any{"id": comment}), "")
		e.AddMember(owner, "acme", e.Register("Ann"), "OWNER")
		var members struct {
			Members struct {
				Edges []struct {
					Node struct {
						ID   string
						User struct{ Email string }
					}
				}
			}
		}
		e.Do(o, `{ members(first: 10) { edges { node { id user { email } } } } }`, nil).Decode(t, &members)
		var ownID string
		for _, edge := range members.Members.Edges {
			if edge.Node.User.Email == owner.Email {
				ownID = edge.Node.ID
			}
		}
		rlWant(t, "the owner demoting themselves", e.Do(o, `mutation($id: ID!) { updateMemberRole(id: $id, role: MEMBER) { role } }`, map[string]any{"id": ownID}), "")
	})
}
