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
