package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Limits bound what one operation may ask for. They are checked on the
// parsed, validated document before any resolver or SQL runs.
type Limits struct {
	// MaxDepth is the deepest field nesting, counting connection edges and
	// node levels (default 15).
	MaxDepth int
	// MaxComplexity bounds the operation's cost: every field costs 1 for
	// each object it may be resolved on, so a connection multiplies the cost
	// of what it holds by its first/last (default 20 when absent) and nodes
	// by its number of IDs (default 250,000; see DefaultLimits).
	MaxComplexity int
	// MaxRootFields bounds the root fields of one operation, aliases
	// included (default 50).
	MaxRootFields int
}

// DefaultLimits are the limits when none are configured. The contract's
// heaviest operation, ProjectTree with first: 100, costs about 14,000;
// GitHub's 500,000-node ceiling, for an API whose pages hold at most 100,
// scales to the default complexity.
var DefaultLimits = Limits{MaxDepth: 15, MaxComplexity: 250_000, MaxRootFields: 50}

// onceOnly are root fields an operation may contain at most once, so that
// aliases cannot multiply password guesses.
var onceOnly = map[string]bool{"login": true, "register": true}

type limitsExtension struct {
	Limits
	schema *ast.Schema // introspection is counted on it (Validate sets it)
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = &limitsExtension{}

func (*limitsExtension) ExtensionName() string { return "QueryLimits" }

func (e *limitsExtension) Validate(es graphql.ExecutableSchema) error {
	e.schema = es.Schema()
	return nil
}

func (e *limitsExtension) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	roots := 0
	seen := map[string]int{}
	countRoots(oc.Operation.SelectionSet, func(f *ast.Field) {
		roots++
		seen[f.Name]++
	}, map[string]bool{})
	if roots > e.MaxRootFields {
		return limitError("QUERY_TOO_COMPLEX", fmt.Sprintf("the operation has %d root fields; at most %d are allowed", roots, e.MaxRootFields),
			map[string]any{"rootFields": roots, "limit": e.MaxRootFields})
	}
	for name := range onceOnly {
		if seen[name] > 1 {
			return limitError("QUERY_TOO_COMPLEX", fmt.Sprintf("%s may appear once per operation; it appears %d times", name, seen[name]),
				map[string]any{"field": name, "count": seen[name]})
		}
	}
	w := &walker{vars: oc.Variables, fragments: map[string]bool{}, schema: e.schema, limit: int64(e.MaxComplexity)}
	if depth := w.depth(oc.Operation.SelectionSet, 0); depth > e.MaxDepth {
		return limitError("QUERY_TOO_DEEP", fmt.Sprintf("the operation is %d levels deep; at most %d are allowed", depth, e.MaxDepth),
			map[string]any{"depth": depth, "limit": e.MaxDepth})
	}
	if cost := w.cost(oc.Operation.SelectionSet, 1); cost > int64(e.MaxComplexity) {
		return limitError("QUERY_TOO_COMPLEX", fmt.Sprintf("the operation's complexity is %d; at most %d is allowed", cost, e.MaxComplexity),
			map[string]any{"complexity": cost, "limit": e.MaxComplexity})
	}
	return nil
}

func limitError(code, msg string, ext map[string]any) *gqlerror.Error {
	ext["code"] = code
	return &gqlerror.Error{Message: msg, Extensions: ext}
}

// countRoots visits the root fields, through fragments.
func countRoots(set ast.SelectionSet, visit func(*ast.Field), inFragment map[string]bool) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			visit(s)
		case *ast.InlineFragment:
			countRoots(s.SelectionSet, visit, inFragment)
		case *ast.FragmentSpread:
			if s.Definition != nil && !inFragment[s.Name] {
				inFragment[s.Name] = true
				countRoots(s.Definition.SelectionSet, visit, inFragment)
				delete(inFragment, s.Name)
			}
		}
	}
}

type walker struct {
	vars      map[string]any
	fragments map[string]bool // on the current path (the validator rejects cycles; this is belt and braces)
	schema    *ast.Schema     // introspection's cost is counted on it
	limit     int64           // past it, counting stops
}

// depth is the deepest field level below set. Introspection (__schema,
// __type) is not counted: the validator bounds how deeply it nests
// (gqlparser's MaxIntrospectionDepth), a wrapper's ofType chain ends with
// its named type, and its cost counts every field it resolves
// (introspectionCost).
func (w *walker) depth(set ast.SelectionSet, level int) int {
	deepest := level
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if isIntrospection(s) {
				continue
			}
			d = w.depth(s.SelectionSet, level+1)
		case *ast.InlineFragment:
			d = w.depth(s.SelectionSet, level)
		case *ast.FragmentSpread:
			if s.Definition == nil || w.fragments[s.Name] {
				continue
			}
			w.fragments[s.Name] = true
			d = w.depth(s.Definition.SelectionSet, level)
			delete(w.fragments, s.Name)
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// cost is the complexity of set when it is resolved on mult objects.
func (w *walker) cost(set ast.SelectionSet, mult int64) int64 {
	var total int64
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if isIntrospection(s) {
				budget := int64(1 << 40)
				if w.limit > 0 {
					budget = max(w.limit-total, 0)
				}
				total += mult * w.introspectionCost(s, budget)
				break
			}
			total += mult + w.cost(s.SelectionSet, mult*w.fanOut(s))
		case *ast.InlineFragment:
			total += w.cost(s.SelectionSet, mult)
		case *ast.FragmentSpread:
			if s.Definition == nil || w.fragments[s.Name] {
				continue
			}
			w.fragments[s.Name] = true
			total += w.cost(s.Definition.SelectionSet, mult)
			delete(w.fragments, s.Name)
		}
		if total > 1<<40 { // no need to count further
			return total
		}
	}
	return total
}

// fanOut is how many objects a field's selection may be resolved on: a
// connection's page size (first, else last, else the default), the number of
// IDs of nodes, else 1. A connection's edges and node levels then resolve
// once per item (they inherit the page's multiplier, not a new one).
func (w *walker) fanOut(f *ast.Field) int64 {
	if f.Definition == nil || len(f.Definition.Arguments) == 0 {
		return 1 // and no argument map to build: most fields take none
	}
	args := f.ArgumentMap(w.vars)
	if f.Definition.Arguments.ForName("first") != nil {
		for _, name := range []string{"first", "last"} {
			if n, ok := toInt(args[name]); ok {
				return max(n, 1)
			}
		}
		return DefaultPageSize
	}
	if ids, ok := args["ids"].([]any); ok {
		return max(int64(len(ids)), 1)
	}
	return 1
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case float64:
		return int64(x), true
	}
	return 0, false
}

func isIntrospection(f *ast.Field) bool { return f.Name == "__schema" || f.Name == "__type" }
