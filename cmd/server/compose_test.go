package main

import (
	"os"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// TestComposeLetsTheServerDrain: docker compose stops a container with
// SIGTERM and kills it stop_grace_period later (10 s unless set). The API's
// must outlast the server's own shutdown, SHUTDOWN_GRACE's default for
// requests and 5 s more for flushing traces, or requests still draining are
// cut off by the kill.
func TestComposeLetsTheServerDrain(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			StopGracePeriod string `yaml:"stop_grace_period"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	api, ok := compose.Services["api"]
	if !ok {
		t.Fatal("docker-compose.yml has no api service")
	}
	got := 10 * time.Second // Docker's default
	if api.StopGracePeriod != "" {
		if got, err = time.ParseDuration(api.StopGracePeriod); err != nil {
			t.Fatalf("api.stop_grace_period %q: %v", api.StopGracePeriod, err)
		}
	}
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if want := cfg.ShutdownGrace + time.Second + 5*time.Second; got < want {
		t.Errorf("api's stop grace period is %s, want at least %s (SHUTDOWN_GRACE's default, the websockets' second after it and the trace flush)", got, want)
	}
}
