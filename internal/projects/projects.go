// Package projects holds the rules for projects, their tasks and comments:
// validation, who may change what, the read-only state of archived projects,
// and status changes through the workflow table. Every function takes the
// tenant-scoped ent client of the request (the mutation's transaction), so
// another tenant's rows are simply not found.
package projects

import (
	"context"
	"fmt"

	"entgo.io/ent/dialect"

	"tenantgraph/ent"
	"tenantgraph/ent/comment"
	"tenantgraph/ent/project"
	"tenantgraph/ent/task"
	"tenantgraph/internal/activity"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/changes"
	"tenantgraph/internal/validate"
	"tenantgraph/internal/viewer"
	"tenantgraph/internal/workflow"
)

// Notifier is told about changes that notify people. Its calls run inside the
// change's transaction (c), so a rolled-back change notifies no one.
type Notifier interface {
	ProjectTransitioned(ctx context.Context, c *ent.Client, p *ent.Project, from workflow.Status) error
	TaskAssigned(ctx context.Context, c *ent.Client, t *ent.Task) error
	CommentAdded(ctx context.Context, c *ent.Client, cm *ent.Comment, t *ent.Task) error
}

// Service applies the rules and tells its Notifier what happened.
type Service struct{ notify Notifier }

// NewService returns a Service notifying through n (nil: nobody is notified).
func NewService(n Notifier) *Service { return &Service{notify: n} }

// Optional is an update of a nullable field: Set says whether the input named
// the field at all; a nil Value then clears it.
type Optional[T any] struct {
	Set   bool
	Value *T
}

// CreateProjectInput describes a new project.
type CreateProjectInput struct {
	Name        string
	Description *string
}

// UpdateProjectInput changes a project's name or description. Nil or unset
// fields stay as they are.
type UpdateProjectInput struct {
	Name        *string
	Description Optional[string]
}

var errProjectNotFound = apperr.New(apperr.NotFound, "no such project")

// CreateProject creates a project in the workflow's initial status, created
// by the caller.
func (s *Service) CreateProject(ctx context.Context, c *ent.Client, in CreateProjectInput) (*ent.Project, error) {
	if err := validate.Line("name", in.Name, 1, 200); err != nil {
		return nil, err
	}
	if err := validateDescription(in.Description); err != nil {
		return nil, err
	}
	p, err := c.Project.Create().
		SetName(in.Name).
		SetNillableDescription(in.Description).
		SetStatus(workflow.Initial).
		SetCreatedByID(viewer.FromContext(ctx).UserID).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("projects: creating project: %w", err)
	}
	var ch changes.List
	ch.Add("name", "", p.Name)
	ch.Add("description", "", activity.Text(p.Description))
	ch.Add("status", "", string(p.Status))
	return p, activity.Record(ctx, c, activity.Entry{
		Action: "project.create", EntityType: "Project", EntityID: p.ID,
		Summary: "created project " + activity.Quote(p.Name), Changes: ch,
	})
}

// UpdateProject edits a project's name or description. An archived project
// is Conflict; another tenant's is NotFound.
func (s *Service) UpdateProject(ctx context.Context, c *ent.Client, id int, in UpdateProjectInput) (*ent.Project, error) {
	if in.Name != nil {
		if err := validate.Line("name", *in.Name, 1, 200); err != nil {
			return nil, err
		}
	}
	if in.Description.Set {
		if err := validateDescription(in.Description.Value); err != nil {
			return nil, err
		}
	}
	// Locked on PostgreSQL, as a change of its tasks locks it: an update
	// that read the row while another waited to commit logged that one's
	// change as its own (the update below stays conditional on the status).
	before, err := writableProject(ctx, c, id)
	if err != nil {
		return nil, err
	}
	u := c.Project.Update().
		Where(project.ID(id), project.StatusNEQ(workflow.Archived)).
		SetNillableName(in.Name)
	if in.Description.Set {
		if in.Description.Value == nil {
			u.ClearDescription()
		} else {
			u.SetDescription(*in.Description.Value)
		}
	}
	n, err := u.Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("projects: updating project: %w", err)
	}
	if n == 0 {
		return nil, movedMeanwhile(ctx, c, id, apperr.New(apperr.Conflict, "the project was archived meanwhile; it is read-only"))
	}
	after, err := c.Project.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("projects: reloading project %d: %w", id, err)
	}
	var ch changes.List
	ch.Add("name", before.Name, after.Name)
	ch.Add("description", activity.Text(before.Description), activity.Text(after.Description))
	return after, activity.Record(ctx, c, activity.Entry{
		Action: "project.update", EntityType: "Project", EntityID: id,
		Summary: "updated project " + activity.Quote(after.Name), Changes: ch,
	})
}

