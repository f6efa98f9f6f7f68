// Package graph is the GraphQL layer: the resolvers (thin: unpack arguments,
// call one function in internal/, return), the directives, the error
// presenter and the handler extensions. gqlgen generates generated.go here.
package graph

import (
	"context"

	"tenantgraph/ent"
	"tenantgraph/internal/account"
	"tenantgraph/internal/apperr"
)

// Resolver is the root resolver. It is the only place where dependencies
// enter the GraphQL layer.
type Resolver struct {
	client   *ent.Client
	accounts *account.Service
}

// tx returns the client of the mutation's transaction, opened by the
// transaction extension for every mutation operation.
func (r *Resolver) tx(ctx context.Context) (*ent.Client, error) {
	c := ent.FromContext(ctx)
	if c == nil {
		return nil, apperr.New(apperr.Internal, "mutation outside a transaction")
	}
	return c, nil
}
