package schema_test

import (
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
