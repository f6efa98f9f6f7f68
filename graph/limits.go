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
	seen := (&rootCounter{memo: map[string]map[string]int64{}, onPath: map[string]bool{}}).count(oc.Operation.SelectionSet)
	var roots int64
	for _, n := range seen {
		roots = satAdd(roots, n)
	}
	if roots > int64(e.MaxRootFields) {
		return limitError("QUERY_TOO_COMPLEX", fmt.Sprintf("the operation has %d root fields; at most %d are allowed", roots, e.MaxRootFields),
			map[string]any{"rootFields": roots, "limit": e.MaxRootFields})
	}
	for name := range onceOnly {
		if seen[name] > 1 {
			return limitError("QUERY_TOO_COMPLEX", fmt.Sprintf("%s may appear once per operation; it appears %d times", name, seen[name]),
				map[string]any{"field": name, "count": seen[name]})
		}
	}
	w := &walker{vars: oc.Variables, fragments: map[string]bool{}, schema: e.schema, limit: int64(e.MaxComplexity),
		depths: map[string]int{}, costs: map[string]int64{}}
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

// A fragment may be spread many times, and spread fragments that spread
// others many times: ten lines of a document can stand for 2^40 fields. So
// the walks below work out each fragment once, as a number that each
// spread then adds (root fields, depth) or multiplies (cost), saturating
// at saturated; gqlparser's validator likewise visits each fragment once.

// saturated caps the counts: far past any limit, far from overflowing.
const saturated = int64(1) << 40

func satAdd(a, b int64) int64 { return min(a+b, saturated) } // a, b ≤ saturated

func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > saturated/b {
		return saturated
	}
	return min(a*b, saturated)
}

// rootCounter counts the root fields by name, through fragments.
type rootCounter struct {
	memo   map[string]map[string]int64 // a fragment's counts
	onPath map[string]bool             // the validator rejects cycles; belt and braces
}

func (rc *rootCounter) count(set ast.SelectionSet) map[string]int64 {
	out := map[string]int64{}
	add := func(counts map[string]int64) {
		for name, n := range counts {
			out[name] = satAdd(out[name], n)
		}
	}
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			out[s.Name] = satAdd(out[s.Name], 1)
		case *ast.InlineFragment:
			add(rc.count(s.SelectionSet))
		case *ast.FragmentSpread:
			if s.Definition == nil || rc.onPath[s.Name] {
				continue
			}
			counts, ok := rc.memo[s.Name]
			if !ok {
				rc.onPath[s.Name] = true
				counts = rc.count(s.Definition.SelectionSet)
				delete(rc.onPath, s.Name)
				rc.memo[s.Name] = counts
			}
			add(counts)
		}
	}
	return out
}

type walker struct {
	vars      map[string]any
	fragments map[string]bool  // on the current path (the validator rejects cycles; this is belt and braces)
	schema    *ast.Schema      // introspection's cost is counted on it
	limit     int64            // past it, counting stops
	depths    map[string]int   // a fragment's depth below the level it is spread at
	costs     map[string]int64 // a fragment's cost on one object
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
			below, ok := w.depths[s.Name]
			if !ok {
				w.fragments[s.Name] = true
				below = w.depth(s.Definition.SelectionSet, 0)
				delete(w.fragments, s.Name)
				w.depths[s.Name] = below
			}
			d = level + below
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// cost is the complexity of set when it is resolved on mult objects: mult
// times its cost on one (a fragment's is worked out once).
func (w *walker) cost(set ast.SelectionSet, mult int64) int64 {
	var total int64
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if isIntrospection(s) {
				budget := saturated
				if w.limit > 0 {
					budget = max(w.limit-total, 0)
				}
				total = satAdd(total, satMul(mult, w.introspectionCost(s, budget)))
				break
			}
			total = satAdd(total, satAdd(mult, w.cost(s.SelectionSet, satMul(mult, w.fanOut(s)))))
		case *ast.InlineFragment:
			total = satAdd(total, w.cost(s.SelectionSet, mult))
		case *ast.FragmentSpread:
			if s.Definition == nil || w.fragments[s.Name] {
				continue
			}
			one, ok := w.costs[s.Name]
			if !ok {
				w.fragments[s.Name] = true
				one = w.cost(s.Definition.SelectionSet, 1)
				delete(w.fragments, s.Name)
				w.costs[s.Name] = one
			}
			total = satAdd(total, satMul(mult, one))
		}
		if total >= saturated { // no need to count further
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
			if n, ok := intArg(args[name]); ok {
				// A page size past MaxPageSize is refused by pageLimits,
				// with BAD_USER_INPUT naming it, and never runs: counted as
				// it is, it would be refused here first as too complex.
				return min(max(n, 1), MaxPageSize)
			}
		}
		return DefaultPageSize
	}
	if ids, ok := args["ids"].([]any); ok {
		return max(int64(len(ids)), 1)
	}
	return 1
}

func isIntrospection(f *ast.Field) bool { return f.Name == "__schema" || f.Name == "__type" }
