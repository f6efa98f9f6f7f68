// Command migrategen writes the next versioned PostgreSQL migration after a
// change to ent/schema:
//
//	go run ./cmd/migrategen add_task_due_date
//
// It creates a throwaway database on the PostgreSQL server of -dev (default
// $TEST_DATABASE_URL), replays migrations/postgres on it, compares the result
// with the ent schema and, when they differ, writes
// migrations/postgres/VERSION_add_task_due_date.sql and updates atlas.sum;
// when they match it writes nothing. The throwaway database is dropped at the
// end. Run it from the repository root.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	_ "github.com/lib/pq"

	"tenantgraph/internal/database"
	"tenantgraph/migrations"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

var validName = regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)*$`)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dev := flags.String("dev", "", "URL of a PostgreSQL server where a throwaway dev database may be created (default $TEST_DATABASE_URL)")
	dirPath := flags.String("dir", migrations.PostgresDir, "migration directory")
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), "usage: go run ./cmd/migrategen [-dev postgres://…] [-dir %s] NAME\n\n"+
			"Writes the next PostgreSQL migration, NAME (such as add_task_due_date), from the change in ent/schema.\n\n",
			migrations.PostgresDir)
		flags.PrintDefaults()
	}
	// Parse would print its complaint and the usage itself; the usage is
	// printed below instead: on stdout for -h (no failure), on stderr after
	// a bad flag, whose error main prints.
	flags.SetOutput(io.Discard)
	err := flags.Parse(args[1:])
	if errors.Is(err, flag.ErrHelp) {
		flags.SetOutput(stdout)
		flags.Usage()
		return nil
	}
	flags.SetOutput(stderr)
	if err != nil {
		flags.Usage()
		return err
	}
	if flags.NArg() != 1 {
		flags.Usage()
		return errors.New("want exactly one argument: the migration's name, such as add_task_due_date")
	}
	name := flags.Arg(0)
	if !validName.MatchString(name) {
		return fmt.Errorf("migration name %q: use lower-case letters, digits and single underscores", name)
	}
	if *dev == "" {
		*dev = getenv("TEST_DATABASE_URL")
	}
	if *dev == "" {
		return errors.New("no PostgreSQL server: set TEST_DATABASE_URL or pass -dev postgres://user@host:5432/postgres?sslmode=disable")
	}
	if err := os.MkdirAll(*dirPath, 0o755); err != nil {
		return err
	}
	dir, err := atlasmigrate.NewLocalDir(*dirPath)
	if err != nil {
		return fmt.Errorf("opening %s: %w", *dirPath, err)
	}

	devURL, drop, err := createDevDatabase(ctx, *dev)
	if err != nil {
		return err
	}
	defer func() {
		if err := drop(); err != nil {
			fmt.Fprintln(stderr, "warning:", err)
		}
	}()
	db, err := sql.Open("postgres", devURL)
	if err != nil {
		return err
	}
	defer db.Close()

	file, err := database.DiffSchema(ctx, db, dir, name, database.DiffReplay)
	if err != nil {
		return err
	}
	if file == "" {
		fmt.Fprintf(stdout, "No schema changes: %s already matches ent/schema; nothing written.\n", *dirPath)
		return nil
	}
	fmt.Fprintf(stdout, "Wrote %s (and updated atlas.sum). Review it, then commit it with the schema change.\n", filepath.Join(*dirPath, file))
	return nil
}

// createDevDatabase creates an empty database on the server of serverURL and
// returns its URL and a function that drops it.
func createDevDatabase(ctx context.Context, serverURL string) (string, func() error, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("-dev must be a postgres:// URL")
	}
	admin, err := sql.Open("postgres", serverURL)
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "tg_migrategen_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("creating the dev database on %s: %w", u.Redacted(), err)
	}
	drop := func() error {
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			return fmt.Errorf("dropping the dev database %s: %w", name, err)
		}
		return nil
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}
