package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tenantgraph/ent/notification"
	"tenantgraph/ent/privacy"
	"tenantgraph/internal/database"
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
	// A request refused before any operation (another method) is counted.
	put, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(`{"query":"{ currentTenant { slug } }"}`))
	if resp, err := http.DefaultClient.Do(put); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
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
		`tenantgraph_graphql_errors_total{code="BAD_USER_INPUT"} 1`,
		`tenantgraph_graphql_request_duration_seconds_count{operation="Cur",outcome="ok",type="query"} 1`,
		`tenantgraph_outbox_pending{channel="EMAIL"} 0`,
		`tenantgraph_outbox_failed{channel="IN_APP"} 0`,
		// Before any delivery, every channel's outcomes at 0.
		`tenantgraph_outbox_deliveries_total{channel="EMAIL",outcome="delivered"} 0`,
		`tenantgraph_outbox_deliveries_total{channel="SLACK",outcome="failed"} 0`,
		`tenantgraph_outbox_deliveries_total{channel="IN_APP",outcome="retry"} 0`,
		"tenantgraph_websocket_connections 0",
		`go_sql_open_connections{db_name="tenantgraph"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestRetentionSweepsOnStart: with NOTIFICATION_RETENTION set, the server
// deletes the notifications older than it (the first sweep runs at start)
// and counts them in /metrics; a younger one stays.
func TestRetentionSweepsOnStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	db, err := database.Open(ctx, "sqlite:"+path, database.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tenant := db.Client.Tenant.Create().SetName("Acme").SetSlug("acme").SaveX(ctx)
	u := db.Client.User.Create().SetEmail("ada@example.com").SetName("Ada").SetPasswordHash("x").SaveX(ctx)
	for _, age := range []time.Duration{48 * time.Hour, time.Hour} {
		at := time.Now().Add(-age)
		db.Client.Notification.Create().SetTenantID(tenant.ID).SetRecipientID(u.ID).SetKind(notification.KindMEMBER_ADDED).
			SetTitle("t").SetBody("b").SetCreatedAt(at).SetUpdatedAt(at).SaveX(ctx)
	}
	_ = db.Close()

	url, _, stop := startServer(t, nil, map[string]string{
		"LISTEN_ADDR":            "127.0.0.1:0",
		"DATABASE_URL":           "sqlite:" + path,
		"NOTIFICATION_RETENTION": "24h",
	})
	metrics := strings.TrimSuffix(url, "/graphql") + "/metrics"
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(metrics)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if strings.Contains(string(body), "\ntenantgraph_notifications_expired_total 1\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no expired notification counted within 10s; /metrics has:\n%s", grepLines(string(body), "expired"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	db, err = database.Open(ctx, "sqlite:"+path, database.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	left := db.Client.Notification.Query().AllX(ctx)
	if len(left) != 1 || time.Since(left[0].CreatedAt) > 2*time.Hour {
		t.Fatalf("left %d notifications (%v), want the one an hour old", len(left), left)
	}
}

// grepLines is the lines of s that contain sub, for a failure message.
func grepLines(s, sub string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
