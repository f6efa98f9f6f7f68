package projects

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent/dialect"

	"tenantgraph/ent"
	"tenantgraph/ent/comment"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/task"
	"tenantgraph/internal/activity"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/changes"
	"tenantgraph/internal/priority"
	"tenantgraph/internal/role"
	"tenantgraph/internal/validate"
	"tenantgraph/internal/viewer"
)

// CreateTaskInput describes a new task.
type CreateTaskInput struct {
	ProjectID   int
	Title       string
	Description *string
	Status      *task.Status
	Priority    *priority.Priority
	AssigneeID  *int
	DueDate     *time.Time
}

// UpdateTaskInput changes a task. Nil or unset fields stay as they are.
type UpdateTaskInput struct {
	Title       *string
	Description Optional[string]
	Status      *task.Status
	Priority    *priority.Priority
	AssigneeID  Optional[int]
	DueDate     Optional[time.Time]
}

var errTaskNotFound = apperr.New(apperr.NotFound, "no such task")

// CreateTask adds a task to a project of the tenant that is not archived.
// The assignee must be a member of the tenant (else Invalid).
func (s *Service) CreateTask(ctx context.Context, c *ent.Client, in CreateTaskInput) (*ent.Task, error) {
	if err := validate.Line("title", in.Title, 1, 200); err != nil {
		return nil, err
	}
	if err := validateDescription(in.Description); err != nil {
		return nil, err
	}
	if err := validateStatusPriority(in.Status, in.Priority); err != nil {
		return nil, err
	}
	if err := validateDueDate(in.DueDate); err != nil {
		return nil, err
	}
	// The parent is read through the scoped client: another tenant's project
	// is not found, so no task can be hung under it.
	if _, err := writableProject(ctx, c, in.ProjectID); err != nil {
		return nil, err
	}
	if err := checkAssignee(ctx, c, in.AssigneeID); err != nil {
		return nil, err
	}
	create := c.Task.Create().
		SetProjectID(in.ProjectID).
		SetTitle(in.Title).
		SetNillableDescription(in.Description).
		SetNillableStatus(in.Status).
		SetNillablePriority(in.Priority).
		SetNillableAssigneeID(in.AssigneeID).
		SetCreatedByID(viewer.FromContext(ctx).UserID)
	if in.DueDate != nil {
		create.SetDueDate(in.DueDate.UTC().Truncate(time.Microsecond))
	}
	t, err := create.Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("projects: creating task: %w", err)
	}
	if t.AssigneeID != nil && s.notify != nil {
		if err := s.notify.TaskAssigned(ctx, c, t); err != nil {
			return nil, err
		}
	}
	return t, activity.Record(ctx, c, activity.Entry{
		Action: "task.create", EntityType: "Task", EntityID: t.ID,
		Summary: "created task " + activity.Quote(t.Title), Changes: taskChanges(nil, t),
	})
}

// UpdateTask edits a task of a project that is not archived.
func (s *Service) UpdateTask(ctx context.Context, c *ent.Client, id int, in UpdateTaskInput) (*ent.Task, error) {
	if in.Title != nil {
		if err := validate.Line("title", *in.Title, 1, 200); err != nil {
			return nil, err
		}
	}
	if in.Description.Set {
		if err := validateDescription(in.Description.Value); err != nil {
			return nil, err
		}
	}
	if err := validateStatusPriority(in.Status, in.Priority); err != nil {
		return nil, err
	}
	if err := validateDueDate(in.DueDate.Value); err != nil {
		return nil, err
	}
	t, err := writableTask(ctx, c, id)
	if err != nil {
		return nil, err
	}
	u := t.Update().
		SetNillableTitle(in.Title).
		SetNillableStatus(in.Status).
		SetNillablePriority(in.Priority)
	if in.Description.Set {
		if in.Description.Value == nil {
			u.ClearDescription()
		} else {
			u.SetDescription(*in.Description.Value)
		}
	}
	if in.AssigneeID.Set {
		if in.AssigneeID.Value == nil {
			u.ClearAssignee()
		} else {
			if err := checkAssignee(ctx, c, in.AssigneeID.Value); err != nil {
				return nil, err
			}
			u.SetAssigneeID(*in.AssigneeID.Value)
		}
	}
	if in.DueDate.Set {
		if in.DueDate.Value == nil {
			u.ClearDueDate()
		} else {
			u.SetDueDate(in.DueDate.Value.UTC().Truncate(time.Microsecond))
		}
	}
	before := t
	t, err = u.Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("projects: updating task %d: %w", id, err)
	}
	if newlyAssigned(before.AssigneeID, t.AssigneeID) && s.notify != nil {
		if err := s.notify.TaskAssigned(ctx, c, t); err != nil {
			return nil, err
		}
	}
	return t, activity.Record(ctx, c, activity.Entry{
		Action: "task.update", EntityType: "Task", EntityID: t.ID,
		Summary: "updated task " + activity.Quote(t.Title), Changes: taskChanges(before, t),
	})
}

