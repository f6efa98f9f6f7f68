package graph

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/ent"
	"tenantgraph/ent/privacy"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/database"
	"tenantgraph/internal/globalid"
)

// errorPresenter is the one mapping from errors to extensions.code. Domain
// errors keep their message; the parser's and validator's codes stay (and
// their messages, but for the client's values: withoutValue);
// everything else is logged in full and answered as a masked
// INTERNAL_SERVER_ERROR, so no SQL, stack or driver text reaches a client.
//
// listValues lets a refused enum argument's message list the enum's values;
// off in production, with the validator's "did you mean" suggestions
// (Deps.DisableSuggestions).
func errorPresenter(log *slog.Logger, listValues bool) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		withoutValue(gqlErr)
		if _, coded := gqlErr.Extensions["code"]; coded {
			return gqlErr
		}
		if argumentError(ctx) {
			// Who may call the field is answered before what they sent.
			if denied := accessError(ctx); denied != nil {
				err = denied
			}
		}
		var (
			ae      *apperr.Error
			valErr  *ent.ValidationError
			kind    apperr.Kind
			message string
		)
		switch {
		case errors.As(err, &ae):
			kind, message = ae.Kind, ae.Message
			if ae.RetryAfter > 0 {
				gqlErr.Extensions = ensure(gqlErr.Extensions)
				gqlErr.Extensions["retryAfter"] = ae.RetryAfterSeconds()
			}
			if ae.Field != "" {
				gqlErr.Extensions = ensure(gqlErr.Extensions)
				gqlErr.Extensions["field"] = ae.Field
				message = ae.Field + ": " + ae.Message
			}
		case errors.Is(err, globalid.ErrMalformed):
			kind, message = apperr.Invalid, "malformed ID"
			if argumentError(ctx) {
				message = argumentMessage(ctx, gqlErr, message, listValues)
			}
		case requestError(err):
			kind, message = apperr.Invalid, requestMessage(gqlErr.Message)
		case argumentError(ctx):
			kind, message = apperr.Invalid, argumentMessage(ctx, gqlErr, "", listValues)
		case database.Contended(err):
			kind, message = apperr.Conflict, "a concurrent change got in the way, and nothing was written: send the mutation again"
		case ent.IsNotFound(err):
			kind, message = apperr.NotFound, "not found"
		case errors.Is(err, privacy.Deny):
			kind, message = apperr.Forbidden, "access denied"
		case errors.As(err, &valErr):
			kind, message = apperr.Invalid, fmt.Sprintf("invalid value for %s", valErr.Name)
		case cancelled(ctx, err):
			kind, message = apperr.Cancelled, "the request was cancelled"
		case errors.Is(err, context.DeadlineExceeded):
			kind, message = apperr.Internal, "the request timed out"
		default:
			kind = apperr.Internal
		}
		if kind == apperr.Internal {
			log.ErrorContext(ctx, "internal error", "error", err.Error(), "path", gqlErr.Path.String())
			if message == "" {
				message = "internal server error"
			}
		}
		gqlErr.Message = message
		gqlErr.Extensions = ensure(gqlErr.Extensions)
		gqlErr.Extensions["code"] = string(kind)
		return gqlErr
	}
}

// cancelled reports whether err is the request's own end rather than a
// failure: the request's context was cancelled (the client went away or
// completed its subscription, or the server is shutting down), whatever the
// error it caused says (lib/pq's "canceling statement due to user request"
// does not wrap context.Canceled). A deadline that passed is not a
// cancellation: it is the server's timeout, or a token's expiry.
func cancelled(ctx context.Context, err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled)
}

// asCancelled returns err as a Cancelled error if it is the request's own
// end (see cancelled), with the message "the request timed out" if the
// request's deadline passed, else unchanged: for errors that reach the
// client without the error presenter (the session lookup, the transaction).
func asCancelled(ctx context.Context, err error) error {
	switch {
	case err == nil || apperr.KindOf(err) != apperr.Internal:
	case cancelled(ctx, err):
		return apperr.New(apperr.Cancelled, "the request was cancelled")
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		// As the error presenter says it; still an internal error, logged.
		return fmt.Errorf("%w: %w", apperr.New(apperr.Internal, "the request timed out"), err)
	}
	return err
}

