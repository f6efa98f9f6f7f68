package graph

import (
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// introspectionCost is what the introspection field f (__schema or
// __type) costs: the number of fields the executor would resolve for it,
// counted on this schema as the executor would walk it, so that it is
// charged like any other part of the operation. It stops counting past
// limit.
//
// Introspection used to be left out of the cost, as bounded by the schema.
// It is not: aliases multiply it, and one anonymous request of 2,400
// aliased fields { name } under __schema { types } came to 11 MB of JSON,
// 20 roots of a 1,000-alias fragment to 93 MB. The executor reads the
// schema in memory and never checks the request's deadline, so only a
// bound before it starts holds. GraphiQL's and Apollo's introspection
// query resolves about 8,900 fields here (limits_test.go), far below
// DefaultLimits.MaxComplexity.
//
// Lists are counted with their real lengths (every type, its fields,
// their arguments, …), deprecated entries included whatever
// includeDeprecated says; a fragment on an introspection type is counted
// wherever it is spread. Both can only count more than is resolved.
func (w *walker) introspectionCost(f *ast.Field, limit int64) int64 {
	c := &introspectionCounter{w: w, schema: w.schema, limit: limit}
	if c.schema == nil { // no schema to count on: refuse rather than guess
		return limit + 1
	}
	c.count++ // f itself
	switch f.Name {
	case "__schema":
		c.schemaObject(f.SelectionSet)
	case "__type":
		name, _ := f.ArgumentMap(w.vars)["name"].(string)
		if def := c.schema.Types[name]; def != nil {
			c.typeObject(f.SelectionSet, &ast.Type{NamedType: name}, def)
		}
	}
	return c.count
}

type introspectionCounter struct {
	w      *walker
	schema *ast.Schema
	limit  int64
	count  int64
}

func (c *introspectionCounter) over() bool { return c.count > c.limit }

// fields calls visit for each field of set resolved on an object, through
// fragments (the validator has rejected cycles), counting each; visit
// counts what it resolves below.
func (c *introspectionCounter) fields(set ast.SelectionSet, visit func(*ast.Field)) {
	for _, sel := range set {
		if c.over() {
			return
		}
		switch s := sel.(type) {
		case *ast.Field:
			c.count++
			visit(s)
		case *ast.InlineFragment:
			c.fields(s.SelectionSet, visit)
		case *ast.FragmentSpread:
			if s.Definition != nil && !c.w.fragments[s.Name] {
				c.w.fragments[s.Name] = true
				c.fields(s.Definition.SelectionSet, visit)
				delete(c.w.fragments, s.Name)
			}
		}
	}
}

// __Schema
func (c *introspectionCounter) schemaObject(set ast.SelectionSet) {
	c.fields(set, func(f *ast.Field) {
		switch f.Name {
		case "types":
			for name, def := range c.schema.Types {
				if c.over() {
					return
				}
				c.typeObject(f.SelectionSet, &ast.Type{NamedType: name}, def)
			}
		case "queryType", "mutationType", "subscriptionType":
			def := map[string]*ast.Definition{"queryType": c.schema.Query, "mutationType": c.schema.Mutation,
				"subscriptionType": c.schema.Subscription}[f.Name]
			if def != nil {
				c.typeObject(f.SelectionSet, &ast.Type{NamedType: def.Name}, def)
			}
		case "directives":
			for _, d := range c.schema.Directives {
				if c.over() {
					return
				}
				c.fields(f.SelectionSet, func(g *ast.Field) {
					if g.Name == "args" {
						c.inputValues(g.SelectionSet, d.Arguments)
					}
				})
			}
		}
	})
}

// __Type, for t: a named type (def its definition) or a wrapper (NON_NULL,
// LIST; ofType unwraps it).
func (c *introspectionCounter) typeObject(set ast.SelectionSet, t *ast.Type, def *ast.Definition) {
	c.fields(set, func(f *ast.Field) {
		switch {
		case f.Name == "ofType":
			switch {
			case t.NonNull:
				inner := *t
				inner.NonNull = false
				c.typeObject(f.SelectionSet, &inner, def)
			case t.Elem != nil:
				c.typeRef(f.SelectionSet, t.Elem)
			}
		case t.NonNull || t.Elem != nil || def == nil:
			// A wrapper's other fields are null or scalars.
		case f.Name == "fields" && (def.Kind == ast.Object || def.Kind == ast.Interface):
			for _, fd := range def.Fields {
				if c.over() {
					return
				}
				if !strings.HasPrefix(fd.Name, "__") {
					c.fieldObject(f.SelectionSet, fd)
				}
			}
		case f.Name == "inputFields" && def.Kind == ast.InputObject:
			for _, fd := range def.Fields {
				if c.over() {
					return
				}
				c.inputValue(f.SelectionSet, fd.Type)
			}
		case f.Name == "interfaces":
			for _, name := range def.Interfaces {
				c.typeRef(f.SelectionSet, &ast.Type{NamedType: name})
			}
		case f.Name == "possibleTypes":
			for _, pt := range c.schema.PossibleTypes[def.Name] {
				if c.over() {
					return
				}
				c.typeRef(f.SelectionSet, &ast.Type{NamedType: pt.Name})
			}
		case f.Name == "enumValues":
			for range def.EnumValues {
				if c.over() {
					return
				}
				c.fields(f.SelectionSet, func(*ast.Field) {})
			}
		}
	})
}

// typeRef is the __Type of t.
func (c *introspectionCounter) typeRef(set ast.SelectionSet, t *ast.Type) {
	c.typeObject(set, t, c.schema.Types[t.Name()])
}

// __Field
func (c *introspectionCounter) fieldObject(set ast.SelectionSet, fd *ast.FieldDefinition) {
	c.fields(set, func(f *ast.Field) {
		switch f.Name {
		case "args":
			c.inputValues(f.SelectionSet, fd.Arguments)
		case "type":
			c.typeRef(f.SelectionSet, fd.Type)
		}
	})
}

func (c *introspectionCounter) inputValues(set ast.SelectionSet, args ast.ArgumentDefinitionList) {
	for _, a := range args {
		if c.over() {
			return
		}
		c.inputValue(set, a.Type)
	}
}

// __InputValue of type t.
func (c *introspectionCounter) inputValue(set ast.SelectionSet, t *ast.Type) {
	c.fields(set, func(f *ast.Field) {
		if f.Name == "type" {
			c.typeRef(f.SelectionSet, t)
		}
	})
}
