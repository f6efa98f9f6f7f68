package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"

	"tenantgraph/ent/migrate"
)

// DiffMode says what DiffSchema compares ent's schema with.
type DiffMode int

const (
	// DiffReplay replays the migration directory on db, which must be an
	// empty PostgreSQL database, and compares the result: how the next
	// migration is generated.
	DiffReplay DiffMode = iota
	// DiffInspect compares db's current schema: how a migrated database is
	// checked for drift.
	DiffInspect
)

// DiffSchema compares ent's schema (ent/migrate.Tables, with each table's
// global-ID range as its identity start) with a PostgreSQL database and, when
// they differ, writes the migration that closes the gap into dir as
// VERSION_name.sql (Atlas format) and updates dir's atlas.sum. It returns the
// new file's name, or "" when there is nothing to change.
//
// Dropped columns and indexes count as changes, so a migrated database that
// shows no difference has exactly ent's tables, columns, indexes and foreign
// keys. Both the generator (cmd/migrategen) and the drift test use it, so they
// cannot disagree about what "no difference" means.
func DiffSchema(ctx context.Context, db *sql.DB, dir atlasmigrate.Dir, name string, mode DiffMode) (string, error) {
	before, err := dir.Files()
	if err != nil {
		return "", fmt.Errorf("database: reading the migration directory: %w", err)
	}
	var atlasMode schema.Mode = schema.ModeReplay
	if mode == DiffInspect {
		atlasMode = schema.ModeInspect
	}
	err = migrate.NewSchema(entsql.OpenDB(dialect.Postgres, db)).NamedDiff(ctx, name,
		schema.WithDir(dir),
		schema.WithFormatter(atlasmigrate.DefaultFormatter),
		schema.WithMigrationMode(atlasMode),
		schema.WithDialect(dialect.Postgres),
		schema.WithForeignKeys(true),
		schema.WithDropColumn(true),
		schema.WithDropIndex(true),
		schema.WithErrNoPlan(true),
	)
	if errors.Is(err, atlasmigrate.ErrNoPlan) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("database: comparing the ent schema with the database: %w", err)
	}
	after, err := dir.Files()
	if err != nil {
		return "", fmt.Errorf("database: reading the migration directory: %w", err)
	}
	for _, f := range after {
		if !slices.ContainsFunc(before, func(b atlasmigrate.File) bool { return b.Name() == f.Name() }) {
			return f.Name(), nil
		}
	}
	return "", errors.New("database: the schema differs but no migration file was written")
}
