package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

const (
	// DefaultPageSize is the page size of a connection asked for with
	// neither first nor last.
	DefaultPageSize = 20
	// MaxPageSize bounds first and last.
	MaxPageSize = 100
)

// pageLimits checks every first/last argument of the operation before any
// resolver or SQL runs (at most MaxPageSize, not negative: else
// BAD_USER_INPUT), and gives a connection field asked for with neither a
// first of DefaultPageSize.
type pageLimits struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.FieldInterceptor
} = pageLimits{}

func (pageLimits) ExtensionName() string                   { return "PageLimits" }
func (pageLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (pageLimits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	return checkPageArgs(oc.Operation.SelectionSet, oc.Variables, map[string]bool{})
}

func checkPageArgs(set ast.SelectionSet, vars map[string]any, seen map[string]bool) *gqlerror.Error {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Definition != nil && s.Definition.Arguments.ForName("first") != nil {
				args := s.ArgumentMap(vars)
				for _, name := range []string{"first", "last"} {
					if err := checkPageArg(s, name, args[name]); err != nil {
						return err
					}
				}
			}
			if err := checkPageArgs(s.SelectionSet, vars, seen); err != nil {
				return err
			}
		case *ast.InlineFragment:
			if err := checkPageArgs(s.SelectionSet, vars, seen); err != nil {
				return err
			}
		case *ast.FragmentSpread:
			if s.Definition == nil || seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			if err := checkPageArgs(s.Definition.SelectionSet, vars, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkPageArg(f *ast.Field, name string, v any) *gqlerror.Error {
	var n int64
	switch x := v.(type) {
	case nil:
		return nil
	case int64:
		n = x
	case int:
		n = int64(x)
	case float64:
		n = int64(x)
	default:
		return nil // the validator rejects non-integers itself
	}
	if n < 0 || n > MaxPageSize {
		return &gqlerror.Error{
			Message:    fmt.Sprintf("%s.%s must be between 0 and %d, got %d", f.Name, name, MaxPageSize, n),
			Locations:  location(f),
			Extensions: map[string]any{"code": "BAD_USER_INPUT", "field": name},
		}
	}
	return nil
}

func (pageLimits) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc != nil && fc.Args != nil {
		first, hasFirst := fc.Args["first"].(*int)
		last, hasLast := fc.Args["last"].(*int)
		if hasFirst && hasLast && first == nil && last == nil {
			n := DefaultPageSize
			fc.Args["first"] = &n
		}
	}
	return next(ctx)
}

func location(f *ast.Field) []gqlerror.Location {
	if f.Position == nil {
		return nil
	}
	return []gqlerror.Location{{Line: f.Position.Line, Column: f.Position.Column}}
}
