package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	atlasmigrate "ariga.io/atlas/sql/migrate"

	"tenantgraph/internal/database"
)

// generate runs the command with dev as its -dev server and dir as its
// migration directory.
func generate(t *testing.T, dev, dir string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	all := append([]string{"migrategen", "-dev", dev, "-dir", dir}, args...)
	err := run(context.Background(), all, func(string) string { return "" }, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

func devServer(t *testing.T) string {
	t.Helper()
	dev := os.Getenv("TEST_DATABASE_URL")
	if dev == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but TEST_DATABASE_URL is not: the PostgreSQL tests cannot be skipped in CI")
		}
		t.Skip("TEST_DATABASE_URL is not set: the generator needs a PostgreSQL server (in CI it fails instead)")
	}
	return dev
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func TestGenerateWritesNothingWhenTheSchemaIsUnchanged(t *testing.T) {
	dev := devServer(t)
	dir := t.TempDir()
	committed := readDir(t, "../../migrations/postgres")
	for name, content := range committed {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := generate(t, dev, dir, "nothing_new")
	if err != nil {
		t.Fatalf("got %v, want success\n%s", err, out)
	}
	if !strings.Contains(out, "No schema changes") {
		t.Errorf("printed %q, want it to say there are no schema changes", out)
	}
	if got := readDir(t, dir); len(got) != len(committed) {
		t.Errorf("the directory has %d files after the run, want the %d it had", len(got), len(committed))
	}
}

func TestGenerateWritesTheMissingMigration(t *testing.T) {
	dev := devServer(t)
	dir := t.TempDir()
	out, err := generate(t, dev, dir, "everything")
	if err != nil {
		t.Fatalf("got %v, want success\n%s", err, out)
	}
	ms, err := database.ReadMigrations(os.DirFS(dir))
	if err != nil {
		t.Fatalf("reading what was written: %v", err)
	}
	if len(ms) != 1 || ms[0].Name != "everything" {
		t.Fatalf("wrote %v, want one migration named everything", ms)
	}
	if !strings.Contains(out, ms[0].File) {
		t.Errorf("printed %q, want it to name %s", out, ms[0].File)
	}
	// The global-ID range of tasks (ent/internal/globalid.go) is where its
	// identity starts.
	for _, want := range []string{`CREATE TABLE "tasks"`, `(START WITH 12884901888)`} {
		if !strings.Contains(ms[0].SQL, want) {
			t.Errorf("the migration lacks %q:\n%s", want, ms[0].SQL)
		}
	}
	// Run again: the directory now matches the schema.
	out, err = generate(t, dev, dir, "again")
	if err != nil || !strings.Contains(out, "No schema changes") {
		t.Errorf("second run: got %v and %q, want no changes", err, out)
	}
}

// The usual case: the directory is one change behind ent/schema (here the
// initial migration without one of ent's indexes, as if the index had just
// been added to the schema). The generator writes a second migration with
// just that change, after the first.
func TestGenerateWritesOnlyTheNextChange(t *testing.T) {
	dev := devServer(t)
	dir := t.TempDir()
	const index = `CREATE INDEX "task_tenant_id_created_at" ON "tasks" ("tenant_id", "created_at");`
	for name, content := range readDir(t, "../../migrations/postgres") {
		if name == atlasmigrate.HashFileName {
			continue
		}
		if strings.HasSuffix(name, "_init.sql") {
			if !strings.Contains(content, index) {
				t.Fatalf("%s lacks %s: update this test", name, index)
			}
			content = strings.Replace(content, index, "", 1)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	local, err := atlasmigrate.NewLocalDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := local.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	if err := atlasmigrate.WriteSumFile(local, sum); err != nil {
		t.Fatal(err)
	}
	before, err := database.ReadMigrations(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}

	out, err := generate(t, dev, dir, "add_task_index")
	if err != nil {
		t.Fatalf("got %v, want success\n%s", err, out)
	}
	after, err := database.ReadMigrations(os.DirFS(dir))
	if err != nil {
		t.Fatalf("reading what was written: %v", err)
	}
	if len(after) != len(before)+1 {
		t.Fatalf("got %d migrations, want %d", len(after), len(before)+1)
	}
	next := after[len(after)-1]
	if next.Name != "add_task_index" || next.Version <= before[len(before)-1].Version {
		t.Errorf("wrote %s, want add_task_index after %s", next.File, before[len(before)-1].File)
	}
	var stmts []string
	for _, line := range strings.Split(next.SQL, "\n") {
		if line != "" && !strings.HasPrefix(line, "--") {
			stmts = append(stmts, line)
		}
	}
	if len(stmts) != 1 || stmts[0] != index {
		t.Errorf("the new migration holds %q, want just %q", stmts, index)
	}
}

func TestGenerateRefusesBadArguments(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		dev     string
		args    []string
		wantErr string
	}{
		{"no name", "postgres://localhost/postgres", nil, "want exactly one argument"},
		{"a name with capitals", "postgres://localhost/postgres", []string{"AddThing"}, "lower-case"},
		{"a name with a dash", "postgres://localhost/postgres", []string{"add-thing"}, "lower-case"},
		{"no server", "", []string{"add_thing"}, "set TEST_DATABASE_URL or pass -dev"},
		{"a server that is not PostgreSQL", "mysql://localhost/x", []string{"add_thing"}, "postgres:// URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := generate(t, tc.dev, dir, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	if got := readDir(t, dir); len(got) != 0 {
		t.Errorf("refused runs wrote %v, want nothing", got)
	}
}

// TestHelp: -h prints the usage on stdout and succeeds, where the flag
// package's "flag: help requested" was an error and exit 1.
func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"migrategen", "-h"}, func(string) string { return "" }, &stdout, &stderr)
	if err != nil || !strings.Contains(stdout.String(), "usage: go run ./cmd/migrategen") || !strings.Contains(stdout.String(), "-dev") || stderr.Len() != 0 {
		t.Errorf("got %v, stdout %q, stderr %q; want nil and the usage on stdout", err, stdout.String(), stderr.String())
	}
}
