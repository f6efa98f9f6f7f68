package database_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	atlasmigrate "ariga.io/atlas/sql/migrate"

	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/database"
)

// newTestPostgres opens a fresh, empty PostgreSQL database (skipped without
// TEST_DATABASE_URL outside CI, as graphtest.Dialects does).
func newTestPostgres(t *testing.T) (*sql.DB, string) {
	t.Helper()
	url := graphtest.PostgresURL(t)
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, url
}

// newTestMigrations builds a migration directory, with its atlas.sum, from
// file names and contents, and reads it.
func newTestMigrations(t *testing.T, files map[string]string) []database.Migration {
	t.Helper()
	ms, err := database.ReadMigrations(newTestDir(t, files))
	if err != nil {
		t.Fatalf("reading test migrations: %v", err)
	}
	return ms
}

func newTestDir(t *testing.T, files map[string]string) fstest.MapFS {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	dir := fstest.MapFS{}
	var af []atlasmigrate.File
	for _, n := range names {
		dir[n] = &fstest.MapFile{Data: []byte(files[n])}
		af = append(af, atlasmigrate.NewLocalFile(n, []byte(files[n])))
	}
	sum, err := atlasmigrate.NewHashFile(af)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sum.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	dir[atlasmigrate.HashFileName] = &fstest.MapFile{Data: b}
	return dir
}

// threeMigrations each depend on the one before, so applying them out of
// order fails.
var threeMigrations = map[string]string{
	"0001_create_widgets.sql": "-- widgets\nCREATE TABLE widgets (id bigint PRIMARY KEY);\n",
	"0002_add_widget_name.sql": "ALTER TABLE widgets ADD COLUMN name text NOT NULL DEFAULT '';\n" +
		"CREATE INDEX widgets_name ON widgets (name);\n",
	"0003_create_parts.sql": "CREATE TABLE parts (id bigint PRIMARY KEY, widget_id bigint NOT NULL REFERENCES widgets (id));\n",
}

func versionsOf[T any](xs []T, version func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = version(x)
	}
	return out
}

func migrationVersions(ms []database.Migration) []string {
	return versionsOf(ms, func(m database.Migration) string { return m.Version })
}

func appliedVersions(as []database.AppliedMigration) []string {
	return versionsOf(as, func(a database.AppliedMigration) string { return a.Version })
}

// recorded returns schema_migrations' version and name, in version order.
func recorded(t *testing.T, db *sql.DB) []string {
	t.Helper()
	return queryStrings(t, db, `SELECT version || '_' || name FROM schema_migrations ORDER BY version`)
}

// queryStrings returns the one text column of query's rows, in order, as
// db (a pool, or one of its connections) answers it.
func queryStrings(t *testing.T, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var ok bool
	if err := db.QueryRow(`SELECT to_regclass($1) IS NOT NULL`, name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestMigratorUpAppliesPendingInOrder(t *testing.T) {
	db, _ := newTestPostgres(t)
	ctx := context.Background()
	ms := newTestMigrations(t, threeMigrations)

	applied, err := database.NewMigrator(db, ms).Up(ctx)
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	if got, want := migrationVersions(applied), []string{"0001", "0002", "0003"}; !slices.Equal(got, want) {
		t.Errorf("applied %v, want %v", got, want)
	}
	if got, want := recorded(t, db), []string{"0001_create_widgets", "0002_add_widget_name", "0003_create_parts"}; !slices.Equal(got, want) {
		t.Errorf("schema_migrations holds %v, want %v", got, want)
	}
	var checksums []string
	if err := func() error {
		rows, err := db.Query(`SELECT checksum FROM schema_migrations ORDER BY version`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				return err
			}
			checksums = append(checksums, c)
		}
		return rows.Err()
	}(); err != nil {
		t.Fatal(err)
	}
	if want := versionsOf(ms, func(m database.Migration) string { return m.Checksum }); !slices.Equal(checksums, want) {
		t.Errorf("recorded checksums %v, want %v", checksums, want)
	}
	if _, err := db.Exec(`INSERT INTO widgets (id, name) VALUES (1, 'w'); INSERT INTO parts (id, widget_id) VALUES (1, 1)`); err != nil {
		t.Errorf("the migrated schema does not take rows: %v", err)
	}
}

func TestMigratorUpTwiceIsANoOp(t *testing.T) {
	db, _ := newTestPostgres(t)
	ctx := context.Background()
	m := database.NewMigrator(db, newTestMigrations(t, threeMigrations))
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("first up: %v", err)
	}
	before := recorded(t, db)
	applied, err := m.Up(ctx)
	if err != nil {
		t.Fatalf("second up: %v", err)
	}
	if len(applied) != 0 {
		t.Errorf("second up applied %v, want nothing", migrationVersions(applied))
	}
	if got := recorded(t, db); !slices.Equal(got, before) {
		t.Errorf("schema_migrations after the second up: got %v, want %v", got, before)
	}
}

