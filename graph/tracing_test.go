package graph_test

import (
	"context"
	"slices"
	"strings"
	"sync"
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

// An operation span carries the client's operationName and its first
// error's message, which may quote what the client sent: an anonymous
// client cannot make either as long as the request body.
func TestTracedNamesAreBounded(t *testing.T) {
	exporter := recordSpans(t)
	e := graphtest.New(t, graphtest.Dialects(t)[0])
	long := strings.Repeat("A", 200_000)
	for _, query := range []string{
		"query " + long + " { __typename }",                      // served
		`query Q { node(id: "` + long + `") { id } }`,            // refused (no token): a status
		"query " + long + ` { node(id: "` + long + `") { id } }`, // both
	} {
		exporter.Reset()
		resp := e.Do(graphtest.Caller{}, query, nil)
		var op *tracetest.SpanStub
		for _, s := range exporter.GetSpans() {
			if strings.HasPrefix(s.Name, "graphql query ") {
				op = &s
			}
		}
		if op == nil {
			t.Fatalf("%.20s…: no operation span (response %d %s)", query, resp.Status, resp.Code())
		}
		if len(op.Name) > 200 {
			t.Errorf("%.20s…: the operation span is named with %d bytes, want at most 200", query, len(op.Name))
		}
		if len(op.Status.Description) > 400 {
			t.Errorf("%.20s…: the operation span's status has %d bytes, want at most 400", query, len(op.Status.Description))
		}
		for _, a := range op.Attributes {
			if n := len(a.Value.Emit()); n > 200 {
				t.Errorf("%.20s…: the operation span's attribute %s has %d bytes, want at most 200", query, a.Key, n)
			}
		}
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

// recordSpans records every span in memory for the rest of the test.
//
// The packages' tracers come from otel.Tracer at start-up, and OpenTelemetry
// hands their spans to the first provider ever installed, whatever is
// installed after it: so one provider is installed, once, and each test
// points it at an exporter of its own.
func recordSpans(t *testing.T) *tracetest.InMemoryExporter {
	t.Helper()
	spanSinkOnce.Do(func() {
		otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(&spanSink)))
	})
	exporter := tracetest.NewInMemoryExporter()
	spanSink.to(exporter)
	t.Cleanup(func() { spanSink.to(nil) })
	return exporter
}

var (
	spanSink     sinkExporter
	spanSinkOnce sync.Once
)

// sinkExporter passes spans on to the exporter set last (none: dropped).
type sinkExporter struct {
	mu   sync.Mutex
	next sdktrace.SpanExporter
}

func (s *sinkExporter) to(e sdktrace.SpanExporter) {
	s.mu.Lock()
	s.next = e
	s.mu.Unlock()
}

func (s *sinkExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == nil {
		return nil
	}
	return s.next.ExportSpans(ctx, spans)
}

func (s *sinkExporter) Shutdown(context.Context) error { return nil }
