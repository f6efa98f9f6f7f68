package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is written by the server goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var apiURL = regexp.MustCompile(`API at (http://\S+/graphql)`)

// startServer runs the real binary's run() and waits until it prints its URL.
func startServer(t *testing.T, args []string, env map[string]string) (url string, stdout *syncBuffer, stop func() error) {
	t.Helper()
	url, stdout, _, stop = startServerLogged(t, args, env)
	return url, stdout, stop
}

// startServerLogged is startServer, with the server's standard error (its
// log lines) too.
func startServerLogged(t *testing.T, args []string, env map[string]string) (url string, stdout, stderr *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"server"}, args...), func(k string) string { return env[k] }, stdout, stderr)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := apiURL.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], stdout, stderr, func() error {
				cancel()
				select {
				case err := <-done:
					return err
				case <-time.After(20 * time.Second):
					t.Fatal("server did not stop within 20s of cancellation")
					return nil
				}
			}
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("server exited early: %v\nstderr: %s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("server did not start; stdout: %s stderr: %s", stdout.String(), stderr.String())
	return "", nil, nil, nil
}

func post(t *testing.T, url, query string, token string) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	return out
}

func TestRunServesAndShutsDownGracefully(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"LISTEN_ADDR":  "127.0.0.1:0",
		"DATABASE_URL": "sqlite:" + filepath.Join(dir, "app.db"),
		"BCRYPT_COST":  "4",
	}
	url, stdout, stop := startServer(t, []string{"-demo"}, env)
	out := post(t, url, `{ currentTenant { slug } }`, "")
	if got := out["data"].(map[string]any)["currentTenant"].(map[string]any)["slug"]; got != "default" {
		t.Errorf("currentTenant: got %v, want default", got)
	}
	// The demo accounts printed at start log in.
	m := regexp.MustCompile(`MEMBER\s+(\S+)\s+(\S+)`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no demo MEMBER printed: %s", stdout.String())
	}
	login := post(t, url, `mutation { login(input: {email: "`+m[1]+`", password: "`+m[2]+`"}) { token } }`, "")
	token, _ := login["data"].(map[string]any)["login"].(map[string]any)["token"].(string)
	if token == "" {
		t.Fatalf("demo login failed: %v", login)
	}
	tree := post(t, url, `{ projects(first: 20) { totalCount } }`, token)
	if n := tree["data"].(map[string]any)["projects"].(map[string]any)["totalCount"].(float64); n < 5 {
		t.Errorf("demo projects: got %v, want several", n)
	}
	if err := stop(); err != nil {
		t.Errorf("graceful shutdown: got %v, want nil", err)
	}

	// A second start on the same file keeps the data and does not duplicate it.
	url, _, stop = startServer(t, []string{"-demo"}, env)
	tree = post(t, url, `{ projects(first: 20) { totalCount } }`, "")
	if tree["errors"] == nil {
		t.Errorf("anonymous projects: got %v, want UNAUTHENTICATED", tree)
	}
	if err := stop(); err != nil {
		t.Errorf("graceful shutdown: got %v, want nil", err)
	}
}

