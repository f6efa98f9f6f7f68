package graph

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"tenantgraph/internal/apperr"
	"tenantgraph/internal/metrics"
	"tenantgraph/internal/tenancy"
)

// observeExtension writes one structured log line per operation (name, type,
// tenant, user, duration, outcome and error codes; never tokens, passwords
// or variables) and records it in the metrics. Operations refused before
// they run (parse, validation, limits) are logged too; a subscription is
// logged once, when its stream is set up (subscribed), or with the error
// that refused it.
type observeExtension struct {
	log     *slog.Logger
	metrics *metrics.Metrics
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
	graphql.ResponseInterceptor
} = observeExtension{}

func (observeExtension) ExtensionName() string                   { return "Observe" }
func (observeExtension) Validate(graphql.ExecutableSchema) error { return nil }

type loggedKey struct{}

// operationLog is one operation's log line, written once.
type operationLog struct {
	e      observeExtension
	logged atomic.Bool
}

// InterceptOperation logs the operation's first response, whether it ran
// or a later extension (the session) refused it. A subscription's first
// response is its first event, which may come much later or never: its
// resolver logs it as soon as its stream is set up (logSubscribed).
func (e observeExtension) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	l := &operationLog{e: e}
	h := next(context.WithValue(ctx, loggedKey{}, l))
	return func(ctx context.Context) *graphql.Response {
		resp := h(ctx)
		if resp != nil && !l.logged.Swap(true) {
			e.record(ctx, resp)
		}
		return resp
	}
}

// logSubscribed writes a subscription's log line (status "subscribed", the
// setup's duration) once its resolver has set up the stream; its events
// then add none. A subscription refused by its resolver is logged with the
// error instead, as its first response.
func logSubscribed(ctx context.Context) {
	if l, ok := ctx.Value(loggedKey{}).(*operationLog); ok && !l.logged.Swap(true) {
		l.e.record(ctx, &graphql.Response{})
	}
}

// InterceptResponse logs what never became an operation: requests refused
// while parsing, validating or checking limits.
func (e observeExtension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if _, inOperation := ctx.Value(loggedKey{}).(*operationLog); resp != nil && !inOperation {
		e.record(ctx, resp)
	}
	return resp
}

func (e observeExtension) record(ctx context.Context, resp *graphql.Response) {
	name, kind, took := "", "query", time.Duration(0)
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		name = oc.OperationName
		op := oc.Operation
		if op == nil {
			op = soleOperation(oc) // refused before the operation was chosen
		}
		if op != nil {
			kind = string(op.Operation)
			if name == "" {
				name = op.Name
			}
		}
		if !oc.Stats.OperationStart.IsZero() {
			took = time.Since(oc.Stats.OperationStart)
		}
	}
	outcome, level := "ok", slog.LevelInfo
	var codes []string
	for _, err := range resp.Errors {
		code, _ := err.Extensions["code"].(string)
		if code == "" {
			code = "UNKNOWN"
		}
		switch {
		case code == string(apperr.Cancelled):
			if outcome == "ok" {
				outcome = "cancelled" // unless another error makes it one
			}
		case code == string(apperr.Internal):
			outcome, level = "error", slog.LevelError
		default:
			outcome = "error"
		}
		codes = append(codes, code)
		e.metrics.Error(code)
	}
	e.metrics.Operation(name, kind, outcome, took.Seconds())
	tenant, user := "", 0
	if s := tenancy.FromContext(ctx); s != nil {
		tenant, user = s.TenantSlug, s.Viewer.UserID
	}
	attrs := []slog.Attr{
		slog.String("operation", shortened(name, maxLoggedName)), slog.String("type", kind),
		slog.String("tenant", tenant), slog.Int("user", user),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000), slog.String("status", outcome),
	}
	if len(codes) > 0 {
		attrs = append(attrs, slog.Any("codes", codes))
	}
	if kind == string(ast.Subscription) && outcome == "ok" {
		attrs[5] = slog.String("status", "subscribed")
	}
	e.log.LogAttrs(ctx, level, "graphql", attrs...)
}

// maxLoggedName bounds the operation name in a log line, in bytes: it is
// the client's operationName, which may name no operation of the document
// and be as long as the body (1 MiB a line, at the request budget's pace).
// Valid names that the metrics take are at most 64 characters.
const maxLoggedName = 100

// RecordRefusal returns what logs and counts a request refused before any
// operation is read: a body over MAX_BODY_BYTES or one that cannot be read
// (internal/server's Config.Refused), a method or Content-Type no transport
// takes (unsupportedTransport). Each gets the "graphql" log line and the
// error count that a request refused later (a batch, invalid JSON) gets.
func RecordRefusal(log *slog.Logger, m *metrics.Metrics) func(r *http.Request, code, message string) {
	e := observeExtension{log: log, metrics: m}
	return func(r *http.Request, code, message string) {
		e.record(r.Context(), &graphql.Response{Errors: gqlerror.List{{Message: message, Extensions: map[string]any{"code": code}}}})
	}
}

// soleOperation names the operation of a request refused before execution,
// when its document parses and holds exactly one.
func soleOperation(oc *graphql.OperationContext) *ast.OperationDefinition {
	doc := oc.Doc
	if doc == nil && oc.RawQuery != "" {
		doc, _ = parser.ParseQueryWithTokenLimit(&ast.Source{Input: oc.RawQuery}, 15_000)
	}
	if doc == nil || len(doc.Operations) != 1 {
		return nil
	}
	return doc.Operations[0]
}
