// Command bench is the benchmark harness of issue 5. On a freshly generated
// data set (internal/benchdata) it serves the real API in-process on
// 127.0.0.1 and, beside it, the "floor": the same ProjectTree JSON produced
// by three hand-written SQL queries and encoding/json behind a bare
// net/http handler. It drives both over real HTTP with the same load loop at
// each client count and prints throughput, latency, SQL statements,
// allocations and response size, then the targets as PASS/MISS.
//
//	go run ./cmd/bench                                  # SQLite and PostgreSQL, 1 and 32 clients, 20s each
//	go run ./cmd/bench -db sqlite -clients 1,32 -duration 20s
//	go run ./cmd/bench -db postgres -pg 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
//
// PostgreSQL runs create a database tg_bench_… on the -pg server and drop it
// at the end. See docs/BENCHMARKS.md for the published figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tenantgraph/internal/benchdata"
	"tenantgraph/internal/server"
)

type options struct {
	dialects    []string
	clients     []int
	duration    time.Duration
	warmup      time.Duration
	first       int
	shape       benchdata.Shape
	pgURL       string
	contract    string
	coldStart   bool
	coldRuns    int
	tenantIndex int
	showSQL     bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	server.TuneGC(os.Getenv, nil) // measure the API as cmd/server runs it (the floor hardly allocates)
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	dbs := fs.String("db", "sqlite,postgres", "databases to run on: sqlite, postgres, or both (comma-separated)")
	clients := fs.String("clients", "1,32", "concurrent clients, comma-separated")
	duration := fs.Duration("duration", 20*time.Second, "measured duration per target and client count")
	warmup := fs.Duration("warmup", 3*time.Second, "unmeasured warm-up before each measurement")
	first := fs.Int("first", 20, "ProjectTree's $first")
	shape := fs.String("shape", "10x10x100x20x5", "data set: TENANTSxUSERSxPROJECTSxTASKSxCOMMENTS")
	pg := fs.String("pg", firstNonEmpty(os.Getenv("BENCH_POSTGRES_URL"), os.Getenv("TEST_DATABASE_URL"),
		"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"PostgreSQL server URL (a database on it is created and dropped); default $BENCH_POSTGRES_URL, else $TEST_DATABASE_URL")
	contract := fs.String("contract", "../shared/contract/operations.graphql", "the client contract to read ProjectTree from")
	cold := fs.Bool("coldstart", true, "measure the SQLite cold start of the built cmd/server binary (on SQLite runs)")
	coldRuns := fs.Int("coldstart-runs", 5, "cold starts per case")
	tenant := fs.Int("tenant", 0, "index of the tenant whose member drives the load")
	showSQL := fs.Bool("show-sql", false, "print the SQL statements of one API request")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: go run ./cmd/bench [flags]

Serves the API in-process on a generated data set and measures the contract's
ProjectTree against a hand-written SQL floor (docs/BENCHMARKS.md).

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // Parse has printed the usage; asking for it is no failure
		}
		return err
	}
	o := options{duration: *duration, warmup: *warmup, first: *first, pgURL: *pg, contract: *contract,
		coldStart: *cold, coldRuns: *coldRuns, tenantIndex: *tenant, showSQL: *showSQL}
	for _, d := range strings.Split(*dbs, ",") {
		switch d = strings.TrimSpace(d); d {
		case "sqlite", "postgres":
			o.dialects = append(o.dialects, d)
		default:
			return fmt.Errorf("-db: unknown database %q (sqlite or postgres)", d)
		}
	}
	for _, c := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return fmt.Errorf("-clients: %q is not a positive number", c)
		}
		o.clients = append(o.clients, n)
	}
	var err error
	if o.shape, err = benchdata.ParseShape(*shape); err != nil {
		return err
	}
	if o.tenantIndex < 0 || o.tenantIndex >= o.shape.Tenants {
		return fmt.Errorf("-tenant: %d is not a tenant index below %d", o.tenantIndex, o.shape.Tenants)
	}

	printMachine()
	fmt.Printf("command: go run ./cmd/bench %s\n", strings.Join(args, " "))
	fmt.Printf("data set: %s; ProjectTree(first: %d); %s measured after %s warm-up per point\n\n",
		o.shape, o.first, o.duration, o.warmup)
	for _, d := range o.dialects {
		if err := runDialect(ctx, d, o); err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
	}
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
