package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"entgo.io/ent/dialect"

	"tenantgraph/internal/database"
)

const migrateUsage = `usage: server migrate up|status

  up      apply the pending PostgreSQL migrations (each in its own transaction;
          safe to run from several instances at once)
  status  list applied and pending migrations

The database is DATABASE_URL's. On SQLite (the default) the schema is created
from the ent schema automatically and there are no versioned migrations.`

// runMigrate runs `server migrate …`. It reads DATABASE_URL itself rather
// than through loadConfig, so that a migration job needs no JWT secret or
// other serving setting.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 1 && isHelp(args[0]) {
		fmt.Fprintln(stdout, migrateUsage)
		return nil
	}
	if len(args) != 1 || (args[0] != "up" && args[0] != "status") {
		return errors.New(migrateUsage)
	}
	db, err := database.Open(ctx, getenv("DATABASE_URL"), database.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	if db.Dialect != dialect.Postgres {
		if args[0] == "up" {
			if err := db.Migrate(ctx); err != nil {
				return err
			}
		}
		fmt.Fprintln(stdout, "SQLite: the schema is created from the ent schema automatically at start; versioned migrations are for PostgreSQL.")
		return nil
	}
	m, err := db.Migrator()
	if err != nil {
		return err
	}
	switch args[0] {
	case "up":
		start := time.Now()
		applied, err := m.Up(ctx)
		for _, a := range applied {
			fmt.Fprintf(stdout, "applied %s\n", a.File)
		}
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintln(stdout, "The schema is up to date: nothing to apply.")
		} else {
			fmt.Fprintf(stdout, "Applied %d migration(s) in %s.\n", len(applied), time.Since(start).Round(time.Millisecond))
		}
		return nil
	default:
		s, err := m.Status(ctx)
		if err != nil {
			return err
		}
		printStatus(stdout, s)
		return nil
	}
}

func printStatus(w io.Writer, s database.MigrationStatus) {
	changed := map[string]bool{}
	for _, c := range s.Changed {
		changed[c.Version] = true
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tSTATE\tAPPLIED AT")
	for _, a := range s.Applied {
		state := "applied"
		if changed[a.Version] {
			state = "applied (file changed since)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Version, a.Name, state, a.AppliedAt.UTC().Format(time.RFC3339))
	}
	for _, u := range s.Unknown {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Version, u.Name, "applied (not in this binary)", u.AppliedAt.UTC().Format(time.RFC3339))
	}
	for _, p := range s.Pending {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Version, p.Name, "pending", "-")
	}
	tw.Flush()
	fmt.Fprintf(w, "%d applied, %d pending.\n", len(s.Applied)+len(s.Unknown), len(s.Pending))
	if len(s.Pending) > 0 {
		fmt.Fprintln(w, "Run `server migrate up` (from a checkout: `go run ./cmd/server migrate up`) to apply them.")
	}
}

// prepareSchema makes sure the schema is the one this binary expects before
// it serves. SQLite creates or updates it from the ent schema. PostgreSQL
// uses the versioned migrations: with MIGRATE_ON_START=1 it applies the
// pending ones first; otherwise it refuses to serve while any is pending.
func prepareSchema(ctx context.Context, db *database.DB, migrateOnStart bool, log *slog.Logger) error {
	if db.Dialect != dialect.Postgres {
		return db.Migrate(ctx)
	}
	m, err := db.Migrator()
	if err != nil {
		return err
	}
	if migrateOnStart {
		applied, err := m.Up(ctx)
		for _, a := range applied {
			log.Info("migration applied", "migration", a.File)
		}
		if err != nil {
			return err
		}
	}
	s, err := m.CheckCurrent(ctx)
	var behind *database.BehindError
	if errors.As(err, &behind) {
		return fmt.Errorf("%w.\nApply them first with `server migrate up` (from a checkout: `go run ./cmd/server migrate up`) and the same DATABASE_URL, or start the server with MIGRATE_ON_START=1 to apply them at start", err)
	}
	if err != nil {
		return err
	}
	if len(s.Unknown) > 0 {
		log.Warn("the database has migrations this binary does not know (a newer release applied them); serving anyway", "migrations", versions(s.Unknown))
	}
	for _, c := range s.Changed {
		log.Warn("an applied migration's file has changed since it was applied", "migration", c.File)
	}
	return nil
}

func versions(as []database.AppliedMigration) string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Version + "_" + a.Name
	}
	return strings.Join(out, ", ")
}