func TestMigratorStatus(t *testing.T) {
	db, _ := newTestPostgres(t)
	ctx := context.Background()
	all := newTestMigrations(t, threeMigrations)

	t.Run("a database never migrated has everything pending", func(t *testing.T) {
		s, err := database.NewMigrator(db, all).Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Applied) != 0 || !slices.Equal(migrationVersions(s.Pending), []string{"0001", "0002", "0003"}) {
			t.Errorf("got applied %v pending %v, want none applied and all three pending", appliedVersions(s.Applied), migrationVersions(s.Pending))
		}
		if tableExists(t, db, "schema_migrations") {
			t.Error("status created schema_migrations, want it to change nothing")
		}
	})

	if _, err := database.NewMigrator(db, all[:2]).Up(ctx); err != nil {
		t.Fatalf("up to 0002: %v", err)
	}

	t.Run("applied and pending after a partial up", func(t *testing.T) {
		s, err := database.NewMigrator(db, all).Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := appliedVersions(s.Applied), []string{"0001", "0002"}; !slices.Equal(got, want) {
			t.Errorf("applied %v, want %v", got, want)
		}
		for _, a := range s.Applied {
			if a.AppliedAt.IsZero() || a.Name == "" {
				t.Errorf("applied %s: got name %q at %v, want its name and time", a.Version, a.Name, a.AppliedAt)
			}
		}
		if got, want := migrationVersions(s.Pending), []string{"0003"}; !slices.Equal(got, want) {
			t.Errorf("pending %v, want %v", got, want)
		}
		if len(s.Unknown)+len(s.Changed) != 0 {
			t.Errorf("got unknown %v changed %v, want none", appliedVersions(s.Unknown), migrationVersions(s.Changed))
		}
		var behind *database.BehindError
		_, err = database.NewMigrator(db, all).CheckCurrent(ctx)
		if !errors.As(err, &behind) || !strings.Contains(err.Error(), "0003_create_parts.sql") {
			t.Errorf("CheckCurrent: got %v, want a BehindError naming 0003_create_parts.sql", err)
		}
	})

	t.Run("applied migrations this binary lacks are unknown", func(t *testing.T) {
		s, err := database.NewMigrator(db, all[1:]).Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := appliedVersions(s.Unknown), []string{"0001"}; !slices.Equal(got, want) {
			t.Errorf("unknown %v, want %v", got, want)
		}
	})

	t.Run("an applied migration whose file changed is reported", func(t *testing.T) {
		edited := map[string]string{}
		for k, v := range threeMigrations {
			edited[k] = v
		}
		edited["0002_add_widget_name.sql"] += "-- edited\n"
		s, err := database.NewMigrator(db, newTestMigrations(t, edited)).Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := migrationVersions(s.Changed), []string{"0002"}; !slices.Equal(got, want) {
			t.Errorf("changed %v, want %v", got, want)
		}
	})

}

