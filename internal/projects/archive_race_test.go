package projects_test

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"tenantgraph/ent"
	"tenantgraph/ent/privacy"
	"tenantgraph/ent/task"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/database"
	"tenantgraph/internal/globalid"
	"tenantgraph/internal/projects"
	"tenantgraph/internal/role"
	"tenantgraph/internal/viewer"
	"tenantgraph/internal/workflow"
)

// An ARCHIVED project is read-only, and archiving it while one of its tasks
// or comments is being changed keeps it so: the archive, committed by a
// second transaction at the moment the change writes, either waits for the
// change to commit, or the change fails with the archived case's Conflict.
// It never commits a change to a project that was archived before it.
// PostgreSQL only: SQLite's write transactions take turns from their start,
// so the archive cannot come between the change's check and its write.
func TestArchiveRacingAChangeOfItsTasks(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		if e.Dialect != dialect.Postgres {
			t.Skip("SQLite serialises write transactions")
		}
		ctx, caller := ownerOfAcme(t, e)
		svc := projects.NewService(nil)
		title, body := "after", "after"
		// A context carrying a firstWrite func runs it at each write made
		// with it (hooks are the client's, its transactions' too).
		e.DB.Client.Use(func(next ent.Mutator) ent.Mutator {
			return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
				if f, ok := ctx.Value(firstWrite{}).(func()); ok {
					f()
				}
				return next.Mutate(ctx, m)
			})
		})

		for _, tc := range []struct {
			name   string
			change func(ctx context.Context, c *ent.Client, project, task, comment int) error
		}{
			{"createTask", func(ctx context.Context, c *ent.Client, p, _, _ int) error {
				_, err := svc.CreateTask(ctx, c, projects.CreateTaskInput{ProjectID: p, Title: title})
				return err
			}},
			{"updateTask", func(ctx context.Context, c *ent.Client, _, tk, _ int) error {
				_, err := svc.UpdateTask(ctx, c, tk, projects.UpdateTaskInput{Title: &title})
				return err
			}},
			{"deleteTask", func(ctx context.Context, c *ent.Client, _, tk, _ int) error { return svc.DeleteTask(ctx, c, tk) }},
			{"createComment", func(ctx context.Context, c *ent.Client, _, tk, _ int) error {
				_, err := svc.CreateComment(ctx, c, tk, body)
				return err
			}},
			{"updateComment", func(ctx context.Context, c *ent.Client, _, _, cm int) error {
				_, err := svc.UpdateComment(ctx, c, cm, body)
				return err
			}},
			{"deleteComment", func(ctx context.Context, c *ent.Client, _, _, cm int) error { return svc.DeleteComment(ctx, c, cm) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := e.CreateProject(caller, tc.name)
				tk := e.CreateTask(caller, p, "before")
				cm := e.CreateComment(caller, tk, "before")
				project := mustDecode(t, p)

				// At the change's first write, after its checks, a manager
				// archives the project.
				archived := make(chan error, 1)
				var archivedFirst bool
				var once sync.Once
				changeCtx := context.WithValue(ctx, firstWrite{}, func() {
					once.Do(func() {
						go func() { archived <- archive(ctx, e.DB.Client, svc, project) }()
						archivedFirst = archivedOrWaiting(t, e, archived)
					})
				})
				tx, err := e.DB.Client.Tx(changeCtx)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback() //nolint:errcheck // a no-op after Commit
				err = tc.change(changeCtx, tx.Client(), project, mustDecode(t, tk), mustDecode(t, cm))
				if err == nil {
					err = tx.Commit()
				}
				switch {
				case archivedFirst && err == nil:
					t.Errorf("the change committed after the project was archived")
				case archivedFirst && !apperr.Is(err, apperr.Conflict):
					t.Errorf("the change after the archive: got %v, want Conflict", err)
				case !archivedFirst && err != nil:
					t.Errorf("the change the archive waited for: got %v, want it committed", err)
				}
				_ = tx.Rollback()
				select {
				case err := <-archived: // once the change has ended
					if err != nil {
						t.Fatalf("archiving: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the archive still waits 10s after the change ended")
				}
				got, err := e.DB.Client.Project.Get(privacy.DecisionContext(context.Background(), privacy.Allow), project)
				if err != nil || got.Status != workflow.Archived {
					t.Fatalf("the project after the race: %v (%v), want ARCHIVED", got, err)
				}
			})
		}
	})
}

// firstWrite is the context key of a func run at each write (ent hook).
type firstWrite struct{}

// archive moves the project to ARCHIVED in a transaction of its own.
func archive(ctx context.Context, c *ent.Client, svc *projects.Service, project int) error {
	tx, err := c.Tx(ctx)
	if err != nil {
		return err
	}
	if _, err := svc.Transition(ctx, tx.Client(), project, workflow.Archived); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// archivedOrWaiting waits until the archive has committed (true) or waits
// on a lock (false). It fails the test after 10s of neither.
func archivedOrWaiting(t *testing.T, e *graphtest.Env, archived chan error) bool {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		select {
		case err := <-archived:
			archived <- err // for the test to read once the change has ended
			return err == nil
		default:
		}
		if e.LockWaiters(t) > 0 {
			return false
		}
	}
	t.Fatal("the archive neither committed nor waited on a lock within 10s")
	return false
}

