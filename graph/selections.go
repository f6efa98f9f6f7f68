package graph

import "github.com/vektah/gqlparser/v2/ast"

// selectsField reports whether set selects a field for which match holds,
// at any depth and through inline fragments and fragment spreads (each
// fragment walked once). What it cannot see into, a spread whose
// definition the validator did not attach or a kind of selection it does
// not know, counts as unknown.
func selectsField(set ast.SelectionSet, match func(*ast.Field) bool, unknown bool) bool {
	w := fieldWalk{match: match, unknown: unknown}
	return w.in(set)
}

type fieldWalk struct {
	match   func(*ast.Field) bool
	unknown bool
	seen    map[string]bool // fragments already walked, made on the first
}

func (w *fieldWalk) in(set ast.SelectionSet) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if w.match(s) || w.in(s.SelectionSet) {
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
	seen := map[string]bool{}
	var in func(ast.SelectionSet) bool
	in = func(set ast.SelectionSet) bool {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if takeVariables(s.Directives) || in(s.SelectionSet) {
					return true
				}
			case *ast.InlineFragment:
				if takeVariables(s.Directives) || in(s.SelectionSet) {
					return true
				}
			case *ast.FragmentSpread:
				if takeVariables(s.Directives) || s.Definition == nil {
					return true
				}
				if !seen[s.Name] {
					seen[s.Name] = true
					if in(s.Definition.SelectionSet) {
						return true
					}
				}
			default:
				return true
			}
		}
		return false
	}
	return in(set)
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
