package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
)

func runDialect(ctx context.Context, name string, o options) error {
	fmt.Printf("=== %s ===\n", name)
	var showing atomic.Bool // while set, print every statement
	var wrap func(dialect.Driver) dialect.Driver
	if o.showSQL {
		wrap = func(d dialect.Driver) dialect.Driver {
			return dialect.DebugWithContext(d, func(_ context.Context, args ...any) {
				if showing.Load() {
					fmt.Printf("    %s\n", fmt.Sprint(args...))
				}
			})
		}
	}
	fx, err := newFixture(ctx, name, o.pgURL, o.shape, o.tenantIndex, wrap)
	if err != nil {
		return err
	}
	defer fx.close()
	db, counter, ds, tn := fx.db, fx.counter, fx.ds, fx.tenant
	if db.Dialect == dialect.Postgres {
		var v string
		if err := db.SQL.QueryRowContext(ctx, "SHOW server_version").Scan(&v); err == nil {
			fmt.Printf("PostgreSQL %s\n", v)
		}
	}
	fmt.Printf("generated %d rows in %s (%.0f rows/s)\n", ds.Rows, ds.Took.Round(time.Millisecond), float64(ds.Rows)/ds.Took.Seconds())

	apiURL, stopAPI, err := serve(fx.api)
	if err != nil {
		return err
	}
	defer stopAPI()
	floorURL, stopFloor, err := serve(fx.floor)
	if err != nil {
		return err
	}
	defer stopFloor()

	// Log in over HTTP as a MEMBER of the tenant.
	token, err := login(apiURL+"/graphql", fx.member(), ds.Password)
	if err != nil {
		return err
	}
	query, err := projectTree(o.contract)
	if err != nil {
		return err
	}
	hdr := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + token}, "X-Tenant-Slug": {tn.Slug}}
	bodyFor := func(first int) []byte {
		b, _ := json.Marshal(map[string]any{"query": query, "operationName": "ProjectTree", "variables": map[string]any{"first": first}})
		return b
	}
	api := target{name: "API", url: apiURL + "/graphql", body: bodyFor(o.first), header: hdr, statements: counter.Count}
	flr := target{name: "floor", url: floorURL + "/", body: bodyFor(o.first), header: http.Header{"Content-Type": {"application/json"}}}

	// One request each: same data?
	client := newClient(1)
	var buf bytes.Buffer
	apiSize, err := do(client, api, &buf)
	if err != nil {
		return fmt.Errorf("API: %w", err)
	}
	apiBody := bytes.Clone(buf.Bytes())
	floorSize, err := do(client, flr, &buf)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	same, summary, err := compare(apiBody, buf.Bytes())
	if err != nil {
		return err
	}
	fmt.Printf("one ProjectTree(first: %d): API %d bytes, floor %d bytes; %s\n", o.first, apiSize, floorSize, summary)
	if !same {
		fmt.Println("WARNING: the floor's data differs from the API's (see above); ratios compare unlike work")
	}

	// Statements per request, one request at a time, as $first grows.
	stmts, rows := map[int]int64{}, map[int]int64{}
	firsts := []int{1, 5, 20, 50}
	for _, f := range firsts {
		t := api
		t.body = bodyFor(f)
		counter.Reset()
		if _, err := do(client, t, &buf); err != nil {
			return fmt.Errorf("API first=%d: %w", f, err)
		}
		stmts[f], rows[f] = counter.Count(), counter.Rows()
	}
	fmt.Printf("SQL statements per API request (session lookup included), by $first:")
	for _, f := range firsts {
		fmt.Printf(" %d→%d", f, stmts[f])
	}
	fmt.Println("; floor: 3 by construction")
	fmt.Printf("rows the API's statements returned, by $first:")
	for _, f := range firsts {
		fmt.Printf(" %d→%d", f, rows[f])
	}
	fmt.Println()
	if o.showSQL {
		fmt.Println("  the statements of one API request:")
		showing.Store(true)
		if _, err := do(client, api, &buf); err != nil {
			return err
		}
		showing.Store(false)
	}
	client.CloseIdleConnections()

	// The load loop's own allocations (client side and net/http server side),
	// measured against a handler that writes a fixed payload of the API's size.
	static, stopStatic, err := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req json.RawMessage
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(apiBody)
	}))
	if err != nil {
		return err
	}
	baseline := drive(ctx, target{name: "static", url: static + "/", body: api.body, header: flr.header}, 1, time.Second, min(o.duration, 3*time.Second), apiSize)
	stopStatic()
	fmt.Printf("load-loop baseline (static %d-byte payload, 1 client): %.0f allocs/request, %.0f req/s\n\n", apiSize, baseline.mallocs, baseline.rps())

	fmt.Printf("%-6s %7s %9s %9s %9s %9s %8s %9s %12s %14s %6s\n",
		"target", "clients", "requests", "req/s", "p50", "p99", "mean", "stmt/req", "allocs/req", "allocs-baseline", "bytes")
	results := map[string]map[int]result{"API": {}, "floor": {}}
	for _, c := range o.clients {
		for _, t := range []target{api, flr} {
			want := apiSize
			if t.name == "floor" {
				want = floorSize
			}
			r := drive(ctx, t, c, o.warmup, o.duration, want)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			results[t.name][c] = r
			st := "3"
			if r.statements >= 0 {
				st = fmt.Sprintf("%.2f", r.statements)
			}
			fmt.Printf("%-6s %7d %9d %9.1f %9s %9s %8s %9s %12.0f %14.0f %6d\n", t.name, c, r.requests, r.rps(),
				ms(r.p50), ms(r.p99), ms(r.mean), st, r.mallocs, r.mallocs-baseline.mallocs, r.bytes)
			if r.failures > 0 {
				fmt.Printf("       %d failed requests; first: %s\n", r.failures, r.firstFailure)
			}
		}
	}
	fmt.Println()
	targets(results, stmts, firsts)

	if o.coldStart && name == "sqlite" {
		fmt.Println()
		if err := coldStarts(ctx, o.coldRuns, strings.TrimPrefix(fx.dbURL, "sqlite:")); err != nil {
			fmt.Printf("cold start: not measured: %v\n", err)
		}
	}
	fmt.Println()
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func login(url, email, password string) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"query":     `mutation Login($input: LoginInput!) { login(input: $input) { token } }`,
		"variables": map[string]any{"input": map[string]any{"email": email, "password": password}},
	})
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Login struct{ Token string }
		}
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	if len(out.Errors) > 0 || out.Data.Login.Token == "" {
		return "", fmt.Errorf("login as %s: %+v", email, out.Errors)
	}
	return out.Data.Login.Token, nil
}

