package graph

import (
	"context"
	"log/slog"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/ent"
	"tenantgraph/internal/apperr"
)

// txExtension runs every mutation operation in one transaction: committed
// when the whole response has no error, rolled back otherwise, so a failed
// mutation writes nothing. Resolvers reach it through ent.FromContext.
type txExtension struct {
	client *ent.Client
	log    *slog.Logger
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.ResponseInterceptor
} = txExtension{}

func (txExtension) ExtensionName() string                   { return "Transaction" }
func (txExtension) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext serialises the resolvers of a mutation: a
// transaction is one connection and must not be used concurrently.
func (txExtension) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if !isMutation(oc) {
		return nil
	}
	previous := oc.ResolverMiddleware
	var mu sync.Mutex
	oc.ResolverMiddleware = func(ctx context.Context, next graphql.Resolver) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		return previous(ctx, next)
	}
	return nil
}

func (e txExtension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !isMutation(graphql.GetOperationContext(ctx)) {
		return next(ctx)
	}
	txCtx, tx, err := e.client.OpenTx(ctx)
	if err != nil {
		e.log.ErrorContext(ctx, "opening transaction", "error", err.Error())
		return &graphql.Response{Errors: gqlerror.List{codedError(apperr.New(apperr.Internal, "internal server error"))}}
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	rsp := next(txCtx)
	if rsp == nil || len(rsp.Errors) > 0 {
		return rsp
	}
	if err := tx.Commit(); err != nil {
		e.log.ErrorContext(ctx, "committing transaction", "error", err.Error())
		return &graphql.Response{Errors: gqlerror.List{codedError(apperr.New(apperr.Internal, "internal server error"))}}
	}
	committed = true
	return rsp
}

func isMutation(oc *graphql.OperationContext) bool {
	return oc != nil && oc.Operation != nil && oc.Operation.Operation == ast.Mutation
}
