package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

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
