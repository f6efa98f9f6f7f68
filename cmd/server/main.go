// Command server runs the multi-tenant project-management GraphQL API.
//
//	go run ./cmd/server          # embedded SQLite under ./data, GraphiQL at http://localhost:8080/
//	go run ./cmd/server -demo    # the same, with demo users and projects
//	DATABASE_URL=postgres://… go run ./cmd/server migrate up   # PostgreSQL: apply the schema migrations,
//	DATABASE_URL=postgres://… go run ./cmd/server              # then serve
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tenantgraph/graph"
	"tenantgraph/internal/account"
	"tenantgraph/internal/auth"
	"tenantgraph/internal/database"
	"tenantgraph/internal/metrics"
	"tenantgraph/internal/notify"
	"tenantgraph/internal/ratelimit"
	"tenantgraph/internal/seed"
	"tenantgraph/internal/server"
	"tenantgraph/internal/tenancy"
	"tenantgraph/internal/tracing"

	_ "tenantgraph/ent/runtime" // installs privacy policies, hooks and interceptors
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal begins the shutdown. Once it has, the signals' default
	// action is back, so a second one (an operator's second Ctrl-C, a
	// supervisor's repeated SIGTERM) stops the process at once rather than
	// waiting out SHUTDOWN_GRACE.
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// run starts the server and blocks until ctx ends or serving fails.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet(args[0], flag.ContinueOnError)
	// The flag package prints its complaint and the usage to the output
	// itself; both are printed here instead: the usage on stdout for -h
	// (which is no error: exit 0), on stderr after a bad flag, whose error
	// main prints.
	flags.SetOutput(io.Discard)
	demo := flags.Bool("demo", false, "fill the default tenant with demo users, projects, tasks and comments (also SEED_DEMO=1)")
	if err := flags.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, flags)
			return nil
		}
		printUsage(stderr, flags)
		return err
	}
	switch flags.Arg(0) {
	case "":
	case "help":
		printUsage(stdout, flags)
		return nil
	case "migrate":
		return runMigrate(ctx, flags.Args()[1:], getenv, stdout)
	case "health":
		return runHealth(ctx, flags.Args()[1:], getenv, stdout)
	default:
		return fmt.Errorf("unknown command %q: run without arguments to serve, `migrate up|status`, or `health` (-h for help)", flags.Arg(0))
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if *demo && cfg.production() {
		return errDemoInProduction
	}
	// Read before the database is opened, as the other settings are
	// checked: a wrong path stops the start before anything is made.
	var persisted map[string]string
	if cfg.PersistedQueries != "" {
		if persisted, err = graph.LoadPersistedManifest(cfg.PersistedQueries); err != nil {
			return fmt.Errorf("PERSISTED_QUERIES: %w", err)
		}
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	gc := server.TuneGC(getenv, log) // GOGC=400 and a soft memory limit unless set: internal/server/gc.go
	log.Info("garbage collector", "gogc", gc.Percent, "gomemlimit_bytes", gc.MemoryLimit)
	if cfg.JWTSecretRandom {
		log.Warn("JWT_SECRET is not set: using a random secret for this run only; every token dies with the process. Set JWT_SECRET (32+ bytes) for anything but a local try-out.")
	}

	shutdownTracing, err := tracing.Setup(ctx, cfg.OTLPEndpoint, "tenantgraph", "dev", log)
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdownTracing(flushCtx)
	}()
	dbOpts := database.Options{PreparedStatements: cfg.PreparedStmts}
	if cfg.OTLPEndpoint != "" {
		dbOpts.Wrap = database.NewTraced
	}
	db, err := database.Open(ctx, cfg.DatabaseURL, dbOpts)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := prepareSchema(ctx, db, cfg.MigrateOnStart, log); err != nil {
		return err
	}
	def, err := tenancy.EnsureDefault(ctx, db.Client)
	if err != nil {
		return err
	}

	tokens, err := auth.NewTokens(auth.TokenConfig{
		Secret: cfg.JWTSecret, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, TTL: cfg.TokenTTL,
	})
	if err != nil {
		return err
	}
	passwords, err := auth.NewPasswords(cfg.BcryptCost)
	if err != nil {
		return err
	}

	if *demo || cfg.SeedDemo {
		accounts, err := seed.Demo(ctx, db.Client, passwords, def.ID)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "Demo accounts in tenant \"default\" (passwords are new on every -demo start):")
		for _, a := range accounts {
			fmt.Fprintf(stdout, "  %-8s %-22s %s\n", a.Role, a.Email, a.Password)
		}
	}

	m := metrics.New(db.SQL, func() map[string]metrics.Outbox {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		backlogs, err := notify.Backlogs(ctx, db.Client)
		if err != nil {
			log.Warn("metrics: reading the outbox backlog", "error", err.Error())
			return nil
		}
		return backlogs
	})
	n, err := startNotifications(ctx, cfg, db, m, log)
	if err != nil {
		return err
	}
	defer n.stop()

	gql := graph.NewHandler(graph.Deps{
		Client: db.Client,
		Accounts: account.NewService(tokens, passwords, account.LoginLimits{
			PerAccount: ratelimit.New(ratelimit.Config{PerMinute: cfg.LoginPerAccount, Burst: 5}),
			PerAddress: ratelimit.New(ratelimit.Config{PerMinute: cfg.LoginPerAddress, Burst: 20}),
		}),
		RequestBudget:                 ratelimit.New(ratelimit.Config{PerMinute: cfg.RequestsPerUser, Burst: 200}),
		WebsocketOperationTimeout:     cfg.RequestTimeout,
		Sessions:                      tenancy.NewResolver(tokens),
		Logger:                        log,
		Notifier:                      n.notifier,
		Metrics:                       m,
		Broker:                        n.broker,
		WebhookGuard:                  n.guard,
		WebsocketOrigins:              cfg.WebsocketOrigins,
		Introspection:                 cfg.Introspection,
		DisableSuggestions:            cfg.production(),
		Limits:                        graph.Limits{MaxDepth: cfg.MaxDepth, MaxComplexity: cfg.MaxComplexity, MaxRootFields: cfg.MaxRootFields},
		PersistedOnly:                 persisted,
		MaxSubscriptionsPerConnection: cfg.WSMaxSubs,
		MaxConnectionsPerUser:         cfg.WSMaxConns,
		MaxTenantsPerOwner:            cfg.MaxTenants,
		Tracing:                       cfg.OTLPEndpoint != "",
	})
	return server.Serve(ctx, server.Config{
		Addr:           cfg.Addr,
		GraphQL:        gql,
		DB:             db,
		Logger:         log,
		GraphiQL:       cfg.GraphiQL,
		TrustProxy:     cfg.TrustProxy,
		CORSOrigins:    cfg.CORSOrigins,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		RequestTimeout: cfg.RequestTimeout,
		Metrics:        promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}),
		Refused:        graph.RecordRefusal(log, m),
	}, cfg.ShutdownGrace, func(addr string) {
		ide := "GraphiQL at " + baseURL(addr) + "/, "
		if !cfg.GraphiQL {
			ide = ""
		}
		fmt.Fprintf(stdout, "TenantGraph (%s) on %s: %sAPI at %s/graphql\n", db.Dialect, addr, ide, baseURL(addr))
	})
}

// isHelp reports whether a subcommand's argument asks for its usage.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// printUsage writes the server's usage: its commands, its flags, and where
// its settings come from.
func printUsage(w io.Writer, flags *flag.FlagSet) {
	fmt.Fprint(w, `usage: server [-demo]            serve the API (on LISTEN_ADDR, default :8080)
       server migrate up|status  PostgreSQL: apply, or list, the schema migrations
       server health             exit 0 if the server on LISTEN_ADDR is ready (for container health checks)
       server help               this text (also -h)

flags:
`)
	flags.SetOutput(w)
	flags.PrintDefaults()
	flags.SetOutput(io.Discard)
	fmt.Fprint(w, `
Configuration is by environment variables, read once at start: LISTEN_ADDR,
DATABASE_URL (empty: an SQLite file under ./data), JWT_SECRET, APP_ENV
(development or production) and more; see the Configuration section of the
README for each one and its default.
`)
}

func baseURL(addr string) string {
	host, port, ok := strings.Cut(addr, "]:")
	if ok { // [::]:8080
		host = strings.TrimPrefix(host, "[")
	} else if i := strings.LastIndex(addr, ":"); i >= 0 {
		host, port = addr[:i], addr[i+1:]
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return "http://" + host + ":" + port
}
