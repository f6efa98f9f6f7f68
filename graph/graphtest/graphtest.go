// Package graphtest runs the real server (schema, extensions, HTTP routes)
// on a real database for tests: SQLite in a temporary file always, and
// PostgreSQL too when TEST_DATABASE_URL is set, each in a fresh database that
// is dropped afterwards.
package graphtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"golang.org/x/crypto/bcrypt"

	"tenantgraph/graph"
	"tenantgraph/internal/account"
	"tenantgraph/internal/auth"
	"tenantgraph/internal/benchdata"
	"tenantgraph/internal/database"
	"tenantgraph/internal/notify"
	"tenantgraph/internal/pubsub"
	"tenantgraph/internal/server"
	"tenantgraph/internal/tenancy"

	_ "tenantgraph/ent/runtime" // privacy policies, hooks and interceptors
)

// Secret, Issuer and Audience configure the test server's tokens, so that
// tests can forge tokens that differ in exactly one respect.
var (
	Secret   = []byte("graphtest-secret-graphtest-secret-0123456789")
	Issuer   = "tenantgraph"
	Audience = "tenantgraph-api"
)

// Limits are the test servers' query limits: the defaults, except a
// complexity large enough for the suites that snapshot a whole tenant in one
// query (100 × 100 × 100 pages). Tests of the limits themselves use
// NewWithLimits(…, graph.DefaultLimits).
var Limits = graph.Limits{
	MaxDepth:      graph.DefaultLimits.MaxDepth,
	MaxComplexity: 100_000_000,
	MaxRootFields: graph.DefaultLimits.MaxRootFields,
}

// Env is one running server on one fresh database.
type Env struct {
	T       testing.TB
	Dialect string
	DB      *database.DB
	Counter *database.Counter
	Tokens  *auth.Tokens
	Server  *httptest.Server
	URL     string // the GraphQL endpoint
	// DatabaseURL is the fresh database's URL (a second server may share it).
	DatabaseURL string
	Broker      pubsub.Broker
	Notifier    *notify.Notifier
	Log         *slog.Logger
	// GraphQL is the server's GraphQL handler, to serve it another way too
	// (such as through server.Serve, to test its shutdown).
	GraphQL http.Handler

	log    *lockedWriter
	shared *shared // the same for copies of the Env
}

type shared struct {
	mu         sync.Mutex
	dispatcher *notify.Dispatcher
}

// Logs returns what the server logged so far.
func (e *Env) Logs() string { return e.log.String() }

// Run runs fn once per available database: "sqlite" always, "postgres" when
// TEST_DATABASE_URL is set. In CI (CI set) a missing TEST_DATABASE_URL fails.
func Run(t *testing.T, fn func(t *testing.T, e *Env)) {
	t.Helper()
	for _, d := range Dialects(t) {
		t.Run(d, func(t *testing.T) { fn(t, New(t, d)) })
	}
}

// RunWith is Run with servers configured by o.
func RunWith(t *testing.T, o Options, fn func(t *testing.T, e *Env)) {
	t.Helper()
	for _, d := range Dialects(t) {
		t.Run(d, func(t *testing.T) { fn(t, NewWithOptions(t, d, o)) })
	}
}

// Dialects lists the databases tests run on here.
func Dialects(t testing.TB) []string {
	t.Helper()
	out := []string{dialect.SQLite}
	if os.Getenv("TEST_DATABASE_URL") != "" {
		out = append(out, dialect.Postgres)
	} else if os.Getenv("CI") != "" {
		t.Fatal("CI is set but TEST_DATABASE_URL is not: the PostgreSQL tests cannot be skipped in CI")
	}
	return out
}

// New starts a server on a fresh database of the given dialect.
func New(t testing.TB, dialectName string) *Env {
	t.Helper()
	return NewWithLimits(t, dialectName, Limits)
}

// NewWithLimits is New with the given query limits.
func NewWithLimits(t testing.TB, dialectName string, limits graph.Limits) *Env {
	t.Helper()
	return newEnv(t, dialectName, NewDatabaseURL(t, dialectName), Options{Limits: limits})
}

