package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"tenantgraph/internal/benchdata"
	"tenantgraph/internal/server"
)

// BenchmarkProjectTree serves the contract's ProjectTree(first: 20) from the
// production handler and from the floor, in process (no sockets), on the
// issue's data set in SQLite, or in PostgreSQL when TEST_DATABASE_URL is
// set. Each sub-benchmark reports SQL statements per request beside Go's
// ns/op and allocs/op, and checks every answer's size.
//
//	go test ./cmd/bench -run '^$' -bench ProjectTree -benchmem
//	go test ./cmd/bench -run '^$' -bench ProjectTree/api -cpuprofile cpu.out -memprofile mem.out
//
// BENCH_SHAPE sets a smaller data set (such as 1x2x20x20x5) for a quick run.
func BenchmarkProjectTree(b *testing.B) {
	server.TuneGC(os.Getenv, nil) // as cmd/server runs
	shape := benchdata.Full
	if s := os.Getenv("BENCH_SHAPE"); s != "" {
		var err error
		if shape, err = benchdata.ParseShape(s); err != nil {
			b.Fatal(err)
		}
	}
	name, pgURL := "sqlite", ""
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		name, pgURL = "postgres", u
	}
	fx, err := newFixture(context.Background(), name, pgURL, shape, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(fx.close)
	api, fl, counter, tn := fx.api, fx.floor, fx.counter, fx.tenant

	// Log in through the handler, as a MEMBER.
	srv := httptest.NewServer(api)
	token, err := login(srv.URL+"/graphql", fx.member(), fx.ds.Password)
	srv.Close()
	if err != nil {
		b.Fatal(err)
	}
	query, err := projectTree("../../../shared/contract/operations.graphql")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"query": query, "operationName": "ProjectTree", "variables": map[string]any{"first": 20}})

	serve := func(h http.Handler, path string, auth bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if auth {
			r.Header.Set("Authorization", "Bearer "+token)
			r.Header.Set("X-Tenant-Slug", tn.Slug)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	apiWant := serve(api, "/graphql", true)
	floorWant := serve(fl, "/", false)
	if apiWant.Code != http.StatusOK || floorWant.Code != http.StatusOK {
		b.Fatalf("status: API %d (%.200s), floor %d", apiWant.Code, apiWant.Body, floorWant.Code)
	}
	if same, summary, err := compare(apiWant.Body.Bytes(), floorWant.Body.Bytes()); err != nil || !same {
		b.Fatalf("the API and the floor disagree: %s %v", summary, err)
	}

	run := func(h http.Handler, path string, auth bool, want int) func(*testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			counter.Reset()
			for b.Loop() {
				if w := serve(h, path, auth); w.Code != http.StatusOK || w.Body.Len() != want {
					b.Fatalf("status %d, %d bytes, want %d", w.Code, w.Body.Len(), want)
				}
			}
			if auth {
				b.ReportMetric(float64(counter.Count())/float64(b.N), "stmts/op")
				b.ReportMetric(float64(counter.Rows())/float64(b.N), "rows/op")
			}
		}
	}
	b.Run("api", run(api, "/graphql", true, apiWant.Body.Len()))
	b.Run("floor", run(fl, "/", false, floorWant.Body.Len()))
}
