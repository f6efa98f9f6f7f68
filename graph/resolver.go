// Package graph is the GraphQL layer: the resolvers (thin: unpack arguments,
// call one function in internal/, return), the directives, the error
// presenter and the handler extensions. gqlgen generates generated.go here.
package graph

import (
	"context"
	"log/slog"

	"tenantgraph/ent"
	"tenantgraph/internal/account"
	"tenantgraph/internal/metrics"
	"tenantgraph/internal/notify"
	"tenantgraph/internal/projects"
	"tenantgraph/internal/pubsub"
	"tenantgraph/internal/tenancy"
)

// Resolver is the root resolver. It is the only place where dependencies
// enter the GraphQL layer.
type Resolver struct {
	client   *ent.Client
	accounts *account.Service
	projects *projects.Service
	members  *tenancy.Members
	broker   pubsub.Broker
	guard    notify.WebhookGuard
	metrics  *metrics.Metrics
	feed     *feedHub
	log      *slog.Logger
	// maxTenants is how many tenants a user may own when they create one.
	maxTenants int
}

// tx returns the client of the mutation's transaction (see tx.go): every
// write of a mutation goes through it.
func (r *Resolver) tx(ctx context.Context) (*ent.Client, error) { return txClient(ctx) }
