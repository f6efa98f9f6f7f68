package schema_test

import (
	"slices"
	"testing"

	entschema "entgo.io/ent/dialect/sql/schema"

	"tenantgraph/ent/migrate"
)

// TestTenantQueriesHaveAnIndex: every tenant-owned table but the outbox
// (read across tenants, by status) has an index that begins with
// tenant_id, which every query of it filters on (the tenant interceptor),
// and none on tenant_id alone: such an index is written with every row
// and is never the best one to read (TenantMixin).
func TestTenantQueriesHaveAnIndex(t *testing.T) {
	for _, table := range migrate.Tables {
		if table.Name == migrate.OutboxEntriesTable.Name || !hasColumn(table.Columns, "tenant_id") {
			continue
		}
		led := false
		for _, idx := range table.Indexes {
			if idx.Columns[0].Name != "tenant_id" {
				continue
			}
			led = true
			if len(idx.Columns) == 1 {
				t.Errorf("%s: index %s is on tenant_id alone", table.Name, idx.Name)
			}
		}
		if !led {
			t.Errorf("%s: no index begins with tenant_id", table.Name)
		}
	}
}

func hasColumn(columns []*entschema.Column, name string) bool {
	for _, c := range columns {
		if c.Name == name {
			return true
		}
	}
	return false
}

// deletedTables are the tables whose rows the application deletes
// (internal/projects: projects, tasks, comments; internal/tenancy:
// memberships; the outbox and retention: outbox entries and
// notifications). Users and tenants are never deleted.
var deletedTables = []string{
	migrate.ProjectsTable.Name, migrate.TasksTable.Name, migrate.CommentsTable.Name,
	migrate.MembershipsTable.Name, migrate.OutboxEntriesTable.Name, migrate.NotificationsTable.Name,
}

// TestForeignKeysIntoDeletedTablesHaveAnIndex: deleting a row checks or
// acts on every row that refers to it (ON DELETE CASCADE, SET NULL, or the
// check that none is left), one lookup per foreign key per deleted row.
// Without an index that begins with the referring column, each lookup
// reads the whole referring table: deleting a project with 20 tasks read
// the notifications table 21 times (about 0.25 s each at a million
// rows, holding the project's locks).
func TestForeignKeysIntoDeletedTablesHaveAnIndex(t *testing.T) {
	for _, table := range migrate.Tables {
		for _, fk := range table.ForeignKeys {
			if !slices.Contains(deletedTables, fk.RefTable.Name) {
				continue
			}
			if len(fk.Columns) != 1 {
				t.Fatalf("%s: foreign key %s has %d columns; this test reads one", table.Name, fk.Symbol, len(fk.Columns))
			}
			col := fk.Columns[0].Name
			led := slices.ContainsFunc(table.Indexes, func(idx *entschema.Index) bool { return idx.Columns[0].Name == col })
			if pk := table.PrimaryKey; len(pk) > 0 && pk[0].Name == col {
				led = true
			}
			if !led {
				t.Errorf("%s.%s refers to %s, whose rows are deleted, and no index begins with it", table.Name, col, fk.RefTable.Name)
			}
		}
	}
}

// TestListsReadAnIndexInTheirOrder: each list below has an index that
// begins with the columns it filters on by equality (in any order) and
// goes on with the column it is ordered by, so that a page reads its rows
// and no more, however large the table (the README, "Lists", names the
// orders that have none and sort instead). Without one, PostgreSQL
// either sorts all the matching rows for a page or walks the primary key
// throwing other tenants' rows away: the first page of a new tenant's
// tasks, in the default order (by ID), read the 200,000 tasks of every
// other tenant first.
func TestListsReadAnIndexInTheirOrder(t *testing.T) {
	for _, l := range []struct {
		table   string
		equal   []string
		orderBy string // "" when the list has no order (a count, a lookup)
		what    string
	}{
		{migrate.ProjectsTable.Name, []string{"tenant_id"}, "id", "projects (the default order is by ID)"},
		{migrate.ProjectsTable.Name, []string{"tenant_id"}, "created_at", "projects(orderBy: CREATED_AT), ProjectTree"},
		{migrate.TasksTable.Name, []string{"tenant_id"}, "id", "tasks (the default order)"},
		{migrate.TasksTable.Name, []string{"tenant_id"}, "created_at", "tasks(orderBy: CREATED_AT)"},
		{migrate.TasksTable.Name, []string{"tenant_id", "project_id"}, "created_at", "tasks(where: {projectID})"},
		{migrate.TasksTable.Name, []string{"tenant_id", "assignee_id"}, "", "tasks(where: {assigneeID}): a member's tasks"},
		{migrate.CommentsTable.Name, []string{"tenant_id", "task_id"}, "created_at", "Task.comments"},
		{migrate.MembershipsTable.Name, []string{"tenant_id"}, "id", "members (the default order)"},
		{migrate.MembershipsTable.Name, []string{"user_id"}, "", "viewer { memberships }: a user's tenants, across tenants"},
		{migrate.NotificationsTable.Name, []string{"tenant_id", "recipient_id"}, "created_at", "notifications"},
		{migrate.NotificationsTable.Name, []string{"tenant_id", "recipient_id", "read"}, "created_at", "notifications(unreadOnly: true), unreadNotificationCount, markAllNotificationsRead"},
		{migrate.ActivityLogsTable.Name, []string{"tenant_id"}, "created_at", "activityLogs"},
		{migrate.ActivityLogsTable.Name, []string{"tenant_id", "entity_type", "entity_id"}, "", "Project.activity"},
		{migrate.OutboxEntriesTable.Name, []string{"status"}, "next_attempt_at", "the dispatcher's claim of due entries"},
		{migrate.OutboxEntriesTable.Name, []string{"status"}, "updated_at", "the retention sweep of finished entries"},
	} {
		table := tableNamed(t, l.table)
		if !slices.ContainsFunc(table.Indexes, func(idx *entschema.Index) bool { return serves(idx, l.equal, l.orderBy) }) {
			t.Errorf("%s: no index on %s begins with %v then %q", l.what, l.table, l.equal, l.orderBy)
		}
	}
}

// serves reports whether idx begins with the columns equal, in any order,
// followed by orderBy (when not empty).
func serves(idx *entschema.Index, equal []string, orderBy string) bool {
	want := len(equal)
	if orderBy != "" {
		want++
	}
	if len(idx.Columns) < want {
		return false
	}
	for _, c := range idx.Columns[:len(equal)] {
		if !slices.Contains(equal, c.Name) {
			return false
		}
	}
	return orderBy == "" || idx.Columns[len(equal)].Name == orderBy
}

func tableNamed(t *testing.T, name string) *entschema.Table {
	t.Helper()
	for _, table := range migrate.Tables {
		if table.Name == name {
			return table
		}
	}
	t.Fatalf("no table %s", name)
	return nil
}
