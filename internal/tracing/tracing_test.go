package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"tenantgraph/internal/tracing"
)

// TestSetupExportsToTracesPath starts tracing as OTEL_EXPORTER_OTLP_ENDPOINT
// configures it (a base URL) and checks that a span reaches the collector at
// /v1/traces, where OTLP/HTTP collectors listen.
func TestSetupExportsToTracesPath(t *testing.T) {
	var (
		mu    sync.Mutex
		paths []string
	)
	exportOneSpan(t, func(r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
	})
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 || paths[0] != "POST /v1/traces" {
		t.Errorf("collector received %q, want [\"POST /v1/traces\"]", paths)
	}
}

// exportOneSpan sets tracing up to export to a collector that hands each
// request to seen, ends one span and flushes it.
func exportOneSpan(t *testing.T, seen func(*http.Request)) {
	t.Helper()
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen(r)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	prev := otel.GetTracerProvider()
	defer otel.SetTracerProvider(prev)

	ctx := context.Background()
	shutdown, err := tracing.Setup(ctx, collector.URL, "tenantgraph", "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Setup(%q): %v", collector.URL, err)
	}
	_, span := otel.Tracer("test").Start(ctx, "graphql query Projects")
	span.End()
	flushCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := shutdown(flushCtx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestSetupLogsExportErrorsAsJSON: a collector that fails is reported on the
// server's JSON log, not as a text line of the standard logger.
func TestSetupLogsExportErrorsAsJSON(t *testing.T) {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "collector down", http.StatusBadRequest)
	}))
	defer collector.Close()
	prev := otel.GetTracerProvider()
	defer otel.SetTracerProvider(prev)

	var logs bytes.Buffer
	ctx := context.Background()
	shutdown, err := tracing.Setup(ctx, collector.URL, "tenantgraph", "test", slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	_, span := otel.Tracer("test").Start(ctx, "graphql query Projects")
	span.End()
	flushCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = shutdown(flushCtx) // the export error also comes back here; it must be logged too

	var line struct{ Level, Msg, Error string }
	if err := json.Unmarshal(bytes.TrimSpace(logs.Bytes()), &line); err != nil {
		t.Fatalf("log = %q, want one JSON line: %v", logs.String(), err)
	}
	if line.Level != "WARN" || line.Msg != "tracing: exporting spans" || line.Error == "" {
		t.Errorf("log line = %+v, want a WARN \"tracing: exporting spans\" with the error", line)
	}
}

func TestTracesURL(t *testing.T) {
	for _, tc := range []struct {
		endpoint, want string
		wantErr        bool
	}{
		{endpoint: "http://collector:4318", want: "http://collector:4318/v1/traces"},
		{endpoint: "http://collector:4318/", want: "http://collector:4318/v1/traces"},
		{endpoint: "https://otel.example.com/otlp", want: "https://otel.example.com/otlp/v1/traces"},
		{endpoint: "collector:4318", wantErr: true},
		{endpoint: "not a url", wantErr: true},
		{endpoint: "grpc://collector:4317", wantErr: true},
		{endpoint: "http://", wantErr: true},
	} {
		t.Run(tc.endpoint, func(t *testing.T) {
			got, err := tracing.TracesURL(tc.endpoint)
			if (err != nil) != tc.wantErr {
				t.Fatalf("TracesURL(%q) error = %v, want error %v", tc.endpoint, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("TracesURL(%q) = %q, want %q", tc.endpoint, got, tc.want)
			}
		})
	}
}

// The service's name in the spans' resource is tenantgraph unless the
// operator names it with OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES),
// as every OpenTelemetry SDK lets them.
func TestSetupServiceNameFromTheEnvironment(t *testing.T) {
	for _, tc := range []struct{ env, want string }{{"", "tenantgraph"}, {"billing-api", "billing-api"}} {
		t.Run(tc.want, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("OTEL_SERVICE_NAME", tc.env)
			}
			var (
				mu    sync.Mutex
				names []string
			)
			exportOneSpan(t, func(r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				var req collectortrace.ExportTraceServiceRequest
				if err := proto.Unmarshal(body, &req); err != nil {
					t.Errorf("the collector's request: %v", err)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, rs := range req.GetResourceSpans() {
					for _, kv := range rs.GetResource().GetAttributes() {
						if kv.GetKey() == "service.name" {
							names = append(names, kv.GetValue().GetStringValue())
						}
					}
				}
			})
			mu.Lock()
			defer mu.Unlock()
			if len(names) != 1 || names[0] != tc.want {
				t.Errorf("service.name: got %q, want [%q]", names, tc.want)
			}
		})
	}
}
