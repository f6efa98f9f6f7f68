package graph_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"tenantgraph/graph"
)

// contractPath is the client contract, kept beside the repository.
var contractPath = filepath.Join("..", "..", "shared", "contract", "operations.graphql")

// laterIssues are contract operations not served yet, with the issue that
// brings them. Every other operation is in scope now.
var laterIssues = map[string]string{}

// contractOperations parses the contract and returns each operation as a
// standalone document, by name.
func contractOperations(t *testing.T) map[string]string {
	t.Helper()
	src, err := os.ReadFile(contractPath)
	if err != nil {
		t.Fatalf("reading the contract (it lives in ../shared/contract beside the repository): %v", err)
	}
	doc, err := parser.ParseQuery(&ast.Source{Name: "operations.graphql", Input: string(src)})
	if err != nil {
		t.Fatalf("parsing the contract: %v", err)
	}
	ops := map[string]string{}
	for _, op := range doc.Operations {
		var buf bytes.Buffer
		formatter.NewFormatter(&buf).FormatQueryDocument(&ast.QueryDocument{Operations: ast.OperationList{op}})
		ops[op.Name] = buf.String()
	}
	return ops
}

func TestContractOperationsValidate(t *testing.T) {
	schema := graph.NewSchema(graph.Deps{}).Schema()
	ops := contractOperations(t)
	names := make([]string, 0, len(ops))
	for name := range ops {
		names = append(names, name)
	}
	sort.Strings(names)
	inScope := 0
	for _, name := range names {
		if _, later := laterIssues[name]; later {
			continue
		}
		inScope++
		t.Run(name, func(t *testing.T) {
			doc, err := parser.ParseQuery(&ast.Source{Name: name, Input: ops[name]})
			if err != nil {
				t.Fatalf("re-parsing: %v", err)
			}
			if errs := validator.Validate(schema, doc); len(errs) > 0 {
				t.Errorf("%s does not validate against the schema: %v", name, errs)
			}
		})
	}
	if inScope < 25 {
		t.Errorf("in-scope contract operations: got %d, want at least 25 (was the contract truncated?)", inScope)
	}
	for name := range laterIssues {
		if _, ok := ops[name]; !ok {
			t.Errorf("the contract no longer has %s: update laterIssues", name)
		}
	}
}
