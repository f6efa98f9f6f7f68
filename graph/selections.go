package graph

import "github.com/vektah/gqlparser/v2/ast"

// selects reports whether set holds a selection for which match holds, at
// any depth: match sees every field, inline fragment and fragment spread,
// and each fragment's definition is walked once. What it cannot see into,
// a spread whose definition the validator did not attach or a kind of
// selection it does not know, counts as unknown.
func selects(set ast.SelectionSet, match func(ast.Selection) bool, unknown bool) bool {
	w := selectionWalk{match: match, unknown: unknown}
	return w.in(set)
}

// selectsField is selects for fields alone.
func selectsField(set ast.SelectionSet, match func(*ast.Field) bool, unknown bool) bool {
	return selects(set, func(sel ast.Selection) bool {
		f, ok := sel.(*ast.Field)
		return ok && match(f)
	}, unknown)
}

type selectionWalk struct {
	match   func(ast.Selection) bool
	unknown bool
	seen    map[string]bool // fragments already walked, made on the first
}

func (w *selectionWalk) in(set ast.SelectionSet) bool {
	for _, sel := range set {
		if w.match(sel) {
			return true
		}
		switch s := sel.(type) {
		case *ast.Field:
			if w.in(s.SelectionSet) {
				return true
			}
		case *ast.InlineFragment:
			if w.in(s.SelectionSet) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition == nil {
				if w.unknown {
					return true
				}
				continue
			}
			if w.seen[s.Name] {
				continue
			}
			if w.seen == nil {
				w.seen = map[string]bool{}
			}
			w.seen[s.Name] = true
			if w.in(s.Definition.SelectionSet) {
				return true
			}
		default:
			if w.unknown {
				return true
			}
		}
	}
	return false
}

// directivesTakeVariables reports whether a directive anywhere in set, its
// fragments included, has an argument that takes a variable, such as
// @include(if: $all): what such a directive does then depends on the
// request, not on the operation alone. A fragment it cannot see counts too.
func directivesTakeVariables(set ast.SelectionSet) bool {
	return selects(set, func(sel ast.Selection) bool { return takeVariables(directivesOf(sel)) }, true)
}

// directivesOf is the directives written on a selection.
func directivesOf(sel ast.Selection) ast.DirectiveList {
	switch s := sel.(type) {
	case *ast.Field:
		return s.Directives
	case *ast.InlineFragment:
		return s.Directives
	case *ast.FragmentSpread:
		return s.Directives
	}
	return nil
}

func takeVariables(ds ast.DirectiveList) bool {
	for _, d := range ds {
		for _, a := range d.Arguments {
			if hasVariable(a.Value) {
				return true
			}
		}
	}
	return false
}

func hasVariable(v *ast.Value) bool {
	if v == nil {
		return false
	}
	if v.Kind == ast.Variable {
		return true
	}
	for _, c := range v.Children {
		if hasVariable(c.Value) {
			return true
		}
	}
	return false
}
