package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/metrics"
)

// TestOneLogLinePerOperation: every operation, served or refused at any
// stage, leaves one structured line with its name, type, tenant, user,
// duration and outcome, and never the token or a password.
func TestOneLogLinePerOperation(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice := e.Register("Alice")
		e.CreateTenant(alice, "logs")
		before := len(graphqlLines(t, e.Logs()))
		e.Do(alice.Caller("logs"), `query Served { projects { totalCount } }`, nil)
		e.Do(graphtest.Caller{Token: "not-a-token"}, `query BadToken { currentTenant { slug } }`, nil)
		e.Do(alice.Caller("logs"), `query Invalid { nope }`, nil)
		e.Do(graphtest.Caller{}, `mutation Login { login(input: {email: "alice@example.test", password: "correct horse battery"}) { token } }`, nil)
		lines := graphqlLines(t, e.Logs())[before:]
		if len(lines) != 4 {
			t.Fatalf("graphql log lines: got %d (%v), want 4", len(lines), lines)
		}
		want := []struct{ operation, status, code string }{
			{"Served", "ok", ""}, {"BadToken", "error", "UNAUTHENTICATED"},
			{"Invalid", "error", "GRAPHQL_VALIDATION_FAILED"}, {"Login", "ok", ""},
		}
		for i, w := range want {
			l := lines[i]
			if l["operation"] != w.operation || l["status"] != w.status {
				t.Errorf("line %d: got %v, want operation %s status %s", i, l, w.operation, w.status)
			}
			if w.code != "" && !strings.Contains(toJSON(l["codes"]), w.code) {
				t.Errorf("line %d: codes %v, want %s", i, l["codes"], w.code)
			}
			if _, ok := l["duration_ms"].(float64); !ok {
				t.Errorf("line %d: no duration_ms in %v", i, l)
			}
		}
		if lines[0]["tenant"] != "logs" || lines[0]["user"].(float64) == 0 {
			t.Errorf("served line: got tenant %v user %v, want logs and Alice", lines[0]["tenant"], lines[0]["user"])
		}
		logs := e.Logs()
		for _, secret := range []string{alice.Token, "not-a-token", "correct horse battery"} {
			if strings.Contains(logs, secret) {
				t.Errorf("the log contains a secret %q", secret[:8])
			}
		}
	})
}

// Requests refused before they run get their log line too, and count as
// errors, as a refused batch does: another method (405), another
// Content-Type (415), a body over MAX_BODY_BYTES (413, refused in
// internal/server), and over GET a query string or variables that do not
// decode (400) and a mutation or subscription (405, logged under its name
// and type).
func TestRefusedRequestsAreLogged(t *testing.T) {
	m := metrics.New(nil, nil)
	graphtest.RunWith(t, graphtest.Options{Deps: func(d *graph.Deps) { d.Metrics = m }}, func(t *testing.T, e *graphtest.Env) {
		before := len(graphqlLines(t, e.Logs()))
		errorsBefore := countedErrors(t, m, "BAD_USER_INPUT")
		get := func(query string) string { return "/graphql?" + query }
		refusals := []struct {
			method, path, contentType string
			body                      []byte
			status                    int
			operation, kind           string // the line's, when it names them
		}{
			{http.MethodPut, "/graphql", "application/json", []byte(`{"query":"{ currentTenant { slug } }"}`), http.StatusMethodNotAllowed, "", ""},
			{http.MethodPost, "/graphql", "text/plain", []byte(`{ currentTenant { slug } }`), http.StatusUnsupportedMediaType, "", ""},
			{http.MethodPost, "/graphql", "application/json", bytes.Repeat([]byte(" "), 2<<20), http.StatusRequestEntityTooLarge, "", ""},
			{http.MethodGet, get("query=%zz"), "", nil, http.StatusBadRequest, "", ""},
			{http.MethodGet, get("query=" + url.QueryEscape("{ currentTenant { slug } }") + "&variables=%7Bnope"), "", nil, http.StatusBadRequest, "", ""},
			{http.MethodGet, get("query=" + url.QueryEscape("mutation Sneaky { markAllNotificationsRead }")), "", nil, http.StatusMethodNotAllowed, "Sneaky", "mutation"},
			{http.MethodGet, get("query=" + url.QueryEscape("subscription Feed { notificationAdded { id } }")), "", nil, http.StatusMethodNotAllowed, "Feed", "subscription"},
		}
		for _, r := range refusals {
			header := http.Header{}
			if r.contentType != "" {
				header.Set("Content-Type", r.contentType)
			}
			if got := e.Raw(graphtest.Caller{}, r.method, r.path, header, r.body); got.Status != r.status {
				t.Fatalf("%s %.60s: got %d, want %d", r.method, r.path, got.Status, r.status)
			}
		}
		lines := graphqlLines(t, e.Logs())[before:]
		if len(lines) != len(refusals) {
			t.Fatalf("graphql log lines: got %d (%v), want one per refused request", len(lines), lines)
		}
		for i, l := range lines {
			if l["status"] != "error" || toJSON(l["codes"]) != `["BAD_USER_INPUT"]` {
				t.Errorf("line %d: got %v, want status error, codes [BAD_USER_INPUT]", i, l)
			}
			if want := refusals[i]; want.operation != "" && (l["operation"] != want.operation || l["type"] != want.kind) {
				t.Errorf("line %d: got %v, want operation %s of type %s", i, l, want.operation, want.kind)
			}
		}
		if got := countedErrors(t, m, "BAD_USER_INPUT") - errorsBefore; got != len(refusals) {
			t.Errorf("tenantgraph_graphql_errors_total{code=\"BAD_USER_INPUT\"} grew by %d, want %d", got, len(refusals))
		}
	})
}

