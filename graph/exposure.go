package graph

// How much of the schema a client can discover without reading it
// (introspection, "did you mean" suggestions): both are off in production.

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// noIntrospection refuses __schema and __type when introspection is off,
// as a validation error before anything runs. Without it gqlgen executes the
// operation and fails those fields with an uncoded error, which the error
// presenter can only report (and log) as an internal error.
type noIntrospection struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = noIntrospection{}

func (noIntrospection) ExtensionName() string                   { return "NoIntrospection" }
func (noIntrospection) Validate(graphql.ExecutableSchema) error { return nil }

func (noIntrospection) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	var found *gqlerror.Error
	eachField(oc.Operation.SelectionSet, func(f *ast.Field) bool {
		if isIntrospection(f) {
			found = &gqlerror.Error{
				Message:    "introspection is disabled on this server",
				Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"},
			}
			return false
		}
		return true
	})
	return found
}

// rulesWithoutSuggestions are the standard validation rules with each rule
// that suggests names ("Did you mean …?") swapped for its silent variant.
// gqlgen's SetDisableSuggestion swaps two of the five (unknown fields and
// scalar leaves), leaving unknown arguments, types and enum values to
// suggest their neighbours.
func rulesWithoutSuggestions() *rules.Rules {
	r := rules.NewDefaultRules()
	for _, swap := range []struct{ suggesting, silent core.Rule }{
		{rules.FieldsOnCorrectTypeRule, rules.FieldsOnCorrectTypeRuleWithoutSuggestions},
		{rules.ScalarLeafsRule, rules.ScalarLeafsRuleWithoutSuggestions},
		{rules.KnownArgumentNamesRule, rules.KnownArgumentNamesRuleWithoutSuggestions},
		{rules.KnownTypeNamesRule, rules.KnownTypeNamesRuleWithoutSuggestions},
		{rules.ValuesOfCorrectTypeRule, rules.ValuesOfCorrectTypeRuleWithoutSuggestions},
	} {
		r.RemoveRule(swap.suggesting.Name)
		r.AddRule(swap.silent.Name, swap.silent.RuleFunc)
	}
	return r
}
