package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// prodEnv is the environment of a production start, plus extra settings.
func prodEnv(t *testing.T, extra map[string]string) map[string]string {
	env := map[string]string{
		"APP_ENV":      "production",
		"JWT_SECRET":   "production-test-secret-production-test-secret",
		"LISTEN_ADDR":  "127.0.0.1:0",
		"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "app.db"),
		"BCRYPT_COST":  "4",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// firstError returns the code and message of a response's first error.
func firstError(out map[string]any) (code, message string) {
	errs, _ := out["errors"].([]any)
	if len(errs) == 0 {
		return "", ""
	}
	e, _ := errs[0].(map[string]any)
	ext, _ := e["extensions"].(map[string]any)
	code, _ = ext["code"].(string)
	message, _ = e["message"].(string)
	return code, message
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestProductionMode: APP_ENV=production switches off introspection,
// GraphiQL and "did you mean" suggestions, and still serves the API.
func TestProductionMode(t *testing.T) {
	tests := []struct {
		name          string
		env           map[string]string
		introspection bool
		graphiql      bool
		suggestions   bool
	}{
		{"production", prodEnv(t, nil), false, false, false},
		{"production with INTROSPECTION=1 and GRAPHIQL=1", prodEnv(t, map[string]string{"INTROSPECTION": "1", "GRAPHIQL": "1"}), true, true, false},
		{"development", map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "dev.db")}, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, _, stop := startServer(t, nil, tt.env)
			defer func() {
				if err := stop(); err != nil {
					t.Errorf("stopping: %v", err)
				}
			}()

			// The API itself is served.
			if code, msg := firstError(post(t, url, `{ currentTenant { slug } }`, "")); code != "" {
				t.Errorf("currentTenant: got %s %q, want it served", code, msg)
			}

			for _, q := range []string{
				`{ __schema { types { name } } }`,
				`{ __type(name: "Project") { fields { name } } }`,
				`query { ...F } fragment F on Query { __schema { queryType { name } } }`,
			} {
				out := post(t, url, q, "")
				code, msg := firstError(out)
				switch {
				case tt.introspection && code != "":
					t.Errorf("%s: got %s %q, want the schema", q, code, msg)
				case !tt.introspection && (code != "GRAPHQL_VALIDATION_FAILED" || out["data"] != nil):
					t.Errorf("%s: got %s %q data %v, want GRAPHQL_VALIDATION_FAILED and no data", q, code, msg, out["data"])
				}
			}
			if code, msg := firstError(post(t, url, `{ __typename }`, "")); code != "" {
				t.Errorf("__typename: got %s %q, want it served (it is not introspection of the schema)", code, msg)
			}

			wantStatus := http.StatusNotFound
			if tt.graphiql {
				wantStatus = http.StatusOK
			}
			if got := getStatus(t, strings.TrimSuffix(url, "/graphql")+"/"); got != wantStatus {
				t.Errorf("GraphiQL at /: got %d, want %d", got, wantStatus)
			}

			suggested := 0
			for _, q := range []string{
				`{ currentTenan { slug } }`,             // unknown field
				`{ currentTenant }`,                     // object without a selection
				`{ projects(frist: 5) { totalCount } }`, // unknown argument
				`query($w: ProjectWhereInpt) { projects(where: $w) { totalCount } }`, // unknown type
				`{ projects(where: {status: DRAFTT}) { totalCount } }`,               // unknown enum value
				`{ projects(where: {nam: "x"}) { totalCount } }`,                     // unknown input field
			} {
				code, msg := firstError(post(t, url, q, ""))
				if code != "GRAPHQL_VALIDATION_FAILED" {
					t.Errorf("%s: got %s %q, want GRAPHQL_VALIDATION_FAILED", q, code, msg)
				}
				if strings.Contains(msg, "Did you mean") {
					suggested++
					if !tt.suggestions {
						t.Errorf("%s: got %q, want no suggestion", q, msg)
					}
				}
			}
			if tt.suggestions && suggested == 0 {
				t.Errorf("got no suggestion at all, want some (else this test proves nothing)")
			}
		})
	}
}

// TestProductionRefusesUnsafeSettings: settings meant for tests and demos
// are refused in production.
func TestProductionRefusesUnsafeSettings(t *testing.T) {
	for _, extra := range []map[string]string{
		{"WEBHOOK_ALLOW_LOOPBACK": "1"},
		{"SEED_DEMO": "1"},
		{"QUERY_MAX_DEPTH": "0"},
		{"MAX_BODY_BYTES": "10"},
		{"LOGIN_RATE_PER_ACCOUNT": "-1"},
	} {
		t.Run(fmt.Sprint(extra), func(t *testing.T) {
			_, err := loadConfig(func(k string) string { return prodEnv(t, extra)[k] })
			for key := range extra {
				if err == nil || !strings.Contains(err.Error(), key) {
					t.Errorf("got %v, want an error naming %s", err, key)
				}
			}
		})
	}
}

// The -demo flag is refused in production as SEED_DEMO is: the demo
// accounts' passwords would be printed to the logs.
func TestProductionRefusesTheDemoFlag(t *testing.T) {
	env := prodEnv(t, nil)
	err := run(context.Background(), []string{"server", "-demo"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-demo") {
		t.Fatalf("got %v, want -demo refused in production", err)
	}
}

// A production start without SMTP_URL warns that EMAIL notifications only
// go to the log (and so reach no one); with SMTP_URL, or outside
// production, it does not.
func TestProductionWarnsWithoutSMTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		warn bool
	}{
		{"production without SMTP_URL", prodEnv(t, nil), true},
		{"production with SMTP_URL", prodEnv(t, map[string]string{"SMTP_URL": "smtp://127.0.0.1:2525?from=noreply@example.test"}), false},
		{"development", map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "dev.db")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			stdout, stderr := &syncBuffer{}, &syncBuffer{}
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"server"}, func(k string) string { return tc.env[k] }, stdout, stderr)
			}()
			for deadline := time.Now().Add(30 * time.Second); apiURL.FindStringSubmatch(stdout.String()) == nil; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("server did not start; stderr: %s", stderr.String())
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("run: %v", err)
			}
			if got := strings.Contains(stderr.String(), "SMTP_URL is not set"); got != tc.warn {
				t.Errorf("warned %v, want %v; the log:\n%s", got, tc.warn, stderr.String())
			}
		})
	}
}