// countedErrors is tenantgraph_graphql_errors_total{code=code} in m.
func countedErrors(t *testing.T, m *metrics.Metrics, code string) int {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "tenantgraph_graphql_errors_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "code" && l.GetValue() == code {
					return int(s.GetCounter().GetValue())
				}
			}
		}
	}
	return 0
}

func graphqlLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if m["msg"] == "graphql" {
			out = append(out, m)
		}
	}
	return out
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestClientCancellationIsNotAnError: a client that gives up on a request
// (here a mutation held up behind another transaction's lock) leaves a log
// line with status "cancelled" and code CANCELLED, no ERROR line, and
// nothing written.
func TestClientCancellationIsNotAnError(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice := e.Register("Alice")
		e.CreateTenant(alice, "gone")
		ctx := context.Background()

		lock, err := e.DB.SQL.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Close()
		held := []string{"BEGIN IMMEDIATE"} // SQLite: the database's write lock
		if e.Dialect == dialect.Postgres {
			held = []string{"BEGIN", "LOCK TABLE projects IN ACCESS EXCLUSIVE MODE"}
		}
		for _, stmt := range held {
			if _, err := lock.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}

		// The client gives up after 300 ms, while the mutation waits.
		reqCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		body := `{"query":"mutation GoneAway { createProject(input: {name: \"Half\"}) { id } }"}`
		req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, e.URL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+alice.Token)
		req.Header.Set("X-Tenant-Slug", "gone")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("the request was answered (%s) while the lock was held", resp.Status)
		}
		time.Sleep(200 * time.Millisecond) // the server notices the client has gone
		if _, err := lock.ExecContext(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}

		var line map[string]any
		for deadline := time.Now().Add(15 * time.Second); line == nil; time.Sleep(20 * time.Millisecond) {
			for _, l := range graphqlLines(t, e.Logs()) {
				if l["operation"] == "GoneAway" {
					line = l
				}
			}
			if line == nil && time.Now().After(deadline) {
				t.Fatalf("no log line for the abandoned operation; logs:\n%s", e.Logs())
			}
		}
		if line["status"] != "cancelled" || toJSON(line["codes"]) != `["CANCELLED"]` || line["level"] != "INFO" {
			t.Errorf("the abandoned operation's line: got %v, want level INFO, status cancelled, codes [CANCELLED]", line)
		}
		if strings.Contains(e.Logs(), `"level":"ERROR"`) {
			t.Errorf("a client's cancellation was logged as an error:\n%s", e.Logs())
		}
		var out struct{ Projects struct{ TotalCount int } }
		e.MustDo(alice.Caller("gone"), `{ projects { totalCount } }`, nil, &out)
		if out.Projects.TotalCount != 0 {
			t.Errorf("projects after the abandoned mutation: got %d, want 0", out.Projects.TotalCount)
		}
	})
}

// TestSubscriptionLoggedWhenSubscribed: a subscription's line is written
// as soon as its stream is set up (status "subscribed"), not at its first
// event, and its events add none; one refused at setup is logged with its
// error.
func TestSubscriptionLoggedWhenSubscribed(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member, project := feedWorld(e)
		lines := func() (out []map[string]any) {
			for _, l := range graphqlLines(t, e.Logs()) {
				if l["operation"] == "NotificationAdded" {
					out = append(out, l)
				}
			}
			return out
		}
		feed := subscribe(t, e, member, "acme")
		var got []map[string]any
		for deadline := time.Now().Add(5 * time.Second); len(got) == 0; time.Sleep(10 * time.Millisecond) {
			if got = lines(); len(got) == 0 && time.Now().After(deadline) {
				t.Fatalf("no log line for a subscription set up and waiting for its first event; logs:\n%s", e.Logs())
			}
		}
		l := got[0]
		if l["status"] != "subscribed" || l["type"] != "subscription" || l["tenant"] != "acme" || l["level"] != "INFO" {
			t.Errorf("the subscription's line: got %v, want level INFO, type subscription, status subscribed, tenant acme", l)
		}
		if _, ok := l["duration_ms"].(float64); !ok {
			t.Errorf("no duration_ms in %v", l)
		}

		createAssignedTask(t, e, owner.Caller("acme"), project, "Logged", member.ID)
		feed.next(t, 5*time.Second)
		if got := lines(); len(got) != 1 {
			t.Errorf("after an event: %d lines for the subscription, want still 1: %v", len(got), got)
		}

		// Over plain HTTP a subscription is refused at setup: one error line.
		e.Do(member.Caller("acme"), feedQuery, nil)
		got = lines()
		if len(got) != 2 || got[1]["status"] != "error" || toJSON(got[1]["codes"]) != `["BAD_USER_INPUT"]` {
			t.Errorf("a subscription refused over HTTP: got lines %v, want a second with status error, codes [BAD_USER_INPUT]", got)
		}
	})
}

// The operation name in a log line is bounded: it is the client's
// operationName, which may name no operation and be as long as the body.
func TestLoggedOperationNameIsBounded(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		before := len(graphqlLines(t, e.Logs()))
		long := strings.Repeat("x", 100_000)
		if r := e.Post(graphtest.Caller{}, map[string]any{"query": "query Q { currentTenant { slug } }", "operationName": long}); r.Code() == "" {
			t.Fatalf("an operationName naming no operation: got no error")
		}
		lines := graphqlLines(t, e.Logs())[before:]
		if len(lines) != 1 {
			t.Fatalf("graphql log lines: got %d, want 1", len(lines))
		}
		if name, _ := lines[0]["operation"].(string); len(name) > 110 || !strings.HasPrefix(name, "xxxx") {
			t.Errorf("logged operation: %d bytes (%.20q…), want at most about 100", len(name), name)
		}
	})
}
