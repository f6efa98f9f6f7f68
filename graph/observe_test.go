package graph_test

import (
	"encoding/json"
	"strings"
	"testing"

	"tenantgraph/graph/graphtest"
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
