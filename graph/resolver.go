// Package graph is the GraphQL layer: the resolvers (thin: unpack arguments,
// call one function in internal/, return), the directives, the error
// presenter and the handler extensions. gqlgen generates generated.go here.
package graph

import (
	"context"

	"tenantgraph/ent"
	"tenantgraph/internal/account"
)

// Resolver is the root resolver. It is the only place where dependencies
// enter the GraphQL layer.
type Resolver struct {
	client   *ent.Client
	accounts *account.Service
}

// tx returns the client of the mutation's transaction (see tx.go): every
// write of a mutation goes through it.
func (r *Resolver) tx(ctx context.Context) (*ent.Client, error) { return txClient(ctx) }
