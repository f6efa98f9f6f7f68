// Package tracing sets up OpenTelemetry: spans for GraphQL operations,
// resolvers and SQL statements, exported over OTLP/HTTP when an endpoint is
// configured, and a no-op otherwise.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// Setup installs the global tracer provider exporting to endpoint (an OTLP
// HTTP base URL such as http://collector:4318, read as the OpenTelemetry
// specification reads OTEL_EXPORTER_OTLP_ENDPOINT: spans go to its path
// followed by v1/traces). With no endpoint it installs nothing: spans are
// then no-ops. shutdown flushes pending spans.
//
// Errors of the export (a collector that cannot be reached, say) are logged
// to log, so that they come as JSON lines like every other line of the
// server, rather than as the standard logger's text.
func Setup(ctx context.Context, endpoint, service, version string, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	if endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing: exporting spans", "error", err.Error())
	}))
	traces, err := TracesURL(endpoint)
	if err != nil {
		return nil, err
	}
	// WithEndpointURL takes the URL as is (a URL without a path posts to
	// "/"), so the signal's path is added here.
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(traces))
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter for %s: %w", endpoint, err)
	}
	// Schemaless: resource.Default() carries the SDK's own semconv schema
	// URL, and merging it with another version's is an error. The
	// environment's OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES come
	// last, so that an operator's names win over the server's own.
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(service), semconv.ServiceVersion(version)))
	if err == nil {
		res, err = resource.Merge(res, resource.Environment())
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown, nil
}

// TracesURL is where spans go for an OTLP/HTTP base endpoint: the
// endpoint's path followed by v1/traces. It refuses anything but an
// absolute http or https URL with a host.
func TracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("tracing: OTEL_EXPORTER_OTLP_ENDPOINT %q is not an http:// or https:// URL such as http://collector:4318", endpoint)
	}
	return u.JoinPath("v1/traces").String(), nil
}
