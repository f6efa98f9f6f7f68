package graph

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/internal/apperr"
)

// deferSupport refuses @defer (BAD_USER_INPUT, before anything runs) where
// its deferred fields would never be delivered. gqlgen sends a deferred
// fragment in a later response of the operation, but the POST and GET
// transports write one response (there is no multipart/mixed transport),
// and gqlgen's executor produces the later responses of a query alone,
// never of a mutation or a subscription. There the deferred fields that
// run concurrently came back null, non-null ones included and without an
// error, under "hasNext": true, and nothing followed: Apollo Client cached
// the nulls. @defer is served in queries over the websocket, each deferred
// fragment in a "next" of its own.
type deferSupport struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = deferSupport{}

func (deferSupport) ExtensionName() string                   { return "DeferSupport" }
func (deferSupport) Validate(graphql.ExecutableSchema) error { return nil }

func (deferSupport) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if _, websocket := ctx.Value(wsOperationKey{}).(*wsOperation); websocket && oc.Operation.Operation == ast.Query {
		return nil
	}
	d := deferred(oc.Operation.SelectionSet, oc.Variables)
	if d == nil {
		return nil
	}
	var at []gqlerror.Location
	if d.Position != nil {
		at = []gqlerror.Location{{Line: d.Position.Line, Column: d.Position.Column}}
	}
	return &gqlerror.Error{
		Message:    "@defer is served only in queries over the websocket (graphql-transport-ws): ask for these fields without it",
		Locations:  at,
		Extensions: map[string]any{"code": "BAD_USER_INPUT"},
	}
}

// deferred returns the first @defer in set that defers (its "if" is not
// false, as gqlgen reads it), looking into fragments once each; nil if
// none.
func deferred(set ast.SelectionSet, vars map[string]any) (d *ast.Directive) {
	selects(set, func(sel ast.Selection) bool {
		if found := directivesOf(sel).ForName("defer"); found != nil && defers(found, vars) {
			d = found
			return true
		}
		return false
	}, false)
	return d
}

// defers reports whether d defers: "if" absent, or true.
func defers(d *ast.Directive, vars map[string]any) bool {
	arg := d.Arguments.ForName("if")
	if arg == nil {
		return true
	}
	v, err := arg.Value.Value(vars)
	if err != nil {
		return true // as gqlgen's deferrable
	}
	b, _ := v.(bool)
	return b
}

// awaitDeferred returns a query's next deferred result, or false once the
// query's context has ended (the client completed the query or went away,
// or its time ran out). gqlgen's executor waited for the result alone, and
// the deferred work gives up sending it when the context ends: the query's
// goroutine then waited for ever, holding one of its connection's slots
// for starting operations (cmd/graphgen puts this call in its place).
func awaitDeferred(ctx context.Context, results <-chan graphql.DeferredResult) (graphql.DeferredResult, bool) {
	select {
	case r := <-results:
		return r, true
	case <-ctx.Done():
		return graphql.DeferredResult{}, false
	}
}

// deferredAbandoned is a query's last response when its context ended
// before its deferred results came, with hasNext false: when its time ran
// out, the timeout, as the query's other fields report it; when it was
// cancelled, CANCELLED. A cancelled query's answer reaches no one: the
// client completed it or went away, or its connection is closing, or the
// server's drain cut it short (websocket_drain.go, cutShort), which sends no
// answer carrying CANCELLED, so that the client sends the query again
// elsewhere rather than take its first part for all of it.
func deferredAbandoned(ctx context.Context) *graphql.Response {
	hasNext := false
	err := apperr.New(apperr.Cancelled, "the request was cancelled")
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = apperr.New(apperr.Internal, "the request timed out")
	}
	return &graphql.Response{Errors: gqlerror.List{codedError(err)}, HasNext: &hasNext}
}
