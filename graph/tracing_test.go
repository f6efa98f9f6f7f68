package graph_test

import (
	"slices"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"tenantgraph/graph/graphtest"
)

// TestTracingSpans: an operation is a span, its resolvers that may touch the
// database are child spans, and its SQL statements are spans below them.
func TestTracingSpans(t *testing.T) {
	exporter := recordSpans(t)

	e := graphtest.New(t, graphtest.Dialects(t)[0])
	alice := e.Register("Alice")
	e.CreateTenant(alice, "traced")
	e.CreateProject(alice.Caller("traced"), "Rocket")
	exporter.Reset()
	e.MustDo(alice.Caller("traced"), `query Tree { projects(first: 5) { edges { node { name createdBy { name } } } } }`, nil, nil)

	spans := exporter.GetSpans()
	var names []string
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		names = append(names, s.Name)
		byName[s.Name] = s
	}
	for _, want := range []string{"graphql query Tree", "resolve Query.projects", "sql"} {
		if !slices.Contains(names, want) {
			t.Fatalf("spans: got %v, want one named %q", names, want)
		}
	}
	op, resolver := byName["graphql query Tree"], byName["resolve Query.projects"]
	if resolver.Parent.SpanID() != op.SpanContext.SpanID() {
		t.Errorf("resolve Query.projects is not a child of the operation span")
	}
	sqlUnderResolver := false
	for _, s := range spans {
		if s.Name == "sql" && s.Parent.SpanID() == resolver.SpanContext.SpanID() {
			sqlUnderResolver = true
		}
	}
	if !sqlUnderResolver {
		t.Errorf("no sql span under resolve Query.projects")
	}
}

// Without tracing (cmd/server with no OTLP endpoint; graphtest's Untraced)
// nothing starts a span, not even one a provider would drop: a provider
// installed anyway records none.
func TestUntracedStartsNoSpans(t *testing.T) {
	exporter := recordSpans(t)

	e := graphtest.NewWithOptions(t, graphtest.Dialects(t)[0], graphtest.Options{Untraced: true})
	alice := e.Register("Alice")
	e.CreateTenant(alice, "untraced")
	e.CreateProject(alice.Caller("untraced"), "Rocket")
	e.MustDo(alice.Caller("untraced"), `query Tree { projects(first: 5) { edges { node { name createdBy { name } } } } }`, nil, nil)
	if spans := exporter.GetSpans(); len(spans) > 0 {
		t.Errorf("got %d spans (the first %q), want none", len(spans), spans[0].Name)
	}
}

// recordSpans installs a tracer provider recording every span in memory
// for the rest of the test.
func recordSpans(t *testing.T) *tracetest.InMemoryExporter {
	t.Helper()
	exporter := tracetest.NewInMemoryExporter()
	previous := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter)))
	t.Cleanup(func() { otel.SetTracerProvider(previous) })
	return exporter
}