func TestRunRefusesProductionWithoutSecret(t *testing.T) {
	err := run(context.Background(), []string{"server"}, func(k string) string {
		return map[string]string{"APP_ENV": "production", "DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "x.db")}[k]
	}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET") {
		t.Errorf("got %v, want a refusal naming JWT_SECRET", err)
	}
}

func TestLoadConfigRejectsBadValues(t *testing.T) {
	for _, tc := range []struct{ key, value string }{
		{"TOKEN_TTL", "forever"},
		{"TOKEN_TTL", "-1h"},
		{"BCRYPT_COST", "ten"},
		// A cost over 16 makes every login take seconds to days, and the
		// start hang on its first hash; under 4, bcrypt would quietly use
		// its default.
		{"BCRYPT_COST", "17"},
		{"BCRYPT_COST", "31"},
		{"BCRYPT_COST", "3"},
		{"BCRYPT_COST", "-1"},
		// Refused here, before the database is opened and migrated.
		{"JWT_SECRET", "too-short"},
		{"JWT_SECRET", strings.Repeat("s", 31)},
		{"SHUTDOWN_GRACE", "0s"},
		{"NOTIFICATION_RETENTION", "90d"},
		{"NOTIFICATION_RETENTION", "-24h"},
		{"NOTIFICATION_RETENTION", "30m"},
		// A misspelt APP_ENV would otherwise serve with every production
		// safeguard off.
		{"APP_ENV", "Production"},
		{"APP_ENV", "PRODUCTION"},
		{"APP_ENV", "prod"},
		{"APP_ENV", "production "},
		{"APP_ENV", "staging"},
		{"APP_ENV", "dev"},
		// A switch that is neither on nor off would otherwise read as off:
		// behind a proxy, TRUST_PROXY=enabled would rate-limit every client
		// as one address.
		{"TRUST_PROXY", "enabled"},
		{"GRAPHIQL", "maybe"},
		{"INTROSPECTION", "y"},
		{"SEED_DEMO", "2"},
		{"MIGRATE_ON_START", "always"},
		// Found before the database is made, not after.
		{"LISTEN_ADDR", "8080"},
		{"LISTEN_ADDR", "localhost"},
		{"SMTP_URL", "mail.example.com:587"},
		{"SMTP_URL", "smtp://mail.example.com:587"}, // no from=
		// Go reads a malformed GOGC as 100 without a word, and a malformed
		// AUTOMEMLIMIT left the process with no memory limit.
		{"GOGC", "abc"},
		{"GOGC", "40%"},
		{"AUTOMEMLIMIT", "abc"},
		{"AUTOMEMLIMIT", "1.5"},
		{"AUTOMEMLIMIT", "0"},
		{"WEBHOOK_ALLOW_LOOPBACK", "sure"},
		// A malformed pattern would refuse every cross-origin websocket.
		{"WS_ALLOWED_ORIGINS", "app.example.com,[app.example.org"},
		// An origin without its scheme never matches a browser's Origin.
		{"CORS_ALLOWED_ORIGINS", "https://app.example.com,app.example.org"},
		{"CORS_ALLOWED_ORIGINS", "https://app.example.com/graphql"},
		// A browser's Origin has no path, query, fragment, user or default
		// port: these would never match it, and CORS would quietly fail.
		{"CORS_ALLOWED_ORIGINS", "https://app.example.com/"},
		{"CORS_ALLOWED_ORIGINS", "https://app.example.com?"},
		{"CORS_ALLOWED_ORIGINS", "https://app.example.com#top"},
		{"CORS_ALLOWED_ORIGINS", "https://ada@app.example.com"},
		{"CORS_ALLOWED_ORIGINS", "https://app.example.com:443"},
		{"WS_ALLOWED_ORIGINS", "app.example.com/"},
		{"WS_ALLOWED_ORIGINS", "localhost:*,https://app.example.com/"},
		{"DATABASE_PREPARED_STATEMENTS", "-1"},
		{"DATABASE_PREPARED_STATEMENTS", "all"},
	} {
		_, err := loadConfig(func(k string) string {
			if k == tc.key {
				return tc.value
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s=%q: got %v, want an error naming %s", tc.key, tc.value, err, tc.key)
		}
	}
	c, err := loadConfig(func(string) string { return "" })
	if err != nil || !c.JWTSecretRandom || len(c.JWTSecret) < 32 || c.TokenTTL != 24*time.Hour || c.Addr != ":8080" || c.Retention != 0 {
		t.Errorf("defaults: got %+v, %v", c, err)
	}
	for value, production := range map[string]bool{"": false, "development": false, "production": true} {
		c, err := loadConfig(func(k string) string {
			return map[string]string{"APP_ENV": value, "JWT_SECRET": strings.Repeat("s", 32)}[k]
		})
		if err != nil || c.production() != production {
			t.Errorf("APP_ENV=%q: got production() %v, %v; want %v, nil", value, c.production(), err, production)
		}
	}
	_, err = loadConfig(func(k string) string { return map[string]string{"APP_ENV": "prod"}[k] })
	if err == nil || !strings.Contains(err.Error(), "development") || !strings.Contains(err.Error(), "production") {
		t.Errorf("APP_ENV=prod: got %v, want an error naming the allowed values development and production", err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want func(config) bool
	}{
		{map[string]string{"TRUST_PROXY": "TRUE", "MIGRATE_ON_START": "1"}, func(c config) bool { return c.TrustProxy && c.MigrateOnStart }},
		{map[string]string{"GRAPHIQL": "0", "INTROSPECTION": "off"}, func(c config) bool { return !c.GraphiQL && !c.Introspection }},
		{map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example.com, http://localhost:3000,https://*.example.org,HTTPS://App.Example.NET:8443"}, func(c config) bool { return len(c.CORSOrigins) == 4 }},
		{map[string]string{"WS_ALLOWED_ORIGINS": "localhost:*,app.example.com,https://*.example.org"}, func(c config) bool { return len(c.WebsocketOrigins) == 3 }},
		{map[string]string{}, func(c config) bool { return c.GraphiQL && c.Introspection && !c.TrustProxy && !c.MigrateOnStart }},
		{map[string]string{}, func(c config) bool { return c.BcryptCost == 10 }},
		{map[string]string{}, func(c config) bool { return c.PreparedStmts == 256 }},
		{map[string]string{"DATABASE_PREPARED_STATEMENTS": "0"}, func(c config) bool { return c.PreparedStmts == 0 }},
		{map[string]string{"DATABASE_PREPARED_STATEMENTS": "64"}, func(c config) bool { return c.PreparedStmts == 64 }},
		{map[string]string{"BCRYPT_COST": "4"}, func(c config) bool { return c.BcryptCost == 4 }},
		{map[string]string{"BCRYPT_COST": "16"}, func(c config) bool { return c.BcryptCost == 16 }},
		// Well-formed collector settings start (TuneGC applies them).
		{map[string]string{"GOGC": "off", "AUTOMEMLIMIT": "off"}, func(config) bool { return true }},
		{map[string]string{"GOGC": "50", "AUTOMEMLIMIT": "0.8"}, func(config) bool { return true }},
		{map[string]string{"GOGC": "-1", "AUTOMEMLIMIT": "1"}, func(config) bool { return true }},
		{map[string]string{"JWT_SECRET": strings.Repeat("s", 32)}, func(c config) bool { return string(c.JWTSecret) == strings.Repeat("s", 32) && !c.JWTSecretRandom }},
	} {
		c, err := loadConfig(func(k string) string { return tc.env[k] })
		if err != nil || !tc.want(c) {
			t.Errorf("%v: got %+v, %v", tc.env, c, err)
		}
	}
	for value, want := range map[string]time.Duration{"0": 0, "2160h": 90 * 24 * time.Hour} {
		c, err := loadConfig(func(k string) string {
			if k == "NOTIFICATION_RETENTION" {
				return value
			}
			return ""
		})
		if err != nil || c.Retention != want {
			t.Errorf("NOTIFICATION_RETENTION=%q: got %s, %v; want %s", value, c.Retention, err, want)
		}
	}
}

// TestLoadConfigShowsTheOrigin: an origin that a browser never sends is
// refused with the value to write instead.
func TestLoadConfigShowsTheOrigin(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"CORS_ALLOWED_ORIGINS", "https://app.example.com/", `write "https://app.example.com"`},
		{"CORS_ALLOWED_ORIGINS", "http://localhost:3000/graphql?x=1", `write "http://localhost:3000"`},
		{"CORS_ALLOWED_ORIGINS", "https://app.example.com:443/", `write "https://app.example.com"`},
		{"WS_ALLOWED_ORIGINS", "app.example.com/", `write "app.example.com"`},
		{"WS_ALLOWED_ORIGINS", "https://*.example.com/ws", `write "https://*.example.com"`},
	} {
		_, err := loadConfig(func(k string) string {
			if k == tc.key {
				return tc.value
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: got %v, want an error naming %s and saying %s", tc.key, tc.value, err, tc.key, tc.want)
		}
	}
}

// TestRunHelp: -h, --help and `help` print the usage (the commands, the
// flags, and where the settings come from) on stdout and succeed, where the
// flag package's "flag: help requested" was an error and exit 1; each
// subcommand's -h prints its own usage. A bad flag is an error with the
// usage on stderr.
func TestRunHelp(t *testing.T) {
	serverUsage := []string{"usage: server [-demo]", "server migrate up|status", "server health", "-demo",
		"Configuration is by environment variables", "Configuration section of the\nREADME"}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, serverUsage},
		{[]string{"--help"}, serverUsage},
		{[]string{"-help"}, serverUsage},
		{[]string{"help"}, serverUsage},
		{[]string{"migrate", "-h"}, []string{"usage: server migrate up|status", "DATABASE_URL"}},
		{[]string{"health", "--help"}, []string{"usage: server health", "LISTEN_ADDR"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			// No environment at all: asking for help opens no database.
			err := run(context.Background(), append([]string{"server"}, tc.args...), func(string) string { return "" }, &stdout, &stderr)
			if err != nil {
				t.Errorf("got error %v, want none", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout: got %q, want it to contain %q", stdout.String(), want)
				}
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr: got %q, want nothing", stderr.String())
			}
		})
	}
	t.Run("a bad flag", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"server", "-port", "9000"}, func(string) string { return "" }, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), "-port") {
			t.Errorf("got error %v, want one naming -port", err)
		}
		if !strings.Contains(stderr.String(), "usage: server") || stdout.Len() != 0 {
			t.Errorf("got stdout %q, stderr %q; want the usage on stderr only", stdout.String(), stderr.String())
		}
	})
}

