// Package activity writes and reads a tenant's audit trail. Every
// successful mutation of tenant data records exactly one entry, in the same
// transaction (so a failed mutation leaves none); nothing edits or deletes
// entries.
package activity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"entgo.io/contrib/entgql"

	"tenantgraph/ent"
	"tenantgraph/ent/activitylog"
	"tenantgraph/internal/changes"
	"tenantgraph/internal/globalid"
	"tenantgraph/internal/viewer"
)

// Entry is what one mutation did.
type Entry struct {
	Action     string // "project.transition", "member.remove", …
	EntityType string // the GraphQL type: "Project", "Membership", …
	EntityID   int
	Summary    string // one human line: `DRAFT → SUBMITTED`
	Changes    changes.List
}

// Record writes e for the caller, in c (the mutation's transaction).
func Record(ctx context.Context, c *ent.Client, e Entry) error {
	if e.Changes == nil {
		e.Changes = changes.List{}
	}
	err := c.ActivityLog.Create().
		SetActorID(viewer.FromContext(ctx).UserID).
		SetAction(e.Action).
		SetEntityType(e.EntityType).
		SetEntityID(e.EntityID).
		SetSummary(e.Summary).
		SetChanges(e.Changes).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("activity: recording %s: %w", e.Action, err)
	}
	return nil
}

// Text renders an optional string for a change.
func Text(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ID renders an optional reference as the GraphQL ID clients know it by.
func ID(id *int) string {
	if id == nil {
		return ""
	}
	return globalid.Encode(*id)
}

// Time renders an optional time for a change.
func Time(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Quote shortens s to a readable excerpt for a summary.
func Quote(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 60 {
		s = string(r[:59]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// newestFirst is the default order of the log.
var newestFirst = &ent.ActivityLogOrder{Direction: entgql.OrderDirectionDesc, Field: ent.ActivityLogOrderFieldCreatedAt}

// List pages through the tenant's log (the privacy layer lets only OWNERs
// read it), newest first unless order says otherwise, filtered by where.
func List(ctx context.Context, c *ent.Client, after *entgql.Cursor[int], first *int, before *entgql.Cursor[int], last *int,
	order *ent.ActivityLogOrder, where *ent.ActivityLogWhereInput) (*ent.ActivityLogConnection, error) {
	if order == nil {
		order = newestFirst
	}
	return c.ActivityLog.Query().Paginate(ctx, after, first, before, last,
		ent.WithActivityLogOrder(order), ent.WithActivityLogFilter(where.Filter))
}

// ForEntity pages through the entries about one object, newest first.
func ForEntity(ctx context.Context, c *ent.Client, entityType string, id int, after *entgql.Cursor[int], first *int, before *entgql.Cursor[int], last *int) (*ent.ActivityLogConnection, error) {
	return c.ActivityLog.Query().
		Where(activitylog.EntityType(entityType), activitylog.EntityID(id)).
		Paginate(ctx, after, first, before, last, ent.WithActivityLogOrder(newestFirst))
}