// compare decodes both responses and reports whether their data is equal,
// with the counts of projects, tasks and comments.
func compare(apiBody, floorBody []byte) (bool, string, error) {
	var a, f struct {
		Data   map[string]any `json:"data"`
		Errors []any          `json:"errors"`
	}
	if err := json.Unmarshal(apiBody, &a); err != nil {
		return false, "", fmt.Errorf("API response: %w", err)
	}
	if len(a.Errors) > 0 {
		return false, "", fmt.Errorf("API response has errors: %v", a.Errors)
	}
	if err := json.Unmarshal(floorBody, &f); err != nil {
		return false, "", fmt.Errorf("floor response: %w", err)
	}
	var ap, at, ac, fp, ft, fc int
	count(a.Data, &ap, &at, &ac)
	count(f.Data, &fp, &ft, &fc)
	counts := fmt.Sprintf("API %d projects/%d tasks/%d comments, floor %d/%d/%d", ap, at, ac, fp, ft, fc)
	if reflect.DeepEqual(a.Data, f.Data) {
		return true, "decoded data identical (" + counts + ")", nil
	}
	return false, "decoded data DIFFERS: " + counts + "; first difference: " + diff("data", a.Data, f.Data), nil
}

// count walks a decoded ProjectTree and counts the nodes at each level.
func count(data map[string]any, p, t, c *int) {
	for _, pe := range edges(data["projects"]) {
		*p++
		for _, te := range edges(node(pe)["tasks"]) {
			*t++
			*c += len(edges(node(te)["comments"]))
		}
	}
}

func edges(conn any) []any {
	m, _ := conn.(map[string]any)
	e, _ := m["edges"].([]any)
	return e
}

func node(edge any) map[string]any {
	m, _ := edge.(map[string]any)
	n, _ := m["node"].(map[string]any)
	return n
}

func diff(path string, a, b any) string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: %T vs %T", path, a, b)
		}
		for k := range av {
			if !reflect.DeepEqual(av[k], bv[k]) {
				return diff(path+"."+k, av[k], bv[k])
			}
		}
		for k := range bv {
			if _, ok := av[k]; !ok {
				return fmt.Sprintf("%s.%s: only in the floor", path, k)
			}
		}
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return fmt.Sprintf("%s: %d vs %d items", path, len(av), len(bv))
		}
		for i := range av {
			if !reflect.DeepEqual(av[i], bv[i]) {
				return diff(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])
			}
		}
	}
	return fmt.Sprintf("%s: API %v, floor %v", path, a, b)
}

// targets prints the targets as PASS or MISS.
func targets(results map[string]map[int]result, stmts map[int]int64, firsts []int) {
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	fmt.Println("targets (ratios to the floor in this run):")
	if a, ok := results["API"][32]; ok {
		f := results["floor"][32]
		tp := a.rps() / f.rps()
		p99 := float64(a.p99) / float64(f.p99)
		fmt.Printf("  %s  32 clients: throughput %.0f%% of the floor's (%.1f vs %.1f req/s), want ≥ 70%%\n", verdict(tp >= 0.70), 100*tp, a.rps(), f.rps())
		fmt.Printf("  %s  32 clients: p99 %.2f× the floor's (%s vs %s), want ≤ 1.5×\n", verdict(p99 <= 1.5), p99, ms(a.p99), ms(f.p99))
	} else {
		fmt.Println("  (32 clients not run)")
	}
	if a, ok := results["API"][1]; ok {
		f := results["floor"][1]
		lat := float64(a.p50) / float64(f.p50)
		fmt.Printf("  %s  1 client: p50 latency %.2f× the floor's (%s vs %s; mean %s vs %s), want ≤ 1.4×\n", verdict(lat <= 1.4), lat, ms(a.p50), ms(f.p50), ms(a.mean), ms(f.mean))
	} else {
		fmt.Println("  (1 client not run)")
	}
	constant := true
	for _, f := range firsts {
		constant = constant && stmts[f] == stmts[firsts[0]]
	}
	fmt.Printf("  %s  statements per request constant in $first (%v)\n", verdict(constant), stmts)
	most := int64(0)
	for _, n := range stmts {
		most = max(most, n)
	}
	fmt.Printf("  %s  statements per request ≤ 6 (got %d, session lookup included)\n", verdict(most <= 6), most)
}

func printMachine() {
	cpu := "unknown"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown"
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		if l, _, ok := strings.Cut(string(raw), "\n"); ok {
			mem = strings.Join(strings.Fields(strings.TrimPrefix(l, "MemTotal:")), " ")
		}
	}
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d), %s, memory %s, %s %s/%s\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), cpu, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
