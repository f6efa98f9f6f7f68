package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestMetricsEndpoint: /metrics serves the Prometheus metrics, counting
// operations by name and outcome, errors by code, and the outbox backlog.
func TestMetricsEndpoint(t *testing.T) {
	env := map[string]string{
		"LISTEN_ADDR":  "127.0.0.1:0",
		"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "app.db"),
		"BCRYPT_COST":  "4",
	}
	url, _, stop := startServer(t, nil, env)
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	post(t, url, `query Cur { currentTenant { slug } }`, "")
	post(t, url, `query Broken { projects { totalCount } }`, "")
	resp, err := http.Get(strings.TrimSuffix(url, "/graphql") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`tenantgraph_graphql_requests_total{operation="Cur",outcome="ok",type="query"} 1`,
		`tenantgraph_graphql_requests_total{operation="Broken",outcome="error",type="query"} 1`,
		`tenantgraph_graphql_errors_total{code="UNAUTHENTICATED"} 1`,
		`tenantgraph_graphql_request_duration_seconds_count{operation="Cur",outcome="ok",type="query"} 1`,
		"tenantgraph_outbox_pending 0",
		"tenantgraph_websocket_connections 0",
		`go_sql_open_connections{db_name="tenantgraph"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
