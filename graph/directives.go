package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/internal/apperr"
	"tenantgraph/internal/role"
	"tenantgraph/internal/viewer"
)

// hasRole implements @hasRole(role): a valid token and a membership in the
// request's tenant with at least that role, checked before the resolver runs.
func hasRole(ctx context.Context, _ any, next graphql.Resolver, min role.Role) (any, error) {
	v := viewer.FromContext(ctx)
	switch {
	case !v.Authenticated():
		return nil, apperr.New(apperr.Unauthenticated, "this field needs a token: send Authorization: Bearer <token>")
	case !v.Member():
		return nil, apperr.New(apperr.Forbidden, "you are not a member of this tenant")
	case !v.Has(min):
		return nil, apperr.New(apperr.Forbidden, "this needs role %s or above; yours is %s", min, v.Role)
	}
	return next(ctx)
}

// authenticated implements @authenticated: a valid token, no membership needed.
func authenticated(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
	if !viewer.FromContext(ctx).Authenticated() {
		return nil, apperr.New(apperr.Unauthenticated, "this field needs a token: send Authorization: Bearer <token>")
	}
	return next(ctx)
}

// accessError is the error the @authenticated and @hasRole of ctx's field
// give the caller, or nil if they let them through. gqlgen decodes a
// field's arguments before its directives run, so a malformed argument
// (an ID that is not one, an enum value in the wrong case) would answer
// BAD_USER_INPUT to a caller who may not call the field at all; the error
// presenter asks this first, and such a caller gets FORBIDDEN or
// UNAUTHENTICATED whatever the arguments, as with well-formed ones.
func accessError(ctx context.Context) error {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return nil
	}
	return fieldAccessError(ctx, fc.Field.Definition)
}

// fieldAccessError is the error the @authenticated and @hasRole of def give
// the caller on ctx, or nil if they let them through (or def is nil).
func fieldAccessError(ctx context.Context, def *ast.FieldDefinition) error {
	if def == nil {
		return nil
	}
	pass := func(context.Context) (any, error) { return nil, nil }
	for _, d := range def.Directives {
		var err error
		switch d.Name {
		case "authenticated":
			_, err = authenticated(ctx, nil, pass)
		case "hasRole":
			if arg := d.Arguments.ForName("role"); arg != nil && arg.Value != nil {
				_, err = hasRole(ctx, nil, pass, role.Role(arg.Value.Raw))
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// operationAccessError is fieldAccessError of the first field of set,
// through fragments, that the caller on ctx may not ask for, with that
// field's location; nil if they may ask for every one.
func operationAccessError(ctx context.Context, set ast.SelectionSet) *gqlerror.Error {
	var denied *gqlerror.Error
	eachField(set, func(f *ast.Field) bool {
		if err := fieldAccessError(ctx, f.Definition); err != nil {
			denied = codedError(err)
			denied.Locations = location(f)
			return false
		}
		return true
	})
	return denied
}
