package projects

import (
	"context"
	"fmt"

	"entgo.io/ent/dialect"

	"tenantgraph/ent"
	"tenantgraph/internal/activity"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/changes"
	"tenantgraph/internal/role"
	"tenantgraph/internal/validate"
	"tenantgraph/internal/viewer"
)

var errCommentNotFound = apperr.New(apperr.NotFound, "no such comment")

// CreateComment adds the caller's comment to a task whose project is not
// archived.
func (s *Service) CreateComment(ctx context.Context, c *ent.Client, taskID int, body string) (*ent.Comment, error) {
	if err := validate.Text("body", body, 1, 10000); err != nil {
		return nil, err
	}
	t, err := writableTask(ctx, c, taskID)
	if err != nil {
		return nil, err
	}
	cm, err := c.Comment.Create().
		SetTaskID(taskID).
		SetBody(body).
		SetAuthorID(viewer.FromContext(ctx).UserID).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("projects: creating comment: %w", err)
	}
	if s.notify != nil {
		if err := s.notify.CommentAdded(ctx, c, cm, t); err != nil {
			return nil, err
		}
	}
	var ch changes.List
	ch.Add("body", "", cm.Body)
	return cm, activity.Record(ctx, c, activity.Entry{
		Action: "comment.create", EntityType: "Comment", EntityID: cm.ID,
		Summary: "commented on task " + activity.Quote(t.Title), Changes: ch,
	})
}

// UpdateComment edits a comment. Only its author may (else Forbidden).
func (s *Service) UpdateComment(ctx context.Context, c *ent.Client, id int, body string) (*ent.Comment, error) {
	if err := validate.Text("body", body, 1, 10000); err != nil {
		return nil, err
	}
	cm, err := writableComment(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if cm.AuthorID != viewer.FromContext(ctx).UserID {
		return nil, apperr.New(apperr.Forbidden, "only the comment's author may edit it")
	}
	old := cm.Body
	cm, err = cm.Update().SetBody(body).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("projects: updating comment %d: %w", id, err)
	}
	var ch changes.List
	ch.Add("body", old, cm.Body)
	return cm, activity.Record(ctx, c, activity.Entry{
		Action: "comment.update", EntityType: "Comment", EntityID: cm.ID,
		Summary: "edited a comment", Changes: ch,
	})
}

// DeleteComment deletes a comment. Its author or a MANAGER and up may (else
// Forbidden).
func (s *Service) DeleteComment(ctx context.Context, c *ent.Client, id int) error {
	cm, err := writableComment(ctx, c, id)
	if err != nil {
		return err
	}
	v := viewer.FromContext(ctx)
	if cm.AuthorID != v.UserID && !v.Has(role.Manager) {
		return apperr.New(apperr.Forbidden, "only the comment's author or a MANAGER and up may delete it")
	}
	if err := c.Comment.DeleteOneID(id).Exec(ctx); err != nil {
		return fmt.Errorf("projects: deleting comment %d: %w", id, err)
	}
	var ch changes.List
	ch.Add("body", cm.Body, "")
	return activity.Record(ctx, c, activity.Entry{
		Action: "comment.delete", EntityType: "Comment", EntityID: id,
		Summary: "deleted a comment", Changes: ch,
	})
}

func writableComment(ctx context.Context, c *ent.Client, id int) (*ent.Comment, error) {
	cm, err := getComment(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if _, err := writableTask(ctx, c, cm.TaskID); err != nil {
		return nil, err
	}
	if c.Dialect() == dialect.Postgres {
		return getComment(ctx, c, id) // read again under the project's lock, as writableTask does
	}
	return cm, nil
}

func getComment(ctx context.Context, c *ent.Client, id int) (*ent.Comment, error) {
	cm, err := c.Comment.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, errCommentNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("projects: loading comment %d: %w", id, err)
	}
	return cm, nil
}
