package projects_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"entgo.io/ent/dialect"

	"tenantgraph/ent"
	"tenantgraph/ent/activitylog"
	"tenantgraph/ent/privacy"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/changes"
	"tenantgraph/internal/projects"
	"tenantgraph/internal/role"
	"tenantgraph/internal/viewer"
	"tenantgraph/internal/workflow"
)

// told records whom a Notifier was told to notify.
type told struct {
	mu       sync.Mutex
	assigned []int // TaskAssigned: the task's assignee
	comment  []int // CommentAdded: the task's assignee, 0 for none
}

func (n *told) ProjectTransitioned(context.Context, *ent.Client, *ent.Project, workflow.Status) error {
	return nil
}

func (n *told) TaskAssigned(_ context.Context, _ *ent.Client, t *ent.Task) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.assigned = append(n.assigned, *t.AssigneeID)
	return nil
}

func (n *told) CommentAdded(_ context.Context, _ *ent.Client, _ *ent.Comment, t *ent.Task) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	assignee := 0
	if t.AssigneeID != nil {
		assignee = *t.AssigneeID
	}
	n.comment = append(n.comment, assignee)
	return nil
}

// A change that read its task, comment or project while another change of
// it waited to commit acts on the row as that one left it: on PostgreSQL
// the second read is made under the project's lock. (An edit of a task's
// title used to take the assignee another mutation had just set for its
// own change: the assignee was told twice, and the activity log gave the
// reassignment to both; a comment notified the previous assignee.) SQLite's
// write transactions take turns from their start, so there the first read
// holds anyway.
func TestChangesActOnTheRowAsTheChangeBeforeLeftIt(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		if e.Dialect != dialect.Postgres {
			t.Skip("SQLite serialises write transactions")
		}
		owner := e.Register("Olga")
		tenant := mustDecode(t, e.CreateTenant(owner, "acme"))
		ctx := viewer.NewContext(context.Background(),
			&viewer.Viewer{UserID: mustDecode(t, owner.ID), TenantID: tenant, Role: role.Owner})
		caller := owner.Caller("acme")
		xena, yuri := e.Register("Xena"), e.Register("Yuri")
		e.AddMember(owner, "acme", xena, "MEMBER")
		e.AddMember(owner, "acme", yuri, "MEMBER")
		x, y := mustDecode(t, xena.ID), mustDecode(t, yuri.ID)
		p := e.CreateProject(caller, "Race")
		n := &told{}
		svc := projects.NewService(n)

		// first runs in a transaction left open; second starts in another
		// and, once it waits on a lock, the first commits.
		race := func(t *testing.T, first, second func(c *ent.Client) error) {
			t.Helper()
			tx := begin(t, e, ctx)
			if err := first(tx.Client()); err != nil {
				t.Fatalf("the first change: %v", err)
			}
			done := make(chan error, 1)
			go func() {
				tx2, err := e.DB.Client.Tx(ctx)
				if err == nil {
					if err = second(tx2.Client()); err == nil {
						err = tx2.Commit()
					}
					_ = tx2.Rollback()
				}
				done <- err
			}()
			e.AwaitLockWait(t)
			if err := tx.Commit(); err != nil {
				t.Fatalf("the first change's commit: %v", err)
			}
			if err := <-done; err != nil {
				t.Fatalf("the second change: %v", err)
			}
		}
		lastChanges := func(t *testing.T, action string) changes.List {
			t.Helper()
			entry, err := e.DB.Client.ActivityLog.Query().Where(activitylog.Action(action)).
				Order(ent.Desc(activitylog.FieldID)).First(privacy.DecisionContext(context.Background(), privacy.Allow))
			if err != nil {
				t.Fatal(err)
			}
			return entry.Changes
		}

		t.Run("a title edit behind a reassignment", func(t *testing.T) {
			tk := mustDecode(t, e.CreateTask(caller, p, "before"))
			title := "after"
			race(t, func(c *ent.Client) error {
				_, err := svc.UpdateTask(ctx, c, tk, projects.UpdateTaskInput{AssigneeID: projects.Optional[int]{Set: true, Value: &x}})
				return err
			}, func(c *ent.Client) error {
				_, err := svc.UpdateTask(ctx, c, tk, projects.UpdateTaskInput{Title: &title})
				return err
			})
			if !slices.Equal(n.assigned, []int{x}) {
				t.Errorf("assignees told: got %v, want [%d] once", n.assigned, x)
			}
			if got, want := lastChanges(t, "task.update"), (changes.List{{Field: "title", Old: "before", New: "after"}}); !slices.Equal(got, want) {
				t.Errorf("the title edit's changes: got %+v, want %+v", got, want)
			}
		})

		t.Run("a comment behind a reassignment", func(t *testing.T) {
			tk := mustDecode(t, e.CreateTask(caller, p, "commented"))
			if _, err := svc.UpdateTask(ctx, e.DB.Client, tk, projects.UpdateTaskInput{AssigneeID: projects.Optional[int]{Set: true, Value: &x}}); err != nil {
				t.Fatal(err)
			}
			n.comment = nil
			race(t, func(c *ent.Client) error {
				_, err := svc.UpdateTask(ctx, c, tk, projects.UpdateTaskInput{AssigneeID: projects.Optional[int]{Set: true, Value: &y}})
				return err
			}, func(c *ent.Client) error {
				_, err := svc.CreateComment(ctx, c, tk, "hello")
				return err
			})
			if !slices.Equal(n.comment, []int{y}) {
				t.Errorf("the comment's task assignee: got %v, want [%d] (the new one)", n.comment, y)
			}
		})

		t.Run("a comment edit behind another", func(t *testing.T) {
			tk := e.CreateTask(caller, p, "edited")
			cm := mustDecode(t, e.CreateComment(caller, tk, "one"))
			two, three := "two", "three"
			race(t, func(c *ent.Client) error {
				_, err := svc.UpdateComment(ctx, c, cm, two)
				return err
			}, func(c *ent.Client) error {
				_, err := svc.UpdateComment(ctx, c, cm, three)
				return err
			})
			if got, want := lastChanges(t, "comment.update"), (changes.List{{Field: "body", Old: "two", New: "three"}}); !slices.Equal(got, want) {
				t.Errorf("the second edit's changes: got %+v, want %+v", got, want)
			}
		})

		t.Run("a project edit behind another", func(t *testing.T) {
			pr := mustDecode(t, e.CreateProject(caller, "one"))
			two, three := "two", "three"
			race(t, func(c *ent.Client) error {
				_, err := svc.UpdateProject(ctx, c, pr, projects.UpdateProjectInput{Name: &two})
				return err
			}, func(c *ent.Client) error {
				_, err := svc.UpdateProject(ctx, c, pr, projects.UpdateProjectInput{Name: &three})
				return err
			})
			if got, want := lastChanges(t, "project.update"), (changes.List{{Field: "name", Old: "two", New: "three"}}); !slices.Equal(got, want) {
				t.Errorf("the second edit's changes: got %+v, want %+v", got, want)
			}
		})
	})
}

// A transition whose project was deleted after it was read is NotFound,
// not the Conflict of a project that moved on meanwhile (PostgreSQL: the
// read takes no lock).
func TestTransitionOfAProjectDeletedMeanwhileIsNotFound(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		if e.Dialect != dialect.Postgres {
			t.Skip("SQLite serialises write transactions")
		}
		ctx, caller := ownerOfAcme(t, e)
		p := mustDecode(t, e.CreateProject(caller, "Doomed"))
		svc := projects.NewService(nil)
		del := begin(t, e, ctx)
		if err := svc.DeleteProject(ctx, del.Client(), p); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			tx, err := e.DB.Client.Tx(ctx)
			if err == nil {
				_, err = svc.Transition(ctx, tx.Client(), p, workflow.Submitted)
				_ = tx.Rollback()
			}
			done <- err
		}()
		e.AwaitLockWait(t) // the transition's UPDATE waits for the delete
		if err := del.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("the transition: got %v, want NotFound", err)
		}
	})
}