// DeleteTask deletes a task with its comments. Only its creator or a MANAGER
// and up may (else Forbidden).
func (s *Service) DeleteTask(ctx context.Context, c *ent.Client, id int) error {
	t, err := writableTask(ctx, c, id)
	if err != nil {
		return err
	}
	v := viewer.FromContext(ctx)
	if t.CreatedByID != v.UserID && !v.Has(role.Manager) {
		return apperr.New(apperr.Forbidden, "only the task's creator or a MANAGER and up may delete it")
	}
	if _, err := c.Comment.Delete().Where(comment.TaskID(id)).Exec(ctx); err != nil {
		return fmt.Errorf("projects: deleting comments of task %d: %w", id, err)
	}
	if err := c.Task.DeleteOneID(id).Exec(ctx); err != nil {
		return fmt.Errorf("projects: deleting task %d: %w", id, err)
	}
	return activity.Record(ctx, c, activity.Entry{
		Action: "task.delete", EntityType: "Task", EntityID: id,
		Summary: "deleted task " + activity.Quote(t.Title), Changes: taskChanges(t, nil),
	})
}

// taskChanges lists what changed from before to after (nil: the task did not
// exist on that side).
func taskChanges(before, after *ent.Task) changes.List {
	fields := func(t *ent.Task) map[string]string {
		if t == nil {
			return map[string]string{}
		}
		return map[string]string{
			"title": t.Title, "description": activity.Text(t.Description), "status": string(t.Status),
			"priority": t.Priority.String(), "assignee": activity.ID(t.AssigneeID), "dueDate": activity.Time(t.DueDate),
		}
	}
	b, a := fields(before), fields(after)
	var ch changes.List
	for _, f := range []string{"title", "description", "status", "priority", "assignee", "dueDate"} {
		ch.Add(f, b[f], a[f])
	}
	return ch
}

// newlyAssigned reports whether an update gave the task an assignee it did
// not have.
func newlyAssigned(before, after *int) bool {
	return after != nil && (before == nil || *before != *after)
}

// writableTask loads a task whose project is not archived. On PostgreSQL
// the task is read again once its project is locked (writableProject):
// every change to a task takes that lock first, so the second read sees
// the task as the changes before this one left it. The first read, made
// before the lock to learn the project, may be stale: an edit of the title
// that read it while a reassignment waited to commit took the assignee
// for new, notified them a second time and logged the reassignment as its
// own; a comment notified the previous assignee.
func writableTask(ctx context.Context, c *ent.Client, id int) (*ent.Task, error) {
	t, err := getTask(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if _, err := writableProject(ctx, c, t.ProjectID); err != nil {
		return nil, err
	}
	if c.Dialect() == dialect.Postgres {
		return getTask(ctx, c, id) // a task's project never changes
	}
	return t, nil
}

func getTask(ctx context.Context, c *ent.Client, id int) (*ent.Task, error) {
	t, err := c.Task.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, errTaskNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("projects: loading task %d: %w", id, err)
	}
	return t, nil
}

// checkAssignee requires the assignee to be a member of the current tenant.
func checkAssignee(ctx context.Context, c *ent.Client, id *int) error {
	if id == nil {
		return nil
	}
	ok, err := c.Membership.Query().Where(membership.UserID(*id)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("projects: checking assignee: %w", err)
	}
	if !ok {
		return apperr.InvalidField("assigneeID", "must be a member of the tenant")
	}
	return nil
}

func validateStatusPriority(s *task.Status, p *priority.Priority) error {
	if s != nil {
		if err := task.StatusValidator(*s); err != nil {
			return apperr.InvalidField("status", "must be TODO, IN_PROGRESS or DONE")
		}
	}
	if p != nil && (*p < priority.Low || *p > priority.Urgent) {
		return apperr.InvalidField("priority", "must be LOW, MEDIUM, HIGH or URGENT")
	}
	return nil
}

// validateDueDate refuses the zero time, which the GraphQL Time scalar makes
// of an empty string: it is no date anyone means.
func validateDueDate(d *time.Time) error {
	if d != nil && d.IsZero() {
		return apperr.InvalidField("dueDate", "must be an RFC 3339 time such as 2030-01-31T17:00:00Z")
	}
	return nil
}
