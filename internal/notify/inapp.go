package notify

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/notification"
	"tenantgraph/ent/project"
	"tenantgraph/ent/task"
	"tenantgraph/internal/pubsub"
)

// writeInApp writes one IN_APP notification for each of n's recipients who
// is a member of n's tenant and returns an event and the row (as written,
// its edges not loaded) for each. A broadcast calls it once per share of
// shareRows recipients (shares.go).
//
// A project submitted in a large tenant notifies every approver: through
// ent's bulk builder, 10,000 rows cost about 30 µs each (a builder, a
// mutation, the hooks and the policy per row, ten bind parameters per row
// in the statement), which every subscriber waited out before the first
// could be told. All the rows share everything but their recipient, so
// they are written by INSERT … SELECT, which reads the recipients'
// memberships and writes the rows in the database:
//
//	INSERT INTO notifications (tenant_id, recipient_id, kind, …, project_id, task_id)
//	SELECT tenant_id, user_id, ?, …,
//	  (SELECT id FROM projects WHERE id = ? AND tenant_id = ?), (SELECT id FROM tasks …)
//	FROM memberships
//	WHERE tenant_id = ? AND user_id IN (…) RETURNING id, recipient_id, project_id, task_id
//
// The project and the task are written through a subselect, NULL when the
// row is gone: a share is written after its change committed (shares.go),
// and the project or task may have been deleted since. The schema keeps
// the rows of a deleted project's notifications with no project (the
// edges are optional, deletion sets them NULL); a share written after the
// deletion must do the same rather than fail its foreign key on every
// attempt and never reach its recipients.
//
// On SQLite, one statement per bulkRows recipients (bind parameters are
// few there); on PostgreSQL, one statement whatever their number, the IDs
// bound as one array (user_id = ANY($n)): when a broadcast's rows were
// written in one transaction, ten statements with 1,001 parameters each
// took about 50 ms more for 10,000 recipients than one.
//
// ent cannot build that statement, so it runs through Client.RawQuery (in
// the caller's transaction, counted and traced), and what ent's builders
// would have applied is applied here: the defaults and the field
// validators; the caller has evaluated the Notification policy (deliver:
// the change's viewer) or is system work writing a share the change
// queued (writeShare). The rows' tenant is n.tenant.
func writeInApp(ctx context.Context, c *ent.Client, n inApp) ([]pubsub.Event, []*ent.Notification, error) {
	for _, err := range []error{notification.KindValidator(n.kind), notification.TitleValidator(n.title), notification.BodyValidator(n.body)} {
		if err != nil {
			return nil, nil, fmt.Errorf("notify: writing in-app notifications: %w", err)
		}
	}
	if n.tenant == 0 { // as stampTenant refuses it
		return nil, nil, fmt.Errorf("notify: writing in-app notifications without a tenant")
	}
	var events []pubsub.Event
	var written []*ent.Notification
	chunk := bulkRows
	if c.Dialect() == dialect.Postgres {
		chunk = max(len(n.recipients), 1) // one array parameter: one statement
	}
	for ids := range slices.Chunk(n.recipients, chunk) {
		query, args := inAppInsert(c.Dialect(), n, ids)
		var rows entsql.Rows
		if err := c.RawQuery(ctx, query, args, &rows); err != nil {
			return nil, nil, fmt.Errorf("notify: writing in-app notifications: %w", err)
		}
		for rows.Next() {
			ev := pubsub.Event{TenantID: n.tenant}
			var project, task sql.NullInt64
			if err := rows.Scan(&ev.NotificationID, &ev.UserID, &project, &task); err != nil {
				_ = rows.Close()
				return nil, nil, fmt.Errorf("notify: reading written notifications: %w", err)
			}
			events = append(events, ev)
			written = append(written, &ent.Notification{
				ID: ev.NotificationID, TenantID: n.tenant, RecipientID: ev.UserID, CreatedAt: n.at, UpdatedAt: n.at,
				Kind: n.kind, Title: n.title, Body: n.body, Read: notification.DefaultRead,
				ProjectID: nullable(project), TaskID: nullable(task),
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
func inAppInsert(dialectName string, n inApp, ids []int) (string, []any) {
	b := &entsql.Builder{}
	b.SetDialect(dialectName) // the dialect's placeholders and quoting
	arg := func(v any, pgType string) {
		if dialectName == dialect.Postgres {
			b.WriteString("CAST(").Arg(v).WriteString(" AS " + pgType + ")")
		} else {
			b.Arg(v)
		}
	}
	b.WriteString("INSERT INTO ").Ident(notification.Table).WriteString(" (").
		IdentComma(notification.FieldTenantID, notification.FieldRecipientID, notification.FieldCreatedAt, notification.FieldUpdatedAt,
			notification.FieldKind, notification.FieldTitle, notification.FieldBody, notification.FieldRead,
			notification.FieldProjectID, notification.FieldTaskID).
		WriteString(") SELECT ").IdentComma(membership.FieldTenantID, membership.FieldUserID).Comma()
	arg(n.at, "timestamptz")
	b.Comma()
	arg(n.at, "timestamptz")
	b.Comma()
	arg(string(n.kind), "text")
	b.Comma()
	arg(n.title, "text")
	b.Comma()
	arg(n.body, "text")
	b.Comma()
	arg(notification.DefaultRead, "boolean")
	b.Comma()
	existing(b, project.Table, n.projectID, n.tenant)
	b.Comma()
	existing(b, task.Table, n.taskID, n.tenant)
	b.WriteString(" FROM ").Ident(membership.Table).
		WriteString(" WHERE ").Ident(membership.FieldTenantID).WriteString(" = ").Arg(n.tenant).
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
	b.WriteString(" RETURNING ").IdentComma(notification.FieldID, notification.FieldRecipientID,
		notification.FieldProjectID, notification.FieldTaskID)
	return b.Query()
}

// existing writes the ID *id as a subselect of table that yields NULL when
// the tenant's row is gone (or NULL for a nil id). Projects and tasks
// have the same id and tenant_id columns. The parameters are compared
// with columns, so PostgreSQL types them without a cast, and the subselect
// has the column's type.
func existing(b *entsql.Builder, table string, id *int, tenant int) {
	if id == nil {
		b.WriteString("NULL")
		return
	}
	b.WriteString("(SELECT ").Ident(project.FieldID).WriteString(" FROM ").Ident(table).
		WriteString(" WHERE ").Ident(project.FieldID).WriteString(" = ").Arg(*id).
		WriteString(" AND ").Ident(project.FieldTenantID).WriteString(" = ").Arg(tenant).WriteByte(')')
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

// nullable is v as ent scans a nillable ID: a pointer of the row's own, or
// nil for NULL.
func nullable(v sql.NullInt64) *int {
	if !v.Valid {
		return nil
	}
	id := int(v.Int64)
	return &id
}
