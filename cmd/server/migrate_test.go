package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/database"
)

// runCommand runs the binary's run() to completion with env and returns its
// standard output and error.
func runCommand(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"server"}, args...), func(k string) string { return env[k] }, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

func embeddedMigrations(t *testing.T) []database.Migration {
	t.Helper()
	ms, err := database.PostgresMigrations()
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func countApplied(t *testing.T, url string) int {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRow(`SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		return 0
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMigrateCommandsOnPostgres(t *testing.T) {
	env := map[string]string{"DATABASE_URL": graphtest.PostgresURL(t)}
	ms := embeddedMigrations(t)

	steps := []struct {
		name string
		args []string
		want []string
	}{
		{"status before", []string{"migrate", "status"}, []string{
			ms[0].Version, "pending", fmt.Sprintf("0 applied, %d pending.", len(ms)), "migrate up",
		}},
		{"up", []string{"migrate", "up"}, []string{
			"applied " + ms[0].File, "applied " + ms[len(ms)-1].File, fmt.Sprintf("Applied %d migration(s)", len(ms)),
		}},
		{"up again", []string{"migrate", "up"}, []string{"up to date: nothing to apply"}},
		{"status after", []string{"migrate", "status"}, []string{
			ms[0].Version, ms[0].Name, "applied", fmt.Sprintf("%d applied, 0 pending.", len(ms)),
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out, err := runCommand(t, env, s.args...)
			if err != nil {
				t.Fatalf("%v: %v\n%s", s.args, err, out)
			}
			for _, w := range s.want {
				if !strings.Contains(out, w) {
					t.Errorf("%v printed %q, want it to contain %q", s.args, out, w)
				}
			}
		})
	}
	if got := countApplied(t, env["DATABASE_URL"]); got != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", got, len(ms))
	}
}

func TestServeRefusesASchemaBehind(t *testing.T) {
	url := graphtest.PostgresURL(t)
	ms := embeddedMigrations(t)
	_, err := runCommand(t, map[string]string{"DATABASE_URL": url, "LISTEN_ADDR": "127.0.0.1:0"})
	if err == nil {
		t.Fatal("the server started on an unmigrated database, want it to refuse")
	}
	want := []string{"schema is behind", "pending migration", "server migrate up", "go run ./cmd/server migrate up", "MIGRATE_ON_START=1"}
	for _, m := range ms {
		want = append(want, m.File)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if got := countApplied(t, url); got != 0 {
		t.Errorf("schema_migrations has %d rows after the refusal, want the database untouched", got)
	}
}

// A database that a newer release migrated further is served, with a
// warning naming what this binary does not know, so that the previous
// release keeps serving during a rolling upgrade (README: such migrations
// must be backward compatible); `migrate status` lists them.
func TestServeASchemaAhead(t *testing.T) {
	url := graphtest.PostgresURL(t)
	env := map[string]string{"DATABASE_URL": url, "LISTEN_ADDR": "127.0.0.1:0", "BCRYPT_COST": "4"}
	if out, err := runCommand(t, env, "migrate", "up"); err != nil {
		t.Fatalf("migrate up: %v\n%s", err, out)
	}
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, checksum) VALUES ('99991231000000', 'from_a_newer_release', 'x')`); err != nil {
		t.Fatal(err)
	}

	api, _, stderr, stop := startServerLogged(t, nil, env)
	if out := post(t, api, `mutation { register(input: {email: "ada@example.com", name: "Ada", password: "correct horse battery"}) { token } }`, ""); out["errors"] != nil {
		t.Errorf("register on a schema ahead: got %v, want no errors", out["errors"])
	}
	if logs := stderr.String(); !strings.Contains(logs, "migrations this binary does not know") || !strings.Contains(logs, "99991231000000") {
		t.Errorf("no warning naming the unknown migration in the logs:\n%s", logs)
	}
	if err := stop(); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	out, err := runCommand(t, env, "migrate", "status")
	if err != nil || !strings.Contains(out, "applied (not in this binary)") || !strings.Contains(out, "from_a_newer_release") {
		t.Errorf("migrate status: %v\n%s\nwant the unknown migration listed as applied (not in this binary)", err, out)
	}
}

func TestServeMigratesOnStart(t *testing.T) {
	url := graphtest.PostgresURL(t)
	env := map[string]string{"DATABASE_URL": url, "LISTEN_ADDR": "127.0.0.1:0", "MIGRATE_ON_START": "1", "BCRYPT_COST": "4"}
	api, _, stop := startServer(t, nil, env)
	out := post(t, api, `mutation { register(input: {email: "ada@example.com", name: "Ada", password: "correct horse battery"}) { token } }`, "")
	if out["errors"] != nil {
		t.Errorf("register on the migrated schema: got %v, want no errors", out["errors"])
	}
	if err := stop(); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if got, want := countApplied(t, url), len(embeddedMigrations(t)); got != want {
		t.Errorf("schema_migrations has %d rows, want %d", got, want)
	}
	// Started again without MIGRATE_ON_START, it serves: nothing is pending.
	delete(env, "MIGRATE_ON_START")
	_, _, stop = startServer(t, nil, env)
	if err := stop(); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestMigrateCommandUsage(t *testing.T) {
	sqlite := "sqlite:" + filepath.Join(t.TempDir(), "app.db")
	tests := []struct {
		name    string
		args    []string
		wantErr string
		wantOut string
	}{
		{"no subcommand", []string{"migrate"}, "usage: server migrate up|status", ""},
		{"an unknown subcommand", []string{"migrate", "down"}, "usage: server migrate up|status", ""},
		{"an unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`, ""},
		{"up on SQLite", []string{"migrate", "up"}, "", "SQLite: the schema is created from the ent schema automatically"},
		{"status on SQLite", []string{"migrate", "status"}, "", "versioned migrations are for PostgreSQL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCommand(t, map[string]string{"DATABASE_URL": sqlite}, tc.args...)
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("%v: got error %v, want one containing %q", tc.args, err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Errorf("%v: got error %v, want none", tc.args, err)
			case !strings.Contains(out, tc.wantOut):
				t.Errorf("%v printed %q, want it to contain %q", tc.args, out, tc.wantOut)
			}
		})
	}
	if _, err := os.Stat(strings.TrimPrefix(sqlite, "sqlite:")); err != nil {
		t.Errorf("migrate up on SQLite: got %v, want the database file created", err)
	}
}
