package notify

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/notification"
	"tenantgraph/internal/pubsub"
	"tenantgraph/internal/viewer"
)

// writeInApp writes one IN_APP notification for each recipient who is a
// member of the current tenant and returns an event and the row (as
// written, its edges not loaded) for each.
//
// A project submitted in a large tenant notifies every approver: through
// ent's bulk builder, 10,000 rows cost about 30 µs each (a builder, a
// mutation, the hooks and the policy per row, ten bind parameters per row
// in the statement), which every subscriber waited out before the first
// could be told. All the rows share everything but their recipient, so
// they are written by INSERT … SELECT, which reads the recipients'
// memberships and writes the rows in the database:
//
//	INSERT INTO notifications (tenant_id, recipient_id, kind, …)
//	SELECT tenant_id, user_id, ?, … FROM memberships
//	WHERE tenant_id = ? AND user_id IN (…) RETURNING id, recipient_id
//
// On SQLite, one statement per bulkRows recipients (bind parameters are
// few there); on PostgreSQL, one statement whatever their number, the IDs
// bound as one array (user_id = ANY($n)): ten statements with 1,001
// parameters each took about 50 ms more for 10,000 recipients.
//
// ent cannot build that statement, so it runs through Client.RawQuery (in
// the request's transaction, counted and traced), and what ent's builders
// would have applied is applied here: the Notification policy (evaluated
// on a create mutation, as its hook does), the tenant (the viewer's, as
// stampTenant sets it), the defaults and the field validators.
func writeInApp(ctx context.Context, c *ent.Client, d delivery, title, body string) ([]pubsub.Event, []*ent.Notification, error) {
	if err := notification.Policy.EvalMutation(ctx, c.Notification.Create().Mutation()); err != nil {
		return nil, nil, fmt.Errorf("notify: writing in-app notifications: %w", err)
	}
	kind := notification.Kind(d.kind)
	for _, err := range []error{notification.KindValidator(kind), notification.TitleValidator(title), notification.BodyValidator(body)} {
		if err != nil {
			return nil, nil, fmt.Errorf("notify: writing in-app notifications: %w", err)
		}
	}
	v := viewer.FromContext(ctx)
	if v == nil || v.TenantID == 0 { // as stampTenant refuses it
		return nil, nil, fmt.Errorf("notify: writing in-app notifications without a tenant")
	}
	tenant := v.TenantID
	now := notification.DefaultCreatedAt() // as ent stamps it: UTC, in microseconds
	var events []pubsub.Event
	var written []*ent.Notification
	chunk := bulkRows
	if c.Dialect() == dialect.Postgres {
		chunk = max(len(d.recipients), 1) // one array parameter: one statement
	}
	for ids := range slices.Chunk(d.recipients, chunk) {
		query, args := inAppInsert(c.Dialect(), tenant, now, kind, title, body, d.projectID, d.taskID, ids)
		var rows entsql.Rows
		if err := c.RawQuery(ctx, query, args, &rows); err != nil {
			return nil, nil, fmt.Errorf("notify: writing in-app notifications: %w", err)
		}
		for rows.Next() {
			ev := pubsub.Event{TenantID: tenant}
			if err := rows.Scan(&ev.NotificationID, &ev.UserID); err != nil {
				_ = rows.Close()
				return nil, nil, fmt.Errorf("notify: reading written notifications: %w", err)
			}
			events = append(events, ev)
			written = append(written, &ent.Notification{
				ID: ev.NotificationID, TenantID: tenant, RecipientID: ev.UserID, CreatedAt: now, UpdatedAt: now,
				Kind: kind, Title: title, Body: body, Read: notification.DefaultRead,
				ProjectID: clone(d.projectID), TaskID: clone(d.taskID),
			})
		}
		err := rows.Err()
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, nil, fmt.Errorf("notify: reading written notifications: %w", err)
		}
	}
	return events, written, nil
}

// inAppInsert builds writeInApp's statement for the recipients ids.
// PostgreSQL types the bind parameters of a SELECT list as text unless
// told otherwise, so there they are cast to their columns' types; SQLite
// takes them as they are, as ent's own INSERT binds them.
func inAppInsert(dialectName string, tenant int, now time.Time, kind notification.Kind, title, body string, projectID, taskID *int, ids []int) (string, []any) {
	b := &entsql.Builder{}
	b.SetDialect(dialectName) // the dialect's placeholders and quoting
	arg := func(v any, pgType string) {
		switch {
		case v == nil:
			b.WriteString("NULL")
		case dialectName == dialect.Postgres:
			b.WriteString("CAST(").Arg(v).WriteString(" AS " + pgType + ")")
		default:
			b.Arg(v)
		}
	}
	b.WriteString("INSERT INTO ").Ident(notification.Table).WriteString(" (").
		IdentComma(notification.FieldTenantID, notification.FieldRecipientID, notification.FieldCreatedAt, notification.FieldUpdatedAt,
			notification.FieldKind, notification.FieldTitle, notification.FieldBody, notification.FieldRead,
			notification.FieldProjectID, notification.FieldTaskID).
		WriteString(") SELECT ").IdentComma(membership.FieldTenantID, membership.FieldUserID).Comma()
	arg(now, "timestamptz")
	b.Comma()
	arg(now, "timestamptz")
	b.Comma()
	arg(string(kind), "text")
	b.Comma()
	arg(title, "text")
	b.Comma()
	arg(body, "text")
	b.Comma()
	arg(notification.DefaultRead, "boolean")
	b.Comma()
	arg(nillable(projectID), "bigint")
	b.Comma()
	arg(nillable(taskID), "bigint")
	b.WriteString(" FROM ").Ident(membership.Table).
		WriteString(" WHERE ").Ident(membership.FieldTenantID).WriteString(" = ").Arg(tenant).
		WriteString(" AND ").Ident(membership.FieldUserID)
	if dialectName == dialect.Postgres {
		b.WriteString(" = ANY(CAST(").Arg(int8Array(ids)).WriteString(" AS bigint[]))")
	} else {
		b.WriteString(" IN (")
		for i, id := range ids {
			if i > 0 {
				b.Comma()
			}
			b.Arg(id)
		}
		b.WriteByte(')')
	}
	b.WriteString(" RETURNING ").IdentComma(notification.FieldID, notification.FieldRecipientID)
	return b.Query()
}

// int8Array is ids as a PostgreSQL array literal ({1,2,3}), for a
// bigint[] parameter.
func int8Array(ids []int) string {
	b := make([]byte, 0, 2+8*len(ids))
	b = append(b, '{')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return string(append(b, '}'))
}

// clone is a pointer to a copy of *p, or nil: each row gets its own, as
// ent's scan gives it.
func clone(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// nillable is *p, or an untyped nil (NULL) for a nil p.
func nillable(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}
