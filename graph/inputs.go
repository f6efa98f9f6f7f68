package graph

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/ent"
)

// Bounds on argument values, checked before any resolver runs, once the
// caller is known (refuseArguments). Without them a valid request can make the server
// panic (an undecodable cursor on a nested connection, see checkCursor), or
// the database fail (an internal error) or work past the request timeout:
//   - PostgreSQL can neither store nor compare a string holding NUL;
//   - every level of a where filter is a subquery or a deeper expression:
//     a hundred levels of hasTasksWith/hasCommentsWith keep PostgreSQL busy
//     for seconds, and SQLite refuses expression trees deeper than 1,000;
//   - both databases bound a statement's parameters (SQLite 32,766,
//     PostgreSQL 65,535), and SQLite refuses LIKE patterns over 50,000 bytes.
const (
	// maxFilterDepth bounds the nesting of a where argument: its fields are
	// level 1, and each input object inside (and/or/not, hasXWith) opens
	// one more.
	maxFilterDepth = 10
	// maxFilterValues bounds the values of a where argument: its fields,
	// list items and nested objects, counted together.
	maxFilterValues = 500
	// maxFilterString bounds a string in a where argument, in characters
	// (the longest field stored, a description or a comment, is 10,000).
	maxFilterString = 10_000
)

type inputBounds struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
} = inputBounds{}

func (inputBounds) ExtensionName() string                   { return "InputBounds" }
func (inputBounds) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation checks the operation's arguments once its session is
// known (it runs after sessionExtension): see refuseArguments.
func (inputBounds) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil {
		return next(ctx)
	}
	if err := checkArguments(oc); err != nil {
		return refuseArguments(ctx, oc, err)
	}
	return next(ctx)
}

// refuseArguments answers an operation whose arguments a check refused
// (inputBounds, pageLimits). The checks run once the caller is known, so
// that a bad token is UNAUTHENTICATED whatever the arguments (the session
// answers it first), and their error is answered only to a caller who may
// ask for every field of the operation: another gets what @authenticated
// or @hasRole says of the first field they may not ask for, as they would
// had the arguments been fine, so that what they sent reveals nothing (as
// accessError does for the arguments gqlgen decodes). Nothing runs either
// way.
func refuseArguments(ctx context.Context, oc *graphql.OperationContext, err *gqlerror.Error) graphql.ResponseHandler {
	if denied := operationAccessError(ctx, oc.Operation.SelectionSet); denied != nil {
		err = denied
	}
	return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{err}})
}

// checkArguments returns the error of the first argument value of the
// operation that is out of bounds; nil if none is.
func checkArguments(oc *graphql.OperationContext) *gqlerror.Error {
	var found *gqlerror.Error
	eachField(oc.Operation.SelectionSet, func(f *ast.Field) bool {
		if f.Definition == nil || len(f.Definition.Arguments) == 0 {
			return true // no arguments (and no map of them to build)
		}
		for name, v := range f.ArgumentMap(oc.Variables) {
			path := f.Name + "." + name
			if found = checkStrings(path, v); found != nil {
				return false
			}
			if name == "where" {
				if found = checkFilter(path, v); found != nil {
					return false
				}
			}
			if isCursor(f, name) {
				if found = checkCursor(path, v); found != nil {
					return false
				}
			}
		}
		return true
	})
	return found
}

// eachField visits the fields of set, through fragments, until visit
// returns false; false then. A fragment's fields are visited once however
// often it is spread (selects): what visit checks of a field, its
// arguments, does not depend on where it is spread, and a walk per spread
// is exponential in the document (a fragment spreading another twice,
// forty deep).
func eachField(set ast.SelectionSet, visit func(*ast.Field) bool) bool {
	return !selectsField(set, func(f *ast.Field) bool { return !visit(f) }, false)
}

// checkStrings refuses a NUL character, and bytes that are not UTF-8, in
// any string of v. PostgreSQL's text takes neither (SQLite would store
// both); JSON bodies cannot carry the latter (encoding/json replaces them),
// but a GET request's query string can, in its string literals.
func checkStrings(path string, v any) *gqlerror.Error {
	var found *gqlerror.Error
	eachValue(v, path, 0, func(v any, path string, _ int) bool {
		s, ok := v.(string)
		switch {
		case !ok:
		case strings.IndexByte(s, 0) >= 0:
			found = inputError(path, "strings may not contain the NUL character (\\u0000)")
		case !utf8.ValidString(s):
			found = inputError(path, "strings must be valid UTF-8")
		}
		return found == nil
	})
	return found
}

// eachValue visits v and, depth first, everything in it: the items of
// lists and the fields of input objects (whose depth is one more than their
// parent's), until visit returns false. Coerced variables hold lists of
// any element type ([]any, []map[string]any…), hence reflection.
func eachValue(v any, path string, depth int, visit func(v any, path string, depth int) bool) bool {
	if !visit(v, path, depth) {
		return false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		for i := 0; i < rv.Len(); i++ {
			if !eachValue(rv.Index(i).Interface(), path, depth, visit) {
				return false
			}
		}
	case reflect.Map:
		iter := rv.MapRange()
		for iter.Next() {
			if !eachValue(iter.Value().Interface(), path+"."+fmt.Sprint(iter.Key().Interface()), depth+1, visit) {
				return false
			}
		}
	}
	return true
}

