package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

var tracer = otel.Tracer("tenantgraph/graph")

// traceExtension makes each operation a span. It is installed only when
// tracing is on (Deps.Tracing).
type traceExtension struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
} = traceExtension{}

func (traceExtension) ExtensionName() string                   { return "Tracing" }
func (traceExtension) Validate(graphql.ExecutableSchema) error { return nil }

func (traceExtension) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	kind, name := "query", oc.OperationName
	if oc.Operation != nil {
		kind = string(oc.Operation.Operation)
		if name == "" {
			name = oc.Operation.Name
		}
	}
	// The name is the client's operationName, which may name no operation
	// of the document and be as long as the body: bounded as in the log
	// line, or each span could carry a megabyte twice, and the exporter's
	// queue hold thousands of them.
	name = shortened(name, maxLoggedName)
	ctx, span := tracer.Start(ctx, "graphql "+kind+" "+name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("graphql.operation.type", kind), attribute.String("graphql.operation.name", name)))
	h := next(ctx)
	if kind == "subscription" {
		span.End() // the span covers the subscription's start, not its life
		return h
	}
	ended := false
	return func(ctx context.Context) *graphql.Response {
		resp := h(ctx)
		if !ended {
			ended = true
			if resp != nil && len(resp.Errors) > 0 {
				// An error may quote what the client sent (an argument's
				// value, say): bounded too.
				span.SetStatus(codes.Error, shortened(resp.Errors[0].Message, maxSpanStatus))
			}
			span.End()
		}
		return resp
	}
}

// maxSpanStatus bounds an operation span's status message, in bytes.
const maxSpanStatus = 300

// traceFields makes each field with a resolver (root fields, edges,
// computed fields: those that may touch the database) a child span of its
// operation. It is installed only when tracing is on (Deps.Tracing).
type traceFields struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.FieldInterceptor
} = traceFields{}

func (traceFields) ExtensionName() string                   { return "TracingFields" }
func (traceFields) Validate(graphql.ExecutableSchema) error { return nil }

func (traceFields) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !fc.IsResolver {
		return next(ctx)
	}
	ctx, span := tracer.Start(ctx, "resolve "+fc.Object+"."+fc.Field.Name)
	defer span.End()
	res, err := next(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return res, err
}