// requestError reports whether err is gqlgen's own complaint about the
// request, made before anything ran: a body that is not the JSON of a
// GraphQL request, or a malformed Automatic Persisted Query extension. Such
// an error has a message and nothing else: no code, no cause.
func requestError(err error) bool {
	var g *gqlerror.Error
	return errors.As(err, &g) && g.Err == nil && g.Extensions["code"] == nil
}

// requestMessage drops the copy of the request body that gqlgen appends to
// a JSON decoding error: it may hold a password, and the client has it.
func requestMessage(m string) string {
	if before, _, found := strings.Cut(m, " body:"); found {
		return before
	}
	return m
}

// argumentError reports whether the error arose while the arguments of the
// field on ctx were read (gqlgen sets them only once they all decoded): a
// value its scalar refused, such as a malformed Cursor or Time.
func argumentError(ctx context.Context) bool {
	fc := graphql.GetFieldContext(ctx)
	return fc != nil && fc.Field.Field != nil && len(fc.Field.Arguments) > 0 && fc.Args == nil
}

// argumentMessage is the message for a value that ctx's field could not
// decode into its argument at gqlErr's path: what the value must be
// (enums list their values if listValues, else name their type; times
// their format; else why, or "invalid value"), after the argument's path,
// which also becomes extensions.field, as for every BAD_USER_INPUT
// (createTask.input.dueDate, updateMemberRole.role, projects.where.idIn[0]).
func argumentMessage(ctx context.Context, gqlErr *gqlerror.Error, why string, listValues bool) string {
	field := gqlErr.Path.String()
	if field == "" {
		return cmp.Or(why, "invalid value")
	}
	gqlErr.Extensions = ensure(gqlErr.Extensions)
	gqlErr.Extensions["field"] = field
	if why == "" {
		why = "invalid value"
		if t := argumentType(ctx, gqlErr.Path); t != nil {
			switch def := parsedSchema.Types[t.Name()]; {
			case def != nil && def.Kind == ast.Enum && !listValues:
				why = "must be a " + def.Name + " value, as the schema spells it"
				if t.Elem != nil {
					why = "each value " + why
				}
			case def != nil && def.Kind == ast.Enum:
				values := make([]string, len(def.EnumValues))
				for i, v := range def.EnumValues {
					values[i] = v.Name
				}
				why = "must be one of " + strings.Join(values, ", ")
				if t.Elem != nil {
					why = "each value " + why
				}
			case t.Name() == "Time":
				why = "must be an RFC 3339 time such as 2030-01-31T17:00:00Z"
			}
		}
	}
	return field + ": " + why
}

// argumentType is the schema type of the argument or input field at path,
// which is ctx's field's own path followed by the argument's name, then
// input field names and list indexes; nil if path is not under it.
func argumentType(ctx context.Context, path ast.Path) *ast.Type {
	fc := graphql.GetFieldContext(ctx)
	own := fc.Path()
	if fc.Field.Definition == nil || len(path) <= len(own) {
		return nil
	}
	name, ok := path[len(own)].(ast.PathName)
	if !ok {
		return nil
	}
	arg := fc.Field.Definition.Arguments.ForName(string(name))
	if arg == nil {
		return nil
	}
	t := arg.Type
	for _, step := range path[len(own)+1:] {
		switch step := step.(type) {
		case ast.PathIndex:
			if t.Elem == nil {
				return nil
			}
			t = t.Elem
		case ast.PathName:
			def := parsedSchema.Types[t.Name()]
			if def == nil || def.Fields.ForName(string(step)) == nil {
				return nil
			}
			t = def.Fields.ForName(string(step)).Type
		}
	}
	return t
}

// recoverFunc turns a panic in a resolver into a masked internal error.
func recoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return apperr.New(apperr.Internal, "internal server error")
	}
}

// codedError builds a response error for failures outside resolvers (session
// resolution, page limits, transactions).
func codedError(err error) *gqlerror.Error {
	kind, msg := apperr.KindOf(err), "internal server error"
	ext := map[string]any{"code": string(kind)}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		msg = ae.Error()
		if ae.RetryAfter > 0 {
			ext["retryAfter"] = ae.RetryAfterSeconds()
		}
	}
	return &gqlerror.Error{Message: msg, Extensions: ext}
}

func ensure(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
