package database_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"tenantgraph/internal/database"
)

// TestSQLiteMigrateDropsStaleIndexes: an SQLite file made by an earlier
// version keeps its rows and its unique indexes on Migrate, and loses the
// indexes the schema no longer declares (here the lone tenant_id index the
// tenant-owned tables had until 2026-12-02).
func TestSQLiteMigrateDropsStaleIndexes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := database.Open(ctx, "sqlite:"+path, database.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE INDEX "notification_tenant_id" ON "notifications" ("tenant_id")`,
		`INSERT INTO tenants (created_at, updated_at, name, slug, notification_channels) VALUES (datetime(), datetime(), 'Acme', 'acme', '[]')`,
	} {
		if _, err := db.SQL.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrating a file with a stale index: %v", err)
	}
	indexes := func(table string) []string {
		return queryStrings(t, db.SQL, `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? ORDER BY name`, table)
	}
	if got := indexes("notifications"); slices.Contains(got, "notification_tenant_id") {
		t.Errorf("notifications' indexes after Migrate: %v, want no notification_tenant_id", got)
	}
	if got := indexes("tenants"); !slices.Contains(got, "tenants_slug_key") {
		t.Errorf("tenants' indexes after Migrate: %v, want the unique tenants_slug_key kept", got)
	}
	var n int
	if err := db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM tenants`).Scan(&n); err != nil || n != 1 {
		t.Errorf("tenants after Migrate: %d (%v), want the 1 row kept", n, err)
	}
}
