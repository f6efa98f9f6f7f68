package graph

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/ent"
	"tenantgraph/internal/account"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/tenancy"
)

// sessionExtension resolves tenant, identity and role once per operation
// (HTTP request or websocket operation alike) and puts them on the context.
// A bad token, an unknown tenant or a failing lookup ends the operation with
// its code before any resolver runs.
type sessionExtension struct {
	client   *ent.Client
	resolver *tenancy.Resolver
	log      *slog.Logger
	budget   account.Limiter
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
} = sessionExtension{}

func (sessionExtension) ExtensionName() string                   { return "Session" }
func (sessionExtension) Validate(graphql.ExecutableSchema) error { return nil }

func (e sessionExtension) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	s, err := e.resolver.Resolve(ctx, e.client, tenancy.CredentialsFrom(ctx))
	if err != nil {
		err = asCancelled(ctx, err)
		// This error bypasses the error presenter: log the detail here, the
		// client gets only the masked message.
		if apperr.KindOf(err) == apperr.Internal {
			e.log.ErrorContext(ctx, "resolving session", "error", err.Error())
		}
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{codedError(err)}})
	}
	if e.budget != nil {
		key := "addr:" + tenancy.CredentialsFrom(ctx).ClientAddr
		if s.Viewer.Authenticated() {
			key = "user:" + strconv.Itoa(s.Viewer.UserID)
		}
		if ok, wait := e.budget.Allow(key); !ok {
			return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{codedError(
				apperr.TooMany(wait, "request budget exhausted"))}})
		}
	}
	return next(tenancy.NewContext(ctx, s))
}