// ownerOfAcme registers Olga, the OWNER of a new tenant acme, and returns
// her context for the service and her caller for the API.
func ownerOfAcme(t *testing.T, e *graphtest.Env) (context.Context, graphtest.Caller) {
	t.Helper()
	owner := e.Register("Olga")
	tenant := mustDecode(t, e.CreateTenant(owner, "acme"))
	return viewer.NewContext(context.Background(),
		&viewer.Viewer{UserID: mustDecode(t, owner.ID), TenantID: tenant, Role: role.Owner}), owner.Caller("acme")
}

// begin opens a transaction, rolled back at the test's end unless
// committed.
func begin(t *testing.T, e *graphtest.Env, ctx context.Context) *ent.Tx {
	t.Helper()
	tx, err := e.DB.Client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() }) // a no-op after Commit
	return tx
}

// mustDecode is the integer ID of a global ID.
func mustDecode(t *testing.T, gid string) int {
	t.Helper()
	id, err := globalid.Decode(gid)
	if err != nil {
		t.Fatalf("decoding %q: %v", gid, err)
	}
	return id
}

// Two mutations that each change a task of one project and then update the
// project itself, at the same time, both commit: the change's lock on the
// project's row is the one the update takes anyway, so neither waits for a
// lock the other holds (with FOR SHARE, both held the row shared and each
// update waited for the other: PostgreSQL's deadlock error).
func TestTaskChangeThenProjectUpdateDoNotDeadlock(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		if e.Dialect != dialect.Postgres {
			t.Skip("SQLite serialises write transactions")
		}
		ctx, caller := ownerOfAcme(t, e)
		p := mustDecode(t, e.CreateProject(caller, "Shared"))
		svc := projects.NewService(nil)
		mutation := func(tx *ent.Tx, name string) error {
			if _, err := svc.CreateTask(ctx, tx.Client(), projects.CreateTaskInput{ProjectID: p, Title: name}); err != nil {
				return err
			}
			if _, err := svc.UpdateProject(ctx, tx.Client(), p, projects.UpdateProjectInput{Name: &name}); err != nil {
				return err
			}
			return tx.Commit()
		}
		tx1 := begin(t, e, ctx)
		if _, err := svc.CreateTask(ctx, tx1.Client(), projects.CreateTaskInput{ProjectID: p, Title: "first"}); err != nil {
			t.Fatal(err)
		}
		second := make(chan error, 1)
		go func() {
			tx2, err := e.DB.Client.Tx(ctx)
			if err == nil {
				err = mutation(tx2, "second")
				_ = tx2.Rollback()
			}
			second <- err
		}()
		e.AwaitLockWait(t)
		name := "first"
		if _, err := svc.UpdateProject(ctx, tx1.Client(), p, projects.UpdateProjectInput{Name: &name}); err != nil {
			t.Fatalf("the first mutation's update: %v", err)
		}
		if err := tx1.Commit(); err != nil {
			t.Fatalf("the first mutation's commit: %v", err)
		}
		if err := <-second; err != nil {
			t.Fatalf("the second mutation: %v", err)
		}
	})
}

// Two mutations that change tasks of two projects in opposite orders each
// hold one project's lock and wait for the other's. PostgreSQL breaks the
// deadlock by failing one; its error is database.Contended (the API
// answers CONFLICT: send it again), its transaction writes nothing, and
// the other commits.
func TestOppositeOrderTaskChangesOneFailsContended(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		if e.Dialect != dialect.Postgres {
			t.Skip("SQLite serialises write transactions")
		}
		ctx, caller := ownerOfAcme(t, e)
		p1 := mustDecode(t, e.CreateProject(caller, "One"))
		p2 := mustDecode(t, e.CreateProject(caller, "Two"))
		svc := projects.NewService(nil)
		create := func(tx *ent.Tx, p int, title string) error {
			_, err := svc.CreateTask(ctx, tx.Client(), projects.CreateTaskInput{ProjectID: p, Title: title})
			return err
		}
		txA, txB := begin(t, e, ctx), begin(t, e, ctx)
		if err := create(txA, p1, "A1"); err != nil {
			t.Fatal(err)
		}
		if err := create(txB, p2, "B2"); err != nil {
			t.Fatal(err)
		}
		aDone := make(chan error, 1)
		go func() {
			err := create(txA, p2, "A2")
			if err == nil {
				err = txA.Commit()
			}
			aDone <- err
		}()
		e.AwaitLockWait(t)
		errB := create(txB, p1, "B1")
		if errB == nil {
			errB = txB.Commit()
		} else {
			_ = txB.Rollback() // let A go on
		}
		errA := <-aDone
		if (errA == nil) == (errB == nil) {
			t.Fatalf("got A: %v, B: %v; want exactly one to fail", errA, errB)
		}
		failed := cmp.Or(errA, errB)
		if !database.Contended(failed) {
			t.Errorf("the failure: %v; want it Contended (a deadlock PostgreSQL broke)", failed)
		}
		titles, err := e.DB.Client.Task.Query().Select(task.FieldTitle).Strings(privacy.DecisionContext(ctx, privacy.Allow))
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(titles)
		if want := map[bool][]string{true: {"A1", "A2"}, false: {"B1", "B2"}}[errA == nil]; !slices.Equal(titles, want) {
			t.Errorf("tasks: got %v, want only the committed mutation's %v", titles, want)
		}
	})
}
