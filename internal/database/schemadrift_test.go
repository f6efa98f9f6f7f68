package database_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	atlasmigrate "ariga.io/atlas/sql/migrate"

	"tenantgraph/ent/migrate"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/database"
)

// newMigratedPostgres opens a fresh PostgreSQL database with the embedded
// migrations applied by the server's own applier.
func newMigratedPostgres(t *testing.T) *database.DB {
	t.Helper()
	ctx := context.Background()
	url := graphtest.PostgresURL(t)
	db, err := database.Open(ctx, url, database.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m, err := db.Migrator()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("applying migrations/postgres: %v", err)
	}
	return db
}

// diff compares db with the ent schema and returns the SQL that would close
// the gap ("" when there is none).
func diff(t *testing.T, db *database.DB) string {
	t.Helper()
	out := t.TempDir()
	dir, err := atlasmigrate.NewLocalDir(out)
	if err != nil {
		t.Fatal(err)
	}
	file, err := database.DiffSchema(context.Background(), db.SQL, dir, "drift", database.DiffInspect)
	if err != nil {
		t.Fatalf("diffing the migrated schema against ent: %v", err)
	}
	if file == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(out, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMigrationsMatchEntSchema is the guard against an un-generated
// migration: the committed migrations, applied to an empty database, must
// give exactly the schema the ent code expects. It fails when ent/schema
// changed without `go run ./cmd/migrategen NAME`.
func TestMigrationsMatchEntSchema(t *testing.T) {
	db := newMigratedPostgres(t)
	const fix = "ent/schema and migrations/postgres disagree. If you changed ent/schema, generate the migration and commit it:\n\n" +
		"    go run ./cmd/migrategen <name_of_the_change>    # uses TEST_DATABASE_URL's server, or -dev postgres://…\n\n"

	t.Run("no difference with ent", func(t *testing.T) {
		if sql := diff(t, db); sql != "" {
			t.Errorf("%sThe migrations lack:\n%s", fix, sql)
		}
	})

	t.Run("no table ent does not know", func(t *testing.T) {
		rows, err := db.SQL.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		want := []string{database.MigrationsTable}
		for _, tb := range migrate.Tables {
			want = append(want, tb.Name)
		}
		var extra []string
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(want, name) {
				extra = append(extra, name)
			}
		}
		if len(extra) > 0 {
			t.Errorf("%sThe migrations create tables ent has no schema for: %v", fix, extra)
		}
	})

	// The global IDs (ent/internal/globalid.go) decode a table from an ID's
	// range, so each table's identity must start at its range.
	t.Run("identities start at the global-ID ranges", func(t *testing.T) {
		for _, tb := range migrate.Tables {
			if tb.Annotation == nil || tb.Annotation.IncrementStart == nil {
				t.Errorf("table %s has no global-ID range in ent/migrate", tb.Name)
				continue
			}
			want := int64(*tb.Annotation.IncrementStart)
			if want == 0 { // PostgreSQL identities start at 1 at the lowest
				want = 1
			}
			var start string
			err := db.SQL.QueryRow(`SELECT identity_start FROM information_schema.columns
				WHERE table_schema = current_schema() AND table_name = $1 AND column_name = 'id' AND is_identity = 'YES'`, tb.Name).Scan(&start)
			if err != nil {
				t.Errorf("table %s: reading its id identity: %v", tb.Name, err)
				continue
			}
			if got, _ := strconv.ParseInt(start, 10, 64); got != want {
				t.Errorf("table %s: id starts at %s, want %d (its global-ID range)", tb.Name, start, want)
			}
		}
	})
}

// The drift check itself must see each kind of drift, or the test above
// proves nothing: here a migrated database is changed by hand the way a
// forgotten migration would leave it, and the diff must name the change.
func TestDiffSchemaDetectsDrift(t *testing.T) {
	tests := []struct {
		name   string
		change string
		want   string
	}{
		{"a missing index", `DROP INDEX task_tenant_id_created_at`, `CREATE INDEX "task_tenant_id_created_at"`},
		{"a missing column", `ALTER TABLE tasks DROP COLUMN due_sort`, `ADD COLUMN "due_sort"`},
		{"a column ent no longer has", `ALTER TABLE tasks ADD COLUMN legacy text`, `DROP COLUMN "legacy"`},
		{"a changed type", `ALTER TABLE projects ALTER COLUMN name TYPE text`, `"name"`},
		{"a missing foreign key", `ALTER TABLE comments DROP CONSTRAINT comments_tasks_comments`, `"comments_tasks_comments"`},
		{"a wrong identity start", `ALTER TABLE projects ALTER COLUMN id SET START WITH 1`, `START WITH 8589934592`},
		{"a missing table", `DROP TABLE activity_logs`, `CREATE TABLE "activity_logs"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := newMigratedPostgres(t)
			if _, err := db.SQL.Exec(tc.change); err != nil {
				t.Fatalf("%s: %v", tc.change, err)
			}
			got := diff(t, db)
			if !strings.Contains(got, tc.want) {
				t.Errorf("after %q the diff is %q, want it to contain %q", tc.change, got, tc.want)
			}
		})
	}
}
