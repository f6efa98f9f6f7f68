package main

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads docker-compose.yml as `docker compose config` does,
// through compose-go, the library Docker Compose itself is built on: the
// file checked against the Compose specification's schema, its variables
// interpolated from dotEnv (the .env a user puts beside it; none when
// empty), every service's env_file read into its environment, and the
// references between services checked. The file and the .env are copied
// into a directory of their own, as in a user's checkout with a .env of
// their own, and nothing from this process's environment is read.
func loadCompose(t *testing.T, dotEnv string) *types.Project {
	t.Helper()
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if dotEnv != "" {
		if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(dotEnv), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "docker-compose.yml")},
		cli.WithWorkingDirectory(dir), cli.WithName("tenantgraph"), cli.WithEnvFiles(), cli.WithDotEnv, cli.WithConsistency(true))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load (as `docker compose config` would refuse it): %v", err)
	}
	project, err = project.WithServicesEnvironmentResolved(false)
	if err != nil {
		t.Fatalf("docker-compose.yml: the services' environment: %v", err)
	}
	return project
}

// service is the project's service name, or the test's end.
func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return s
}

// environ is the service's environment as the server's getenv: a variable
// set without a value reads as unset.
func environ(s types.ServiceConfig) func(string) string {
	return func(key string) string {
		if v := s.Environment[key]; v != nil {
			return *v
		}
		return ""
	}
}

// exampleEnv is .env.example as a user fills it in: a JWT_SECRET, which
// production requires, and the rest as it stands.
func exampleEnv(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	env := string(raw)
	if !strings.Contains(env, "\nJWT_SECRET=\n") {
		t.Fatal(".env.example has no empty JWT_SECRET line for the user to fill in")
	}
	return strings.Replace(env, "\nJWT_SECRET=\n", "\nJWT_SECRET=compose-test-secret-of-at-least-32-bytes\n", 1)
}

// TestComposeStack: the compose file loads with no .env and with
// .env.example filled in, and describes the stack the README promises:
// PostgreSQL 16 with a health check and a volume, the migrations applied
// by a one-shot job once the database is healthy, and the API started only
// after that job succeeded, on a configuration the server accepts and a
// database URL that names the db service with its user, password and
// database.
func TestComposeStack(t *testing.T) {
	for _, tc := range []struct {
		name, dotEnv, env string
	}{
		{"no .env", "", "development"},
		{".env.example filled in", exampleEnv(t), "production"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := loadCompose(t, tc.dotEnv)
			db, migrate, api := service(t, p, "db"), service(t, p, "migrate"), service(t, p, "api")

			if !strings.HasPrefix(db.Image, "postgres:16") {
				t.Errorf("db image %q, want PostgreSQL 16", db.Image)
			}
			if db.HealthCheck == nil || db.HealthCheck.Disable || len(db.HealthCheck.Test) == 0 {
				t.Errorf("db has no health check: %+v", db.HealthCheck)
			}
			if !slices.ContainsFunc(db.Volumes, func(v types.ServiceVolumeConfig) bool {
				return v.Type == types.VolumeTypeVolume && v.Target == "/var/lib/postgresql/data" && p.Volumes[v.Source].Name != ""
			}) {
				t.Errorf("db keeps its data in no named volume: %+v", db.Volumes)
			}

			for _, s := range []types.ServiceConfig{migrate, api} {
				if s.Build == nil || s.Build.Dockerfile != "Dockerfile" {
					t.Errorf("%s is not built from the Dockerfile: %+v", s.Name, s.Build)
				}
			}
			if got := strings.Join(migrate.Command, " "); got != "migrate up" {
				t.Errorf("migrate runs %q, want migrate up", got)
			}
			if migrate.HealthCheck == nil || !migrate.HealthCheck.Disable {
				t.Error("the one-shot migrate job runs the image's health check of a server")
			}
			if api.HealthCheck != nil && api.HealthCheck.Disable {
				t.Error("the api's health check (the image's) is turned off")
			}
			wantDeps := map[string]map[string]string{
				"migrate": {"db": types.ServiceConditionHealthy},
				"api":     {"db": types.ServiceConditionHealthy, "migrate": types.ServiceConditionCompletedSuccessfully},
			}
			for _, s := range []types.ServiceConfig{migrate, api} {
				for dep, cond := range wantDeps[s.Name] {
					if got := s.DependsOn[dep].Condition; got != cond {
						t.Errorf("%s waits for %s to be %q, want %q", s.Name, dep, got, cond)
					}
				}
			}

			// Both jobs reach the db service, as its user, with its
			// password, in its database.
			for _, s := range []types.ServiceConfig{migrate, api} {
				u, err := url.Parse(environ(s)("DATABASE_URL"))
				if err != nil {
					t.Fatalf("%s's DATABASE_URL: %v", s.Name, err)
				}
				pw, _ := u.User.Password()
				if u.Hostname() != "db" || u.User.Username() != environ(db)("POSTGRES_USER") ||
					pw != environ(db)("POSTGRES_PASSWORD") || strings.TrimPrefix(u.Path, "/") != environ(db)("POSTGRES_DB") {
					t.Errorf("%s's DATABASE_URL %s does not name the db service's user, password and database", s.Name, u.Redacted())
				}
			}

			// The API's configuration is one the server starts with, and
			// it listens on the port published.
			cfg, err := loadConfig(environ(api))
			if err != nil {
				t.Fatalf("the server refuses the api's environment: %v", err)
			}
			if cfg.Env != tc.env {
				t.Errorf("APP_ENV %q, want %q", cfg.Env, tc.env)
			}
			_, port, _ := net.SplitHostPort(cfg.Addr)
			if !slices.ContainsFunc(api.Ports, func(pc types.ServicePortConfig) bool { return strconv.Itoa(int(pc.Target)) == port }) {
				t.Errorf("the api listens on %s; published: %+v", cfg.Addr, api.Ports)
			}
		})
	}
}

