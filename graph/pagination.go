package graph

import (
	"context"
	"fmt"
	"strconv"

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

// pageLimits gives a connection field asked for with neither first nor last
// a first of DefaultPageSize, and checks every first/last argument of the
// operation before any resolver runs, once the caller is known (at most
// MaxPageSize, not negative: else BAD_USER_INPUT, see refuseArguments).
type pageLimits struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.OperationInterceptor
} = pageLimits{}

func (pageLimits) ExtensionName() string                   { return "PageLimits" }
func (pageLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (pageLimits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation != nil {
		applyDefaultPageSize(oc)
	}
	return nil
}

func (pageLimits) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil {
		return next(ctx)
	}
	if err := checkPageArgs(oc.Operation.SelectionSet, oc.Variables); err != nil {
		return refuseArguments(ctx, oc, err)
	}
	return next(ctx)
}

// checkPageArgs returns the error of the first first or last argument in
// set, fragments included, that is out of bounds; nil if none is.
func checkPageArgs(set ast.SelectionSet, vars map[string]any) (err *gqlerror.Error) {
	selectsField(set, func(f *ast.Field) bool {
		if f.Definition == nil || f.Definition.Arguments.ForName("first") == nil {
			return false
		}
		args := f.ArgumentMap(vars)
		for _, name := range []string{"first", "last"} {
			if err = checkPageArg(f, name, args[name]); err != nil {
				return true
			}
		}
		return false
	}, false)
	return err
}

func checkPageArg(f *ast.Field, name string, v any) *gqlerror.Error {
	if v == nil {
		return nil
	}
	n, ok := intArg(v)
	if !ok || n < 0 || n > MaxPageSize {
		got := fmt.Sprint(n)
		if !ok {
			got = fmt.Sprintf("%q", fmt.Sprint(v))
		}
		return &gqlerror.Error{
			Message:    fmt.Sprintf("%s.%s must be between 0 and %d, got %s", f.Name, name, MaxPageSize, got),
			Locations:  location(f),
			Extensions: map[string]any{"code": "BAD_USER_INPUT", "field": f.Name + "." + name},
		}
	}
	return nil
}

// intArg is an Int argument's value as the resolvers will read it
// (graphql.UnmarshalInt64). A variable may hold a number or, as gqlparser's
// validator accepts for Int, a string of digits: a check that passed over
// strings let {"n": "100000"} through to the resolvers and entgql's nested
// eager loads as LIMIT 100001. A whole float64 (a JSON number decoded
// without UseNumber) counts as its integer. false: not an integer at all.
func intArg(v any) (int64, bool) {
	if f, ok := v.(float64); ok {
		return int64(f), f == float64(int64(f))
	}
	n, err := graphql.UnmarshalInt64(v)
	return n, err == nil && v != nil
}

// applyDefaultPageSize writes "first: DefaultPageSize" into every connection
// field asked for with neither first nor last. It must be in the document,
// not only in the field's resolved arguments: entgql eager-loads nested
// connections (Project.tasks, Task.comments) while collecting the parent's
// fields, reading their arguments from the document, so a default applied
// later would leave them unbounded. The document may be shared through the
// query cache, so the operation and its fragments are rewritten as copies.
//
// Most operations name their page sizes (the contract's do); those are left
// as they are, with nothing copied.
func applyDefaultPageSize(oc *graphql.OperationContext) {
	if !lacksPageSize(oc.Operation.SelectionSet, oc.Variables) {
		return
	}
	d := &pageDefaults{vars: oc.Variables, fragments: map[string]*ast.FragmentDefinition{}}
	if oc.Doc != nil {
		doc := *oc.Doc
		doc.Fragments = make(ast.FragmentDefinitionList, len(oc.Doc.Fragments))
		for i, f := range oc.Doc.Fragments {
			c := *f
			doc.Fragments[i] = &c
			d.fragments[f.Name] = &c
		}
		for _, f := range doc.Fragments {
			f.SelectionSet = d.rewrite(f.SelectionSet)
		}
		oc.Doc = &doc
	}
	op := *oc.Operation
	op.SelectionSet = d.rewrite(op.SelectionSet)
	oc.Operation = &op
}

// lacksPageSize reports whether set asks for a connection field with neither
// first nor last, through fragments too.
func lacksPageSize(set ast.SelectionSet, vars map[string]any) bool {
	return selectsField(set, func(f *ast.Field) bool {
		if !isPaged(f) {
			return false
		}
		args := f.ArgumentMap(vars)
		return args["first"] == nil && args["last"] == nil
	}, false)
}

// isPaged reports whether f is a connection field (it takes first and last).
func isPaged(f *ast.Field) bool {
	return f.Definition != nil && f.Definition.Arguments.ForName("first") != nil && f.Definition.Arguments.ForName("last") != nil
}

type pageDefaults struct {
	vars      map[string]any
	fragments map[string]*ast.FragmentDefinition // the copies, by name
}

func (d *pageDefaults) rewrite(set ast.SelectionSet) ast.SelectionSet {
	out := make(ast.SelectionSet, len(set))
	for i, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			c := *s
			c.SelectionSet = d.rewrite(s.SelectionSet)
			if isPaged(s) {
				args := s.ArgumentMap(d.vars)
				if args["first"] == nil && args["last"] == nil {
					c.Arguments = withDefaultFirst(s)
				}
			}
			out[i] = &c
		case *ast.InlineFragment:
			c := *s
			c.SelectionSet = d.rewrite(s.SelectionSet)
			out[i] = &c
		case *ast.FragmentSpread:
			c := *s
			if f, ok := d.fragments[s.Name]; ok {
				c.Definition = f
			}
			out[i] = &c
		default:
			out[i] = sel
		}
	}
	return out
}

// withDefaultFirst returns f's arguments with first set to DefaultPageSize
// (replacing a first that names a null or absent variable).
func withDefaultFirst(f *ast.Field) ast.ArgumentList {
	args := make(ast.ArgumentList, 0, len(f.Arguments)+1)
	for _, a := range f.Arguments {
		if a.Name != "first" {
			args = append(args, a)
		}
	}
	return append(args, &ast.Argument{
		Name:     "first",
		Value:    &ast.Value{Kind: ast.IntValue, Raw: strconv.Itoa(DefaultPageSize), Position: f.Position},
		Position: f.Position,
	})
}

func location(f *ast.Field) []gqlerror.Location {
	if f.Position == nil {
		return nil
	}
	return []gqlerror.Location{{Line: f.Position.Line, Column: f.Position.Column}}
}
