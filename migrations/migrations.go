// Package migrations holds the versioned SQL migrations of the PostgreSQL
// schema, embedded in the binary. They are generated from ent/schema by
// `go run ./cmd/migrategen NAME` and applied by `server migrate up`
// (internal/database/migrations.go); never edit one that has been released.
package migrations

import (
	"embed"
	"io/fs"
)

// PostgresDir is the directory of the PostgreSQL migrations, relative to the
// repository root: Atlas-format files VERSION_NAME.sql and their integrity
// file atlas.sum.
const PostgresDir = "migrations/postgres"

//go:embed postgres
var files embed.FS

// Postgres returns the PostgreSQL migrations directory.
func Postgres() fs.FS {
	sub, err := fs.Sub(files, "postgres")
	if err != nil { // only on an invalid literal path
		panic(err)
	}
	return sub
}