// TestBannerHasNoStraySpace: the start-up line reads "GraphiQL at URL/, API
// at URL/graphql", without a space before the comma.
func TestBannerHasNoStraySpace(t *testing.T) {
	env := map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "app.db")}
	_, stdout, stop := startServer(t, nil, env)
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	banner := regexp.MustCompile(`GraphiQL at http://\S+:\d+/, API at http://\S+:\d+/graphql\n`)
	if !banner.MatchString(stdout.String()) {
		t.Errorf("banner: got %q, want GraphiQL at …/, API at …/graphql", stdout.String())
	}
}

// TestRunRefusesAMissingManifestBeforeTheDatabase: a PERSISTED_QUERIES
// that cannot be read stops the start with an error naming the setting,
// before the database file is made (it was found after the schema had been
// created and migrated).
func TestRunRefusesAMissingManifestBeforeTheDatabase(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "data", "app.db")
	err := run(context.Background(), []string{"server"}, func(k string) string {
		return map[string]string{"DATABASE_URL": "sqlite:" + dbPath, "PERSISTED_QUERIES": filepath.Join(dir, "missing.json")}[k]
	}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "PERSISTED_QUERIES") {
		t.Errorf("got %v, want a refusal naming PERSISTED_QUERIES", err)
	}
	if _, statErr := os.Stat(filepath.Dir(dbPath)); !os.IsNotExist(statErr) {
		t.Errorf("the database's directory: %v, want none made", statErr)
	}
}
