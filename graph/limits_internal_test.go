package graph

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// measure parses and validates query against the real schema and returns
// the limits extension's verdict plus the measured depth and cost.
func measure(t *testing.T, query, operation string, vars map[string]any) (depth int, cost int64, verdict *gqlerror.Error) {
	t.Helper()
	schema := NewSchema(Deps{}).Schema()
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if errs := validator.Validate(schema, doc); len(errs) > 0 {
		t.Fatalf("validate: %v", errs)
	}
	op := doc.Operations.ForName(operation)
	if op == nil {
		t.Fatalf("no operation %q", operation)
	}
	w := &walker{vars: vars, fragments: map[string]bool{}, schema: schema}
	oc := &graphql.OperationContext{Doc: doc, Operation: op, Variables: vars}
	e := &limitsExtension{Limits: DefaultLimits, schema: schema}
	return w.depth(op.SelectionSet, 0), w.cost(op.SelectionSet, 1), e.MutateOperationContext(t.Context(), oc)
}

// TestContractPassesLimitsWithRoom: every contract operation, with its
// largest page sizes, stays well inside the default limits.
func TestContractPassesLimitsWithRoom(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "shared", "contract", "operations.graphql"))
	if err != nil {
		t.Fatalf("reading the contract: %v", err)
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: string(src)})
	if err != nil {
		t.Fatal(err)
	}
	schema := NewSchema(Deps{}).Schema()
	for _, op := range doc.Operations {
		single := &ast.QueryDocument{Operations: ast.OperationList{op}}
		if errs := validator.Validate(schema, single); len(errs) > 0 {
			continue // not served yet (a later issue); TestContractOperationsValidate tracks those
		}
		vars := map[string]any{"first": int64(MaxPageSize)}
		w := &walker{vars: vars, fragments: map[string]bool{}, schema: schema}
		depth, cost := w.depth(op.SelectionSet, 0), w.cost(op.SelectionSet, 1)
		t.Logf("%-26s depth %2d  complexity %7d", op.Name, depth, cost)
		if depth > DefaultLimits.MaxDepth*3/4 {
			t.Errorf("%s: depth %d leaves too little room under %d", op.Name, depth, DefaultLimits.MaxDepth)
		}
		if cost > int64(DefaultLimits.MaxComplexity)/4 {
			t.Errorf("%s: complexity %d leaves too little room under %d", op.Name, cost, DefaultLimits.MaxComplexity)
		}
	}
}

func TestLimitsRejectBombs(t *testing.T) {
	cases := []struct {
		name, query, op string
		vars            map[string]any
		wantCode        string
	}{
		{"deep", `query Deep { projects(first: 1) { edges { node { tasks(first: 1) { edges { node { project { tasks(first: 1) { edges { node { project { tasks(first: 1) { edges { node { project { id } } } } } } } } } } } } } } } }`, "Deep", nil, "QUERY_TOO_DEEP"},
		{"wide pages", `query Wide { projects(first: 100) { edges { node { tasks(first: 100) { edges { node { comments(first: 100) { edges { node { id body author { id name email } } } } } } } } } } }`, "Wide", nil, "QUERY_TOO_COMPLEX"},
		{"aliases", `query A { ` + aliases(51) + ` }`, "A", nil, "QUERY_TOO_COMPLEX"},
		{"login twice", `mutation L { a: login(input: {email: "a@b.c", password: "12345678"}) { token } b: login(input: {email: "a@b.c", password: "87654321"}) { token } }`, "L", nil, "QUERY_TOO_COMPLEX"},
		{"fine", `query Fine { projects(first: 20) { edges { node { id } } } }`, "Fine", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			depth, cost, verdict := measure(t, tc.query, tc.op, tc.vars)
			got := ""
			if verdict != nil {
				got, _ = verdict.Extensions["code"].(string)
			}
			if got != tc.wantCode {
				t.Errorf("code: got %q (%v; depth %d, cost %d), want %q", got, verdict, depth, cost, tc.wantCode)
			}
		})
	}
}

func aliases(n int) string {
	s := ""
	for i := 0; i < n; i++ {
		s += "a" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ": projectWorkflow { from } "
	}
	return s
}

// introspectionQuery is the query GraphiQL and Apollo's tooling send
// (graphql-js's getIntrospectionQuery with every option on).
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    description
    queryType { name kind }
    mutationType { name kind }
    subscriptionType { name kind }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL isOneOf
  fields(includeDeprecated: true) {
    name description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description type { ...TypeRef } defaultValue isDeprecated deprecationReason
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } } }
}`

// Introspection is charged for every field it resolves, counted on the
// schema: GraphiQL's query passes with room, and aliases or fragments that
// multiply it (11 MB to 93 MB of JSON from one anonymous request before
// it was counted) are refused before anything runs.
func TestIntrospectionIsCounted(t *testing.T) {
	schema := NewSchema(Deps{}).Schema()
	_, cost, verdict := measure(t, introspectionQuery, "IntrospectionQuery", nil)
	t.Logf("GraphiQL's introspection query: complexity %d", cost)
	if verdict != nil || cost < 1000 || cost > int64(DefaultLimits.MaxComplexity)/4 {
		t.Errorf("GraphiQL's introspection query: complexity %d, verdict %v; want it counted (> 1,000) and well inside %d",
			cost, verdict, DefaultLimits.MaxComplexity)
	}

	// Counted exactly: __schema, types, and one name per type; __type,
	// fields and one name per field of Project.
	if _, cost, _ := measure(t, `query N { __schema { types { name } } }`, "N", nil); cost != int64(2+len(schema.Types)) {
		t.Errorf("types { name }: complexity %d, want %d", cost, 2+len(schema.Types))
	}
	projectFields := 0
	for _, f := range schema.Types["Project"].Fields {
		if !strings.HasPrefix(f.Name, "__") {
			projectFields++
		}
	}
	if _, cost, _ := measure(t, `query P($n: String!) { __type(name: $n) { fields { name type { ofType { name } } } } }`, "P",
		map[string]any{"n": "Project"}); cost <= int64(2+2*projectFields) {
		t.Errorf("__type(Project): complexity %d, want more than %d", cost, 2+2*projectFields)
	}
	if _, cost, _ := measure(t, `query U { __type(name: "NoSuchType") { name } }`, "U", nil); cost != 1 {
		t.Errorf("__type of an unknown type: complexity %d, want 1", cost)
	}

	var fields, spread, roots strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&fields, "f%d: fields { name } ", i)
	}
	for i := range 100 {
		fmt.Fprintf(&spread, "f%d: fields { name } ", i)
	}
	for i := range 20 {
		fmt.Fprintf(&roots, "s%d: __schema { types { ...F } } ", i)
	}
	for name, q := range map[string]string{
		"aliases":   `query B { __schema { types { ` + fields.String() + `} } }`,
		"fragments": `query B { ` + roots.String() + `} fragment F on __Type { ` + spread.String() + `}`,
	} {
		if _, cost, verdict := measure(t, q, "B", nil); verdict == nil || verdict.Extensions["code"] != "QUERY_TOO_COMPLEX" {
			t.Errorf("%s: complexity %d, verdict %v; want QUERY_TOO_COMPLEX", name, cost, verdict)
		}
	}
}