// checkFilter bounds a where argument's nesting, values and strings, and
// refuses an empty list where it would mean "none" (emptyMeansNone).
func checkFilter(path string, where any) *gqlerror.Error {
	values, deepest, long, empty, noCondition := 0, 0, false, "", ""
	eachValue(where, path, 0, func(v any, at string, depth int) bool {
		values++
		deepest = max(deepest, depth)
		if s, ok := v.(string); ok && utf8.RuneCountInString(s) > maxFilterString {
			long = true
		}
		if l, ok := v.([]any); ok && len(l) == 0 && emptyMeansNone(at) {
			empty = at
			return false
		}
		if m, ok := v.(map[string]any); ok && depth > 0 && !addsCondition(m) {
			noCondition = at
			return false
		}
		// Past the bounds there is no need to look further.
		return deepest <= maxFilterDepth && values <= maxFilterValues
	})
	switch {
	case empty != "":
		return inputError(empty, "must not be empty: an empty list would match nothing (leave the filter out to match everything)")
	case noCondition != "":
		return inputError(noCondition, "must hold a condition (a nested filter with none, such as {} or only false xIsNil flags, means nothing; leave it out)")
	case deepest > maxFilterDepth:
		return inputError(path, fmt.Sprintf("a filter may nest at most %d levels", maxFilterDepth))
	case values > maxFilterValues:
		return inputError(path, fmt.Sprintf("a filter may hold at most %d values", maxFilterValues))
	case long:
		return inputError(path, fmt.Sprintf("a filter's strings may be at most %d characters long", maxFilterString))
	}
	return nil
}

// addsCondition reports whether a nested filter (not, the items of and and
// or, hasXWith) adds a condition. entgql fails a nested filter that adds
// none (an internal error, where a top-level one matches everything): {},
// nulls, false xIsNil and xNotNil flags (which add nothing when false), and
// empty xNotIn and and lists. A nested filter inside it is checked on its
// own.
func addsCondition(m map[string]any) bool {
	for k, v := range m {
		switch v := v.(type) {
		case nil:
		case bool:
			if v || !(strings.HasSuffix(k, "IsNil") || strings.HasSuffix(k, "NotNil")) {
				return true
			}
		case []any:
			if len(v) > 0 || !(k == "and" || strings.HasSuffix(k, "NotIn")) {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// emptyMeansNone reports whether the filter field at path (its last
// segment) matches nothing when given an empty list: xIn (an IN of no
// values) and or (a disjunction of nothing). entgql leaves an empty list
// out of the query, so that tasks(where: {projectIDIn: []}), what a UI
// sends with every project deselected, answered every task. xNotIn and and
// match everything when empty, as entgql answers them.
func emptyMeansNone(path string) bool {
	name := path[strings.LastIndexByte(path, '.')+1:]
	return name == "or" || (strings.HasSuffix(name, "In") && !strings.HasSuffix(name, "NotIn"))
}

func isCursor(f *ast.Field, arg string) bool {
	if f.Definition == nil {
		return false
	}
	a := f.Definition.Arguments.ForName(arg)
	return a != nil && a.Type.Name() == "Cursor"
}

// checkCursor refuses a cursor that does not decode. The connections nested
// in a query (Project.tasks, Task.comments…) are loaded with their parent,
// by ent code that reads their arguments raw and assumes a cursor decodes:
// an undecodable one would panic there.
func checkCursor(path string, v any) *gqlerror.Error {
	if v == nil {
		return nil
	}
	var c ent.Cursor
	// No row has an ID of 0 or less: a forged ID past int64 decodes as one
	// (2^64-1 as -1), and would page from the start as if there were no
	// cursor.
	if err := c.UnmarshalGQL(v); err != nil || c.ID <= 0 || !cursorValueFits(c.Value) {
		return inputError(path, "not a cursor this server issued")
	}
	return nil
}

// cursorValueFits reports whether a cursor's order value is one this
// server could have issued. Cursors are not signed, and a forged value of
// the right kind reached the database, where PostgreSQL refused it (an
// internal error): a string with a NUL or bytes that are not UTF-8, an
// integer past its column (PRIORITY, the one integer order, is a
// smallint), a time past the year 9999.
func cursorValueFits(v any) bool {
	switch v := v.(type) {
	case string:
		return utf8.ValidString(v) && strings.IndexByte(v, 0) < 0
	case time.Time:
		y := v.UTC().Year()
		return y >= 1 && y <= 9999
	case int8, uint8, int16:
		return true
	case uint16, uint32, uint64, uint:
		return reflect.ValueOf(v).Uint() <= math.MaxInt16
	case int32, int64, int:
		n := reflect.ValueOf(v).Int()
		return n >= math.MinInt16 && n <= math.MaxInt16
	}
	return true
}

func inputError(field, msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: field + ": " + msg, Extensions: map[string]any{"code": "BAD_USER_INPUT", "field": field}}
}
