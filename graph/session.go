package graph

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/ent"
	"tenantgraph/internal/account"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/ratelimit"
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
	graphql.ResponseInterceptor
} = sessionExtension{}

func (sessionExtension) ExtensionName() string                   { return "Session" }
func (sessionExtension) Validate(graphql.ExecutableSchema) error { return nil }

func (e sessionExtension) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	cred := tenancy.CredentialsFrom(ctx)
	s, err := e.resolver.Authenticate(cred)
	if e.budget != nil {
		// The budget is charged before the tenant and role are read, so
		// that what it refuses costs no statement, and a request that
		// fails (a bad token, an unknown tenant) is counted like any
		// other. An anonymous client, or one whose token is bad, is
		// counted by its address, an IPv6 one by its /64 (which it holds
		// whole).
		key := "addr:" + ratelimit.AddressKey(cred.ClientAddr)
		if err == nil && s.Viewer.Authenticated() {
			key = "user:" + strconv.Itoa(s.Viewer.UserID)
		}
		if ok, wait := e.budget.Allow(key); !ok {
			return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{codedError(
				apperr.TooMany(wait, "request budget exhausted"))}})
		}
	}
	if err == nil {
		err = e.resolver.Scope(ctx, e.client, cred, s)
	}
	if err != nil {
		err = asCancelled(ctx, err)
		// This error bypasses the error presenter: log the detail here, the
		// client gets only the masked message.
		if apperr.KindOf(err) == apperr.Internal {
			e.log.ErrorContext(ctx, "resolving session", "error", err.Error())
		}
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{codedError(err)}})
	}
	return next(tenancy.NewContext(ctx, s))
}

// InterceptResponse reads the session again for each event of a
// subscription that the executor writes, so that the event's fields are
// resolved with the caller's role as it is now, not as it was when they
// subscribed: a member demoted to VIEWER must not go on reading, through
// an open stream's nested fields, what only an OWNER may (the activity
// log, the tenant's Slack webhook). A caller who is no longer a member of
// the tenant, or whose session cannot be read, gets the error in place of
// the event, and the stream ends after it.
//
// Every call is an event: a subscription's resolver ran within
// InterceptOperation, and the websocket transport asks for a response
// only once an event is in the stream. Events written by the feed's
// encoder (notificationAdded asking for the notification's own fields,
// which every member may read) do not come here; they need no role.
// Re-reading costs one indexed membership query per event on the
// executor's path, beside the queries its nested fields make anyway.
func (e sessionExtension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	op, subscribed := graphql.GetOperationContext(ctx).Operation, tenancy.FromContext(ctx)
	if op == nil || op.Operation != ast.Subscription || subscribed == nil || !subscribed.Viewer.Member() {
		// Not a subscription, or not a member's: the websocket refuses
		// non-members at connection_init, and were one to subscribe, the
		// field's own check would answer.
		return next(ctx)
	}
	s, err := e.resolver.Resolve(ctx, e.client, tenancy.CredentialsFrom(ctx))
	if err == nil && !s.Viewer.Member() {
		err = apperr.New(apperr.Forbidden, "you are no longer a member of this tenant")
	}
	if err != nil {
		err = asCancelled(ctx, err)
		if apperr.KindOf(err) == apperr.Internal {
			e.log.ErrorContext(ctx, "resolving session for a subscription's event", "error", err.Error())
		}
		endStreamAfter(ctx)
		return &graphql.Response{Errors: gqlerror.List{codedError(err)}}
	}
	return next(tenancy.NewContext(ctx, s))
}
