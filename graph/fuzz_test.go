package graph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/parser"

	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
)

// FuzzGraphQLEndpoint sends each input to a running server three ways: as
// the raw POST body, as the query of a JSON POST body, and as the query of a
// GET. Whatever the input, the answer comes at once, is below 500 and is a GraphQL
// response: JSON with data or errors, every error with a documented code
// (a panic in a resolver would surface as INTERNAL_SERVER_ERROR, one in the
// transport as a 500).
//
// The seeds (the contract's operations and hostile bodies, plus the files
// in testdata/fuzz/FuzzGraphQLEndpoint) run with every go test; fuzz with
//
//	go test ./graph/ -run=^$ -fuzz=FuzzGraphQLEndpoint -fuzztime=30s
func FuzzGraphQLEndpoint(f *testing.F) {
	for _, op := range fuzzContractOperations(f) {
		f.Add(op)
		body, _ := json.Marshal(map[string]any{"query": op, "variables": map[string]any{"first": 5}})
		f.Add(string(body))
	}
	for _, seed := range []string{
		``,
		`{`,
		`[{"query": "{ currentTenant { id } }"}]`,
		`{"query": "{ currentTenant { id } }", "variables": [], "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "00"}}}`,
		`{"query": "query($w: ProjectWhereInput) { projects(where: $w) { totalCount } }", "variables": {"w": {"not": {"not": {"not": {"nameContains": "%"}}}}}}`,
		`{"query": "query($c: Cursor) { projects(first: 1) { edges { node { tasks(after: $c) { totalCount } } } } }", "variables": {"c": "!"}}`,
		`{ node(id: "Z2lkOjE") { id ... on Project { activity { totalCount } } } }`,
		`mutation { createProject(input: {name: "'; DROP TABLE projects; --"}) { id } }`,
		`{ a: tenantStats { taskCount } b: activityLogs(first: 100) { totalCount } }`,
		"{ projects(where: {nameContains: \"\\u0000\"}) { totalCount } }",
		`subscription { notificationAdded { id } }`,
		`{ __schema { types { name fields { name } } } }`,
		strings.Repeat("{ a ", 300) + strings.Repeat("} ", 300),
	} {
		f.Add(seed)
	}

	e := graphtest.NewWithLimits(f, dialect.SQLite, graph.DefaultLimits)
	owner := e.Register("Owner")
	e.CreateTenant(owner, "acme")
	o := owner.Caller("acme")
	task := e.CreateTask(o, e.CreateProject(o, "Rocket"), "Fuel")
	e.CreateComment(o, task, "ordered")
	client := &http.Client{}

	f.Fuzz(func(t *testing.T, input string) {
		wrapped, _ := json.Marshal(map[string]any{"query": input})
		requests := []struct {
			name   string
			method string
			target string
			body   []byte
		}{
			{"raw body", http.MethodPost, e.URL, []byte(input)},
			{"query in JSON", http.MethodPost, e.URL, wrapped},
			{"query in GET", http.MethodGet, e.URL + "?query=" + url.QueryEscape(input), nil},
		}
		for _, r := range requests {
			req, err := http.NewRequest(r.method, r.target, bytes.NewReader(r.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+owner.Token)
			req.Header.Set("X-Tenant-Slug", "acme")
			if r.body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("%s %q: answered after %s, want at once", r.name, input, d)
			}
			raw, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("%s: reading: %v", r.name, err)
			}
			if problem := fuzzProblem(resp.StatusCode, raw); problem != "" {
				t.Fatalf("%s %q: %s", r.name, input, problem)
			}
		}
	})
}

// fuzzProblem says what is wrong with an answer, or "".
func fuzzProblem(status int, body []byte) string {
	if status >= 500 {
		return "status " + http.StatusText(status) + ": " + advShort(string(body))
	}
	var r struct {
		Data   json.RawMessage
		Errors []graphtest.Error
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return "the body is not JSON: " + advShort(string(body))
	}
	if len(r.Errors) == 0 && (len(r.Data) == 0 || string(r.Data) == "null") {
		return "neither data nor errors: " + advShort(string(body))
	}
	for _, e := range r.Errors {
		if !advCodes[e.Code()] {
			return "an error with code " + e.Code() + ": " + e.Message
		}
	}
	return ""
}

// fuzzContractOperations returns each operation of the contract as a
// standalone document.
func fuzzContractOperations(f *testing.F) []string {
	f.Helper()
	src, err := os.ReadFile(contractPath)
	if err != nil {
		f.Fatalf("reading the contract: %v", err)
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: string(src)})
	if err != nil {
		f.Fatalf("parsing the contract: %v", err)
	}
	var ops []string
	for _, op := range doc.Operations {
		var buf bytes.Buffer
		formatter.NewFormatter(&buf).FormatQueryDocument(&ast.QueryDocument{Operations: ast.OperationList{op}})
		ops = append(ops, buf.String())
	}
	return ops
}
