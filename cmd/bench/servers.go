package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"golang.org/x/crypto/bcrypt"

	"tenantgraph/graph"
	"tenantgraph/internal/account"
	"tenantgraph/internal/auth"
	"tenantgraph/internal/benchdata"
	"tenantgraph/internal/database"
	"tenantgraph/internal/metrics"
	"tenantgraph/internal/notify"
	"tenantgraph/internal/pubsub"
	"tenantgraph/internal/server"
	"tenantgraph/internal/tenancy"

	_ "tenantgraph/ent/runtime" // privacy policies, hooks and interceptors
)

// freshDatabase returns the URL of a new, empty database and a function
// that removes it.
func freshDatabase(ctx context.Context, name, pgURL string) (string, func(), error) {
	if name == "sqlite" {
		dir, err := os.MkdirTemp("", "tg-bench-")
		if err != nil {
			return "", nil, err
		}
		u, err := benchdata.SQLiteURL(filepath.Join(dir, "bench.db"))
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		return u, func() { os.RemoveAll(dir) }, nil
	}
	admin, err := sql.Open("postgres", pgURL)
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	db := "tg_bench_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+db); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("creating database %s on %s: %w", db, pgURL, err)
	}
	u, err := url.Parse(pgURL)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	u.Path = "/" + db
	drop := func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: dropping %s: %v\n", db, err)
		}
	}
	return u.String(), drop, nil
}

// fixture is what a run measures: a fresh database holding the data set,
// the production API handler over it (its driver wrapped in a statement
// counter), and the floor over its own pool, opened the same way, reading
// as the tenant at tenantIndex.
type fixture struct {
	dbURL   string
	db      *database.DB
	counter *database.Counter
	ds      *benchdata.Dataset
	tenant  benchdata.Tenant
	api     http.Handler
	floor   *floor
	cleanup []func()
}

// newFixture builds a fixture on a fresh database of dialect name ("sqlite",
// or "postgres" on the server at pgURL). wrap, when not nil, wraps the API's
// driver inside the counter (-show-sql's statement printer).
func newFixture(ctx context.Context, name, pgURL string, shape benchdata.Shape, tenantIndex int, wrap func(dialect.Driver) dialect.Driver) (_ *fixture, err error) {
	f := &fixture{}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	dbURL, drop, err := freshDatabase(ctx, name, pgURL)
	if err != nil {
		return nil, err
	}
	f.dbURL = dbURL
	f.cleanup = append(f.cleanup, drop)
	f.db, err = database.Open(ctx, dbURL, database.Options{Wrap: func(d dialect.Driver) dialect.Driver {
		if wrap != nil {
			d = wrap(d)
		}
		f.counter = database.NewCounter(d)
		return f.counter
	}, PreparedStatements: database.DefaultPreparedStatements}) // as the server opens it
	if err != nil {
		return nil, err
	}
	f.cleanup = append(f.cleanup, func() { f.db.Close() })
	if err := f.db.MigrateUp(ctx); err != nil {
		return nil, fmt.Errorf("migrating: %w", err)
	}
	f.counter.CountRows(true)
	if _, err := tenancy.EnsureDefault(ctx, f.db.Client); err != nil {
		return nil, err
	}
	hash, err := hashPassword(benchdata.Password)
	if err != nil {
		return nil, err
	}
	if f.ds, err = benchdata.Generate(ctx, f.db.Client, hash, shape); err != nil {
		return nil, err
	}
	if f.db.Dialect == dialect.Postgres {
		if _, err := f.db.SQL.ExecContext(ctx, "ANALYZE"); err != nil {
			return nil, err
		}
	}
	var closeAPI func()
	if f.api, closeAPI, err = apiHandler(f.db); err != nil {
		return nil, err
	}
	f.cleanup = append(f.cleanup, closeAPI)
	// The floor's statements run as lib/pq runs them by itself, unprepared
	// (the "hand-written SQL through lib/pq"), as in every round
	// before the API prepared its own; BENCH_FLOOR_PREPARED=1 prepares them
	// as the API does.
	floorOpts := database.Options{}
	if os.Getenv("BENCH_FLOOR_PREPARED") == "1" {
		floorOpts.PreparedStatements = database.DefaultPreparedStatements
	}
	fdb, err := database.Open(ctx, dbURL, floorOpts)
	if err != nil {
		return nil, err
	}
	f.cleanup = append(f.cleanup, func() { fdb.Close() })
	f.tenant = f.ds.Tenants[tenantIndex]
	f.floor = &floor{db: fdb.SQL, postgres: fdb.Dialect == dialect.Postgres, tenantID: f.tenant.ID, tasksPer: 10, commentsPer: 5}
	return f, nil
}

// close releases the pools and drops the database, last opened first.
func (f *fixture) close() {
	for i := len(f.cleanup) - 1; i >= 0; i-- {
		f.cleanup[i]()
	}
}

// member is the email of a MEMBER of the fixture's tenant (its last user).
func (f *fixture) member() string { return f.tenant.Emails[len(f.tenant.Emails)-1] }

// serve serves h on a fresh 127.0.0.1 port and returns its base URL and a
// function that stops it.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// apiHandler builds the production HTTP handler (cmd/server's wiring, minus
// the per-user request budget, which would throttle a load test by design,
// and with the log lines written to io.Discard but still formatted), and
// what closes its notifier and broker, as cmd/server closes them.
func apiHandler(db *database.DB) (http.Handler, func(), error) {
	tokens, err := auth.NewTokens(auth.TokenConfig{
		Secret: []byte("bench-secret-bench-secret-0123456789abcdef"), Issuer: "tenantgraph", Audience: "tenantgraph-api", TTL: time.Hour,
	})
	if err != nil {
		return nil, nil, err
	}
	passwords, err := auth.NewPasswords(bcrypt.MinCost)
	if err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	m := metrics.New(db.SQL, nil)
	broker := pubsub.NewLocal(0)
	notifier := notify.NewNotifier(broker, func() {}, log)
	gql := graph.NewHandler(graph.Deps{
		Client:        db.Client,
		Accounts:      account.NewService(tokens, passwords, account.LoginLimits{}),
		Sessions:      tenancy.NewResolver(tokens),
		Logger:        log,
		Notifier:      notifier,
		Metrics:       m,
		Broker:        broker,
		Introspection: false,
		Limits:        graph.DefaultLimits,
	})
	closeAll := func() {
		notifier.Close()
		_ = broker.Close()
	}
	return server.Handler(server.Config{GraphQL: gql, DB: db, Logger: log}), closeAll, nil
}

// hashPassword hashes the generated users' password once.
func hashPassword(pw string) (string, error) {
	p, err := auth.NewPasswords(bcrypt.MinCost)
	if err != nil {
		return "", err
	}
	return p.Hash(pw)
}

// projectTree reads the ProjectTree operation from the contract file.
func projectTree(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the contract (see -contract): %w", err)
	}
	s := string(raw)
	i := strings.Index(s, "query ProjectTree(")
	if i < 0 {
		return "", fmt.Errorf("%s has no query ProjectTree", path)
	}
	j := strings.Index(s[i:], "\n}\n")
	if j < 0 {
		return "", fmt.Errorf("%s: ProjectTree does not end with a closing brace at column 0", path)
	}
	return s[i : i+j+2], nil
}
