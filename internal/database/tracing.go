package database

import (
	"context"

	"entgo.io/ent/dialect"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

var tracer = otel.Tracer("tenantgraph/internal/database")

// Traced wraps a driver so that every SQL statement, inside transactions
// too, is an OpenTelemetry span carrying its text (never its arguments).
type Traced struct {
	dialect.Driver
}

// NewTraced wraps drv.
func NewTraced(drv dialect.Driver) dialect.Driver { return &Traced{Driver: drv} }

// Exec runs a statement in a span.
func (t *Traced) Exec(ctx context.Context, query string, args, v any) error {
	ctx, span := startSQL(ctx, t.Dialect(), query)
	return endSQL(span, t.Driver.Exec(ctx, query, args, v))
}

// Query runs a query in a span.
func (t *Traced) Query(ctx context.Context, query string, args, v any) error {
	ctx, span := startSQL(ctx, t.Dialect(), query)
	return endSQL(span, t.Driver.Query(ctx, query, args, v))
}

// Tx starts a transaction whose statements are traced too.
func (t *Traced) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := t.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return &tracedTx{Tx: tx, system: t.Dialect()}, nil
}

type tracedTx struct {
	dialect.Tx
	system string
}

func (t *tracedTx) Exec(ctx context.Context, query string, args, v any) error {
	ctx, span := startSQL(ctx, t.system, query)
	return endSQL(span, t.Tx.Exec(ctx, query, args, v))
}

func (t *tracedTx) Query(ctx context.Context, query string, args, v any) error {
	ctx, span := startSQL(ctx, t.system, query)
	return endSQL(span, t.Tx.Query(ctx, query, args, v))
}

func startSQL(ctx context.Context, system, query string) (context.Context, trace.Span) {
	if len(query) > 2000 {
		query = query[:2000]
	}
	return tracer.Start(ctx, "sql", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system", system), attribute.String("db.statement", query)))
}

func endSQL(span trace.Span, err error) error {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "sql error")
	}
	span.End()
	return err
}