// TestComposeEnvFile: every setting written in .env reaches the API (its
// env_file), except the two the compose file fixes: the database it
// created and the port it publishes, which a .env line must not move.
func TestComposeEnvFile(t *testing.T) {
	p := loadCompose(t, exampleEnv(t)+"DATABASE_PREPARED_STATEMENTS=0\nTRUST_PROXY=1\nWS_MAX_SUBSCRIPTIONS=7\n"+
		"DATABASE_URL=postgres://someone@elsewhere:5432/other?sslmode=disable\nLISTEN_ADDR=:9999\n")
	api := environ(service(t, p, "api"))
	for key, want := range map[string]string{
		"DATABASE_PREPARED_STATEMENTS": "0",
		"TRUST_PROXY":                  "1",
		"WS_MAX_SUBSCRIPTIONS":         "7",
		"JWT_SECRET":                   "compose-test-secret-of-at-least-32-bytes",
		"LISTEN_ADDR":                  ":8080",
	} {
		if got := api(key); got != want {
			t.Errorf("the api's %s = %q, want %q", key, got, want)
		}
	}
	if u, err := url.Parse(api("DATABASE_URL")); err != nil || u.Hostname() != "db" {
		t.Errorf("a DATABASE_URL line in .env moved the api off the db service: %q", api("DATABASE_URL"))
	}
}

// TestComposeLetsTheServerDrain: docker compose stops a container with
// SIGTERM and kills it stop_grace_period later (10 s unless set). The API's
// must outlast the server's own shutdown, SHUTDOWN_GRACE's default for
// requests and 5 s more for flushing traces, or requests still draining are
// cut off by the kill.
func TestComposeLetsTheServerDrain(t *testing.T) {
	api := service(t, loadCompose(t, ""), "api")
	got := 10 * time.Second // Docker's default
	if api.StopGracePeriod != nil {
		got = time.Duration(*api.StopGracePeriod)
	}
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if want := cfg.ShutdownGrace + time.Second + 5*time.Second; got < want {
		t.Errorf("api's stop grace period is %s, want at least %s (SHUTDOWN_GRACE's default, the websockets' second after it and the trace flush)", got, want)
	}
}