// DeleteProject deletes a project with its tasks and comments.
func (s *Service) DeleteProject(ctx context.Context, c *ent.Client, id int) error {
	p, err := getProject(ctx, c, id)
	if err != nil {
		return err
	}
	if _, err := c.Comment.Delete().Where(comment.HasTaskWith(task.ProjectID(id))).Exec(ctx); err != nil {
		return fmt.Errorf("projects: deleting comments of project %d: %w", id, err)
	}
	if _, err := c.Task.Delete().Where(task.ProjectID(id)).Exec(ctx); err != nil {
		return fmt.Errorf("projects: deleting tasks of project %d: %w", id, err)
	}
	if err := c.Project.DeleteOneID(id).Exec(ctx); err != nil {
		if ent.IsNotFound(err) {
			return errProjectNotFound
		}
		return fmt.Errorf("projects: deleting project %d: %w", id, err)
	}
	var ch changes.List
	ch.Add("name", p.Name, "")
	ch.Add("status", string(p.Status), "")
	return activity.Record(ctx, c, activity.Entry{
		Action: "project.delete", EntityType: "Project", EntityID: id,
		Summary: "deleted project " + activity.Quote(p.Name), Changes: ch,
	})
}

// Transition moves a project to status to, as the workflow table allows for
// the caller's role: a pair not in the table is InvalidTransition, a role
// below the row's is Forbidden. The update is conditional on the status read,
// so of two concurrent transitions from one status exactly one wins; the
// other gets Conflict.
func (s *Service) Transition(ctx context.Context, c *ent.Client, id int, to workflow.Status) (*ent.Project, error) {
	p, err := getProject(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if err := workflow.Check(p.Status, to, viewer.FromContext(ctx).Role); err != nil {
		return nil, err
	}
	n, err := c.Project.Update().
		Where(project.ID(id), project.StatusEQ(p.Status)).
		SetStatus(to).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("projects: transitioning project %d: %w", id, err)
	}
	if n == 0 {
		return nil, movedMeanwhile(ctx, c, id, apperr.New(apperr.Conflict, "the project left %s meanwhile; reload it and try again", p.Status))
	}
	moved, err := c.Project.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("projects: reloading project %d: %w", id, err)
	}
	if s.notify != nil {
		if err := s.notify.ProjectTransitioned(ctx, c, moved, p.Status); err != nil {
			return nil, err
		}
	}
	var ch changes.List
	ch.Add("status", string(p.Status), string(moved.Status))
	return moved, activity.Record(ctx, c, activity.Entry{
		Action: "project.transition", EntityType: "Project", EntityID: id,
		Summary: fmt.Sprintf("%s → %s", p.Status, moved.Status), Changes: ch,
	})
}

// AvailableTransitions lists the statuses the caller may move p to now.
func AvailableTransitions(ctx context.Context, p *ent.Project) []workflow.Status {
	return workflow.Available(p.Status, viewer.FromContext(ctx).Role)
}

func getProject(ctx context.Context, c *ent.Client, id int) (*ent.Project, error) {
	p, err := c.Project.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, errProjectNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("projects: loading project %d: %w", id, err)
	}
	return p, nil
}

// movedMeanwhile is the error of a conditional update of project id that
// changed no row: conflict if the project is still there, NotFound if it
// was deleted after it was read.
func movedMeanwhile(ctx context.Context, c *ent.Client, id int, conflict error) error {
	exists, err := c.Project.Query().Where(project.ID(id)).Exist(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("projects: checking project %d: %w", id, err)
	case !exists:
		return errProjectNotFound
	}
	return conflict
}

// writableProject loads a project whose tasks and comments accept changes:
// not archived. The change is written by the task's or comment's ID, with
// no condition on the project, so the status read must still hold when the
// change commits: on PostgreSQL the project's row is read FOR UPDATE and
// stays locked until the transaction ends, so that a concurrent archive
// (an UPDATE of the row) waits for the change, and a change that reads the
// project after an archive committed finds it archived (Conflict). SQLite's
// write transactions take turns from their start, so there the status
// read holds anyway.
//
// The lock is exclusive: changes to one project's tasks and comments take
// turns, each for the rest of its transaction. A shared lock (FOR SHARE)
// let them run side by side, but a mutation that changes a task and then
// updates or moves the project needs the row exclusively, and two of them
// at once each held it shared and waited for the other (PostgreSQL's
// deadlock error; archive_race_test.go).
func writableProject(ctx context.Context, c *ent.Client, id int) (*ent.Project, error) {
	q := c.Project.Query().Where(project.ID(id))
	if c.Dialect() == dialect.Postgres {
		q.ForUpdate()
	}
	p, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, errProjectNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("projects: loading project %d: %w", id, err)
	}
	if err := checkWritable(p); err != nil {
		return nil, err
	}
	return p, nil
}

// checkWritable refuses changes to an archived project (Conflict).
func checkWritable(p *ent.Project) error {
	if workflow.ReadOnly(p.Status) {
		return apperr.New(apperr.Conflict, "the project is %s and read-only", p.Status)
	}
	return nil
}

func validateDescription(d *string) error {
	if d == nil {
		return nil
	}
	return validate.Text("description", *d, 0, 10000)
}
