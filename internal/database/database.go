// Package database opens the data store: embedded SQLite by default, or
// PostgreSQL through lib/pq when given a postgres:// URL.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/lib/pq"
	_ "modernc.org/sqlite" // registers "sqlite"

	"tenantgraph/ent"
	"tenantgraph/ent/migrate"
)

// DefaultSQLitePath is where the embedded database lives when no URL is given.
const DefaultSQLitePath = "data/tenantgraph.db"

// DefaultPreparedStatements is how many statements the server keeps
// prepared on each PostgreSQL connection unless DATABASE_PREPARED_STATEMENTS
// says otherwise: more than the distinct statements ent sends in the
// benchmarks and tests, so that none of the usual ones is pushed out.
const DefaultPreparedStatements = 256

// DB is an open data store.
type DB struct {
	Client  *ent.Client
	SQL     *sql.DB
	Dialect string
}

// Options tune Open.
type Options struct {
	// Wrap, when set, wraps the driver (tests count statements with it).
	Wrap func(dialect.Driver) dialect.Driver
	// PreparedStatements is how many statements each PostgreSQL
	// connection keeps prepared (prepared.go); 0 prepares none, as lib/pq
	// does by itself. The server's default is DefaultPreparedStatements.
	PreparedStatements int
}

// Open connects to url: "" or "sqlite:PATH" for SQLite (created with its
// directory when missing), "postgres://…" or "postgresql://…" for PostgreSQL.
// It does not touch the schema; see Migrate.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	var (
		db   *sql.DB
		name string
		err  error
	)
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		name = dialect.Postgres
		c, err := pq.NewConnector(url)
		if err != nil {
			return nil, fmt.Errorf("database: opening PostgreSQL: %w", redactURLError(err))
		}
		if opts.PreparedStatements > 0 {
			db = sql.OpenDB(preparedConnector{Connector: c, keep: opts.PreparedStatements})
		} else {
			db = sql.OpenDB(c)
		}
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(10)
		db.SetConnMaxIdleTime(5 * time.Minute)
	case url == "" || strings.HasPrefix(url, "sqlite:"):
		name = dialect.SQLite
		path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
		if path == "" {
			path = DefaultSQLitePath
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("database: creating the directory of %s: %w", path, err)
		}
		db, err = sql.Open("sqlite", SQLiteDSN(path))
		if err != nil {
			return nil, fmt.Errorf("database: opening SQLite at %s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("database: unsupported DATABASE_URL %q: use postgres://… or sqlite:PATH", redact(url))
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database: connecting to %s: %w", name, redactURLError(err))
	}
	var drv dialect.Driver = entsql.OpenDB(name, db)
	if opts.Wrap != nil {
		drv = opts.Wrap(drv)
	}
	return &DB{Client: ent.NewClient(ent.Driver(drv)), SQL: db, Dialect: name}, nil
}

// SQLiteDSN returns the modernc DSN for a database file: foreign keys on, a
// busy timeout, WAL, LIKE that respects case as on PostgreSQL (so that
// nameContains means the same on both), write transactions that take the
// lock up front (so that concurrent writers queue instead of failing
// half-way), and times written in UTC whatever zone they carry. SQLite
// compares times as the text the driver writes, offset included: a time in
// the server's local zone (a cursor's, which decodes in it) would compare
// wrongly with the stored ones, which are UTC.
func SQLiteDSN(path string) string {
	return "file:" + path + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=case_sensitive_like(1)&_txlock=immediate&_timezone=UTC"
}

// Migrate creates or updates the schema to match the ent code.
func (d *DB) Migrate(ctx context.Context) error {
	// Indexes the schema no longer declares are dropped (an index is cheap
	// to rebuild, and a stale one is written with every row); columns and
	// tables are never dropped.
	if err := d.Client.Schema.Create(ctx, migrate.WithForeignKeys(true), migrate.WithDropIndex(true)); err != nil {
		return fmt.Errorf("database: creating schema: %w", err)
	}
	return nil
}

// MigrateUp brings the schema up to date as `server migrate up` does:
// PostgreSQL through the versioned migrations (migrations/postgres),
// SQLite automatically (Migrate). Tests and the benchmark prepare their
// databases with it, so that they run on the schema production runs on.
func (d *DB) MigrateUp(ctx context.Context) error {
	if d.Dialect != dialect.Postgres {
		return d.Migrate(ctx)
	}
	m, err := d.Migrator()
	if err != nil {
		return err
	}
	_, err = m.Up(ctx)
	return err
}

// Ping reports whether the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.SQL.PingContext(ctx) }

// Close closes the client and its connections.
func (d *DB) Close() error { return d.Client.Close() }

// redactURLError hides the password of a URL that lib/pq could not parse (a
// password with an unescaped %, say), which it reports whole.
func redactURLError(err error) error {
	var bad *neturl.Error
	if errors.As(err, &bad) {
		bad.URL = redact(bad.URL)
	}
	return err
}

// redact hides a password in a URL for error messages.
func redact(url string) string {
	if at := strings.LastIndex(url, "@"); at > 0 {
		if scheme := strings.Index(url, "://"); scheme > 0 && scheme < at {
			return url[:scheme+3] + "…@" + url[at+1:]
		}
	}
	return url
}
