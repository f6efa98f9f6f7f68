package graph

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/ent"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/notify"
	"tenantgraph/internal/tenancy"
)

// txExtension runs every mutation operation in one transaction: committed
// when the whole response has no error, rolled back otherwise, so a failed
// mutation writes nothing. The transaction is opened on first use (a
// resolver's r.tx), so that work before it, such as hashing a password, does
// not hold SQLite's write lock.
//
// A rolled-back mutation answers "data": null, whatever its fields
// returned before the error: an object it created and then undid must not
// reach a client's cache with an ID that names nothing (or, once the ID is
// taken again, someone else's object). An error anywhere counts, a nested
// field's too: a comment created by a MEMBER who also asked for the
// tenant's Slack webhook URL is not kept. Root fields after the first that
// failed do not run: their writes would be rolled back, and on PostgreSQL
// their statements would fail in the aborted transaction.
//
// Just before it commits, the transaction reads the caller's role again
// (tenancy.ConfirmRole): a member demoted or removed while the mutation
// ran gets FORBIDDEN, and nothing is written.
type txExtension struct {
	client   *ent.Client
	notifier *notify.Notifier
	feed     *feedHub // given the rows written, for the live feed
	log      *slog.Logger
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.ResponseInterceptor
} = txExtension{}

func (txExtension) ExtensionName() string                   { return "Transaction" }
func (txExtension) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext serialises the resolvers of a mutation (a
// transaction is one connection and must not be used concurrently) and
// skips its root fields after the first error.
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
	// gqlgen runs a mutation's root fields one after another, each with its
	// whole selection, so the errors so far are those of the fields before.
	previousRoot := oc.RootResolverMiddleware
	oc.RootResolverMiddleware = func(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
		if len(graphql.GetErrors(ctx)) > 0 {
			return graphql.Null // the answer's data is null (InterceptResponse)
		}
		return previousRoot(ctx, next)
	}
	return nil
}

func (e txExtension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) || !isMutation(graphql.GetOperationContext(ctx)) {
		// No operation context: gqlgen is answering a request it could not
		// decode (malformed JSON); there is nothing to run in a transaction.
		return next(ctx)
	}
	ctx, batch := notify.WithBatch(ctx)
	ctx = tenancy.WithRoleHold(ctx)
	lt := &lazyTx{client: e.client, ctx: ctx}
	rsp := next(context.WithValue(ctx, lazyTxKey{}, lt))
	if lt.tx == nil {
		return rsp
	}
	if rsp == nil || len(rsp.Errors) > 0 {
		// A cancelled request's transaction is rolled back by database/sql
		// already (Rollback then reports it done).
		if err := lt.tx.Rollback(); err != nil && !cancelled(ctx, err) {
			e.log.ErrorContext(ctx, "rolling back transaction", "error", err.Error())
		}
		if rsp != nil {
			rsp.Data = nil // nothing it answered was kept
		}
		return rsp
	}
	// The caller's role was read when the operation started; a demotion
	// or removal that committed since must not let through what only the
	// old role allowed.
	if err := tenancy.ConfirmRole(ctx, lt.tx.Client()); err != nil {
		if err := lt.tx.Rollback(); err != nil && !cancelled(ctx, err) {
			e.log.ErrorContext(ctx, "rolling back transaction", "error", err.Error())
		}
		if err = asCancelled(ctx, err); apperr.KindOf(err) == apperr.Internal {
			e.log.ErrorContext(ctx, "confirming the caller's role", "error", err.Error())
		}
		return &graphql.Response{Errors: gqlerror.List{codedError(err)}}
	}
	var written func([]*ent.Notification)
	if e.feed != nil {
		written = e.feed.remember
	}
	if e.notifier != nil {
		// On PostgreSQL the live feed's NOTIFY is sent by the commit itself:
		// if it cannot be queued, nothing is written, rather than a change
		// that no stream hears of.
		if err := e.notifier.Stage(ctx, lt.tx.Client(), batch, written); err != nil {
			if err := lt.tx.Rollback(); err != nil && !cancelled(ctx, err) {
				e.log.ErrorContext(ctx, "rolling back transaction", "error", err.Error())
			}
			if err = asCancelled(ctx, err); apperr.Is(err, apperr.Cancelled) {
				return &graphql.Response{Errors: gqlerror.List{codedError(err)}}
			}
			e.log.ErrorContext(ctx, "announcing the transaction's notifications", "error", err.Error())
			return &graphql.Response{Errors: gqlerror.List{codedError(apperr.New(apperr.Internal, "internal server error"))}}
		}
	}
	if err := lt.tx.Commit(); err != nil {
		if err = asCancelled(ctx, err); apperr.Is(err, apperr.Cancelled) {
			return &graphql.Response{Errors: gqlerror.List{codedError(err)}}
		}
		e.log.ErrorContext(ctx, "committing transaction", "error", err.Error())
		return &graphql.Response{Errors: gqlerror.List{codedError(apperr.New(apperr.Internal, "internal server error"))}}
	}
	// Only now may anyone hear of what the mutation wrote.
	if e.notifier != nil {
		e.notifier.Committed(ctx, e.client, batch, written)
	}
	return rsp
}

type lazyTxKey struct{}

// lazyTx opens the operation's transaction on first use.
type lazyTx struct {
	client *ent.Client
	ctx    context.Context
	once   sync.Once
	tx     *ent.Tx
	err    error
}

func (l *lazyTx) get() (*ent.Client, error) {
	l.once.Do(func() {
		l.tx, l.err = l.client.Tx(l.ctx)
	})
	if l.err != nil {
		return nil, fmt.Errorf("graph: opening transaction: %w", l.err)
	}
	return l.tx.Client(), nil
}

// txClient returns the client of the mutation's transaction.
func txClient(ctx context.Context) (*ent.Client, error) {
	lt, ok := ctx.Value(lazyTxKey{}).(*lazyTx)
	if !ok {
		return nil, apperr.New(apperr.Internal, "mutation outside a transaction")
	}
	return lt.get()
}

// readClient is the client a field reads with: in a mutation, its
// transaction's, so that what the mutation wrote is seen (a project's
// activity asked for in the answer of its transition); else base.
func readClient(ctx context.Context, base *ent.Client) (*ent.Client, error) {
	if lt, ok := ctx.Value(lazyTxKey{}).(*lazyTx); ok {
		return lt.get()
	}
	return base, nil
}

func isMutation(oc *graphql.OperationContext) bool {
	return oc != nil && oc.Operation != nil && oc.Operation.Operation == ast.Mutation
}