// Options change a test server's configuration from New's, for tests of
// the settings themselves (rate limits, persisted-only mode, CORS,
// introspection off…).
type Options struct {
	// Limits are the query limits (zero: Limits).
	Limits graph.Limits
	// LoginLimits bound login attempts, and registrations per address
	// (zero: unbounded).
	LoginLimits account.LoginLimits
	// Deps, when set, edits the GraphQL handler's dependencies last.
	Deps func(*graph.Deps)
	// Server, when set, edits the HTTP server's configuration last.
	Server func(*server.Config)
	// Untraced runs the server as cmd/server runs without an OTLP
	// endpoint: no spans for operations, resolvers or SQL statements (by
	// default every one is a span, no-op unless a test installs a tracer
	// provider).
	Untraced bool
	// LogOutput, when set, receives the server's log lines in place of the
	// buffer Logs reads (which keeps every line in memory, as a server's
	// standard output does not).
	LogOutput io.Writer
}

// NewWithOptions starts a server on a fresh database configured by o.
func NewWithOptions(t testing.TB, dialectName string, o Options) *Env {
	t.Helper()
	return newEnv(t, dialectName, NewDatabaseURL(t, dialectName), o)
}

// NewOn starts a server on an existing database (such as another Env's
// DatabaseURL), migrating it if needed. Two Envs on one database are two
// instances that share nothing in-process but the database: each has its own
// connection pool, tokens (with the same settings), broker and HTTP server.
// On PostgreSQL their brokers meet through LISTEN/NOTIFY; on SQLite each
// broker is in-process, so the live feed does not cross instances.
func NewOn(t testing.TB, dialectName, dbURL string) *Env {
	t.Helper()
	return newEnv(t, dialectName, dbURL, Options{})
}

