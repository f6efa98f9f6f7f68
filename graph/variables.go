package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// createOperation is exec.CreateOperationContext with the JSON numbers in
// the variables checked against their types first.
//
// The transports decode variables with UseNumber, as gqlgen's do, so that
// an integer keeps every digit (a float64 holds 53 bits) and an Int is told
// from a Float. But a json.Number is a string to gqlparser's validator
// (validator/vars.go), which converts one only where a variable itself is
// an Int or a Float: {"name": 1e300} in an input object was taken for the
// String "1e300", a number for a Boolean was "cannot use string as
// Boolean", and 1.5 or 2^70 for an Int "cannot use value 0 as Int" and
// "cannot use value 9223372036854775807 as Int". numberError says what is
// wrong instead, as the validator's own errors are answered
// (GRAPHQL_VALIDATION_FAILED).
func createOperation(ctx context.Context, exec graphql.GraphExecutor, params *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	rc, errs := exec.CreateOperationContext(ctx, params)
	if rc != nil && rc.Doc != nil && rc.Operation == nil && len(errs) == 1 {
		errs[0].Message = unknownOperation(rc.Doc, params.OperationName)
	}
	if rc == nil || rc.Operation == nil {
		return rc, errs // the document did not parse or validate, or names no such operation
	}
	for _, def := range rc.Operation.VariableDefinitions {
		v, sent := params.Variables[def.Variable]
		if !sent {
			continue
		}
		if err := numberError(ast.Path{ast.PathName("variable"), ast.PathName(def.Variable)}, def.Type, v); err != nil {
			return rc, gqlerror.List{err}
		}
	}
	return rc, errs
}

// numberError is the error for the first JSON number in v, a value sent
// for type t at path, that t does not take; nil if there is none.
func numberError(path ast.Path, t *ast.Type, v any) *gqlerror.Error {
	switch v := v.(type) {
	case json.Number:
		if t.Elem != nil { // a list of one, as the validator coerces it
			return numberError(path, t.Elem, v)
		}
		if why := numberFor(t.NamedType, v); why != "" {
			err := gqlerror.ErrorPathf(path, "%s %s", path.String(), why)
			errcode.Set(err, errcode.ValidationFailed)
			return err
		}
	case []any:
		if t.Elem == nil {
			return nil // the validator refuses it
		}
		for i, item := range v {
			if err := numberError(step(path, ast.PathIndex(i)), t.Elem, item); err != nil {
				return err
			}
		}
	case map[string]any:
		def := parsedSchema.Types[t.NamedType]
		if t.Elem != nil || def == nil || def.Kind != ast.InputObject {
			return nil // the validator refuses it
		}
		for _, f := range def.Fields { // in the schema's order, not the map's
			if item, ok := v[f.Name]; ok {
				if err := numberError(step(path, ast.PathName(f.Name)), f.Type, item); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// numberFor says why the named type does not take n; "" if it does.
func numberFor(typeName string, n json.Number) string {
	switch typeName {
	case "Int":
		if _, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return ""
		}
		f, err := strconv.ParseFloat(string(n), 64)
		switch {
		case err != nil || math.Abs(f) >= math.MaxInt64:
			return "is out of range for an Int (-2^63 to 2^63-1)"
		case f != math.Trunc(f):
			return "must be a whole number for an Int, not a fraction"
		default:
			return "must be an Int written as an integer, without a decimal point or exponent"
		}
	case "Float":
		if _, err := strconv.ParseFloat(string(n), 64); err != nil {
			return "is out of range for a Float"
		}
		return ""
	case "ID":
		if strings.ContainsAny(string(n), ".eE") {
			return "must be a string or an integer for an ID, not a number with a fraction or exponent"
		}
		return ""
	case "String":
		return "must be a String, not a number: send it as a JSON string"
	case "Boolean":
		return "must be a Boolean (true or false), not a number"
	}
	switch def := parsedSchema.Types[typeName]; {
	case def == nil:
		return ""
	case def.Kind == ast.Enum:
		return "must be a " + typeName + " value, not a number"
	case def.Kind == ast.InputObject:
		return "must be a " + typeName + " object, not a number"
	}
	return "" // a custom scalar (Time, Cursor) reads it itself
}

// step returns path with s added, in a slice of its own.
func step(path ast.Path, s ast.PathElement) ast.Path {
	return append(path[:len(path):len(path)], s)
}

// unknownOperation says why doc has no operation named name, in place of
// gqlgen's "operation  not found" (with two spaces, for a document of
// several operations sent without an operationName).
func unknownOperation(doc *ast.QueryDocument, name string) string {
	if name == "" {
		return fmt.Sprintf("the document has %d operations: name the one to run in operationName", len(doc.Operations))
	}
	return fmt.Sprintf("the document has no operation named %q", shortened(name, maxLoggedName))
}