// Two branches each add a migration; the later one is released (and applied)
// first. The earlier one is still pending and up applies it.
func TestMigratorUpAppliesAMigrationOlderThanTheLatest(t *testing.T) {
	db, _ := newTestPostgres(t)
	ctx := context.Background()
	all := newTestMigrations(t, threeMigrations)
	first := []database.Migration{all[0], all[2]}
	if _, err := database.NewMigrator(db, first).Up(ctx); err != nil {
		t.Fatalf("up without 0002: %v", err)
	}
	applied, err := database.NewMigrator(db, all).Up(ctx)
	if err != nil {
		t.Fatalf("up with 0002: %v", err)
	}
	if got, want := migrationVersions(applied), []string{"0002"}; !slices.Equal(got, want) {
		t.Errorf("applied %v, want %v", got, want)
	}
	if got, want := len(recorded(t, db)), 3; got != want {
		t.Errorf("schema_migrations has %d rows, want %d", got, want)
	}
}

func TestMigratorUpStopsAtAFailingMigration(t *testing.T) {
	db, _ := newTestPostgres(t)
	ctx := context.Background()
	ms := newTestMigrations(t, map[string]string{
		"0001_create_widgets.sql": "CREATE TABLE widgets (id bigint PRIMARY KEY);\n",
		// The first statement succeeds; the second fails: the whole file
		// must be rolled back.
		"0002_broken.sql":       "CREATE TABLE half_done (id bigint);\nALTER TABLE no_such_table ADD COLUMN x int;\n",
		"0003_create_parts.sql": "CREATE TABLE parts (id bigint PRIMARY KEY);\n",
	})
	m := database.NewMigrator(db, ms)
	applied, err := m.Up(ctx)
	if err == nil {
		t.Fatal("up succeeded, want the broken migration to fail it")
	}
	for _, want := range []string{"0002_broken.sql", "statement 2", "no_such_table", "rolled back"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if got, want := migrationVersions(applied), []string{"0001"}; !slices.Equal(got, want) {
		t.Errorf("applied %v, want %v (those before the failure)", got, want)
	}
	if got, want := recorded(t, db), []string{"0001_create_widgets"}; !slices.Equal(got, want) {
		t.Errorf("schema_migrations holds %v, want %v", got, want)
	}
	if tableExists(t, db, "half_done") {
		t.Error("table half_done exists, want the failed migration's first statement rolled back")
	}
	if tableExists(t, db, "parts") {
		t.Error("table parts exists, want up to stop at the failure")
	}
	s, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := migrationVersions(s.Pending), []string{"0002", "0003"}; !slices.Equal(got, want) {
		t.Errorf("pending after the failure %v, want %v", got, want)
	}
}

// Several instances starting at once with MIGRATE_ON_START: each has its own
// connection pool; every migration must be applied exactly once. The
// migrations are not idempotent (a second CREATE TABLE fails, a second
// INSERT adds a row), and the first is slow so that the runs overlap.
func TestMigratorConcurrentUpsApplyEachMigrationOnce(t *testing.T) {
	_, url := newTestPostgres(t)
	ctx := context.Background()
	ms := newTestMigrations(t, map[string]string{
		"0001_slow.sql":  "CREATE TABLE runs (n int);\nSELECT pg_sleep(0.3);\n",
		"0002_count.sql": "INSERT INTO runs VALUES (2);\n",
		"0003_more.sql":  "CREATE TABLE more (id int);\nINSERT INTO runs VALUES (3);\n",
	})
	const instances = 4
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied []string
		errs    []error
	)
	for range instances {
		db, err := sql.Open("postgres", url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := database.NewMigrator(db, ms).Up(ctx)
			mu.Lock()
			defer mu.Unlock()
			applied = append(applied, migrationVersions(got)...)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if len(errs) != 0 {
		t.Fatalf("concurrent ups failed: %v", errs)
	}
	sort.Strings(applied)
	if want := []string{"0001", "0002", "0003"}; !slices.Equal(applied, want) {
		t.Errorf("applied across %d instances: %v, want each migration once: %v", instances, applied, want)
	}
	db, _ := sql.Open("postgres", url)
	defer db.Close()
	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM runs`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 2 {
		t.Errorf("runs has %d rows, want 2 (one per INSERT migration)", rows)
	}
	if got := recorded(t, db); len(got) != 3 {
		t.Errorf("schema_migrations holds %v, want 3 rows", got)
	}
}