func newEnv(t testing.TB, dialectName, dbURL string, o Options) *Env {
	t.Helper()
	if o.Limits == (graph.Limits{}) {
		o.Limits = Limits
	}
	ctx := context.Background()
	var counter *database.Counter
	opts := database.Options{Wrap: func(d dialect.Driver) dialect.Driver {
		counter = database.NewCounter(d)
		if o.Untraced {
			return counter
		}
		return database.NewTraced(counter) // spans are no-ops unless a test installs a tracer provider
	}, PreparedStatements: database.DefaultPreparedStatements}
	db, err := database.Open(ctx, dbURL, opts)
	if err != nil {
		t.Fatalf("opening database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.MigrateUp(ctx); err != nil { // PostgreSQL tests run on the versioned migrations
		t.Fatalf("migrating: %v", err)
	}
	counter.CountRows(true)
	if _, err := tenancy.EnsureDefault(ctx, db.Client); err != nil {
		t.Fatalf("default tenant: %v", err)
	}
	tokens, err := auth.NewTokens(auth.TokenConfig{Secret: Secret, Issuer: Issuer, Audience: Audience, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	passwords, err := auth.NewPasswords(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedWriter{}
	var out io.Writer = logs
	if o.LogOutput != nil {
		out = o.LogOutput
	}
	log := slog.New(slog.NewJSONHandler(out, nil))
	e := &Env{T: t, Dialect: dialectName, DB: db, Counter: counter, Tokens: tokens, log: logs, Log: log, shared: &shared{}}
	var broker pubsub.Broker = pubsub.NewLocal(0)
	if dialectName == dialect.Postgres {
		pg, err := pubsub.NewPostgres(dbURL, db.SQL, 0, log)
		if err != nil {
			t.Fatalf("starting the PostgreSQL broker: %v", err)
		}
		broker = pg
	}
	t.Cleanup(func() { broker.Close() })
	e.Broker = broker
	e.DatabaseURL = dbURL
	e.Notifier = notify.NewNotifier(broker, e.wakeDispatcher, log)
	t.Cleanup(e.Notifier.Close) // before the broker and the database close
	deps := graph.Deps{
		Client:        db.Client,
		Accounts:      account.NewService(tokens, passwords, o.LoginLimits),
		Sessions:      tenancy.NewResolver(tokens),
		Logger:        log,
		Notifier:      e.Notifier,
		Broker:        broker,
		WebhookGuard:  notify.WebhookGuard{AllowLoopback: true},
		Introspection: true,
		Limits:        o.Limits,
		Tracing:       !o.Untraced, // as in production with an OTLP endpoint, unless Untraced
	}
	if o.Deps != nil {
		o.Deps(&deps)
	}
	gql := graph.NewHandler(deps)
	cfg := server.Config{GraphQL: gql, DB: db, Logger: log, GraphiQL: true, Refused: graph.RecordRefusal(log, deps.Metrics)}
	if o.Server != nil {
		o.Server(&cfg)
	}
	srv := httptest.NewServer(server.Handler(cfg))
	t.Cleanup(srv.Close)
	e.Server, e.URL, e.GraphQL = srv, srv.URL+"/graphql", gql
	return e
}

// NewDispatcher returns an outbox dispatcher for this server's database,
// sending through senders; the server's mutations wake it. It does not run
// until StartDispatcher (or RunOnce).
func (e *Env) NewDispatcher(senders map[string]notify.Sender, cfg notify.DispatcherConfig) *notify.Dispatcher {
	if cfg.Broker == nil {
		cfg.Broker = e.Broker
	}
	d := notify.NewDispatcher(e.DB.Client, e.Dialect, senders, cfg, e.Log)
	e.shared.mu.Lock()
	e.shared.dispatcher = d
	e.shared.mu.Unlock()
	return d
}

// StartDispatcher runs d in the background until the returned stop is called
// (or the test ends).
func (e *Env) StartDispatcher(d *notify.Dispatcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	e.T.Cleanup(stop)
	return stop
}

func (e *Env) wakeDispatcher() {
	e.shared.mu.Lock()
	d := e.shared.dispatcher
	e.shared.mu.Unlock()
	if d != nil {
		d.Wake()
	}
}

// PostgresURL returns the URL of a fresh, empty PostgreSQL database for a
// PostgreSQL-only test. Like Dialects, it skips the test when
// TEST_DATABASE_URL is unset, except in CI (CI set), where that fails.
func PostgresURL(t testing.TB) string {
	t.Helper()
	NeedPostgres(t)
	return NewDatabaseURL(t, dialect.Postgres)
}

// NeedPostgres skips a test of what only PostgreSQL has (LISTEN/NOTIFY,
// several instances on one database) when TEST_DATABASE_URL is not set,
// and fails it in CI.
func NeedPostgres(t testing.TB) {
	t.Helper()
	if os.Getenv("TEST_DATABASE_URL") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but TEST_DATABASE_URL is not: the PostgreSQL tests cannot be skipped in CI")
		}
		t.Skip("TEST_DATABASE_URL is not set: this test needs PostgreSQL (in CI it fails instead)")
	}
}

// NewDatabaseURL returns the URL of a fresh, empty database: a file in a
// temporary directory for SQLite; for PostgreSQL a database created on the
// server of TEST_DATABASE_URL and dropped when the test ends.
func NewDatabaseURL(t testing.TB, dialectName string) string {
	t.Helper()
	if dialectName == dialect.SQLite {
		u, err := benchdata.SQLiteURL(filepath.Join(t.TempDir(), "test.db")) // SQLITE_PAGE_SIZE, for benchmarks
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	admin := os.Getenv("TEST_DATABASE_URL")
	if admin == "" {
		t.Fatal("TEST_DATABASE_URL is not set")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "tg_test_" + hex.EncodeToString(b)
	adminDB, err := sql.Open("postgres", admin)
	if err != nil {
		t.Fatalf("connecting to TEST_DATABASE_URL: %v", err)
	}
	if _, err := adminDB.Exec("CREATE DATABASE " + name); err != nil {
		adminDB.Close()
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		defer adminDB.Close()
		if _, err := adminDB.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parsing TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// LockWaiters counts the sessions of e's database that wait on a lock
// (PostgreSQL only: pg_stat_activity).
func (e *Env) LockWaiters(t testing.TB) int {
	t.Helper()
	var waiting int
	if err := e.DB.SQL.QueryRowContext(context.Background(),
		`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
		t.Fatalf("watching locks: %v", err)
	}
	return waiting
}

// AwaitLockWait returns once a session of e's database waits on a lock
// (PostgreSQL only), and fails the test if none does within 10s.
func (e *Env) AwaitLockWait(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if e.LockWaiters(t) > 0 {
			return
		}
	}
	t.Fatal("no session waited on a lock within 10s")
}

// CutListener terminates the PostgreSQL connection that LISTENs on db's
// database (the broker's; lib/pq's listener then reconnects), failing the
// test unless there was exactly one.
func CutListener(t testing.TB, db *sql.DB) {
	t.Helper()
	var terminated int
	if err := db.QueryRowContext(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`).Scan(&terminated); err != nil || terminated != 1 {
		t.Fatalf("terminating the listener's connection: %d (%v), want 1", terminated, err)
	}
}
