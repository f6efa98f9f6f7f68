package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// `server health` passes against the real server once it serves, and
// fails, with the reason, when nothing listens there or the server is
// not ready.
func TestHealthCommand(t *testing.T) {
	env := map[string]string{
		"LISTEN_ADDR":  freeAddr(t),
		"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "app.db"),
	}
	if _, err := runCommand(t, env, "health"); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("nothing listening: got %v, want connection refused", err)
	}
	_, _, stop := startServer(t, nil, env)
	out, err := runCommand(t, env, "health")
	if err != nil || strings.TrimSpace(out) != "ready" {
		t.Errorf("serving: got %q, %v; want ready", out, err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			t.Errorf("asked for %s, want /readyz", r.URL.Path)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer notReady.Close()
	_, err = runCommand(t, map[string]string{"LISTEN_ADDR": notReady.Listener.Addr().String()}, "health")
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("database down: got %v, want the 503", err)
	}

	if _, err := runCommand(t, env, "health", "now"); err == nil || !strings.Contains(err.Error(), "usage: server health") {
		t.Errorf("an argument: got %v, want the usage", err)
	}
	if _, err := runCommand(t, map[string]string{"LISTEN_ADDR": "8080"}, "health"); err == nil || !strings.Contains(err.Error(), "LISTEN_ADDR") {
		t.Errorf("a bad LISTEN_ADDR: got %v, want it named", err)
	}
}

// A server that accepts but never answers fails the check at the deadline
// instead of holding the probe.
func TestHealthCommandGivesUpOnAHungServer(t *testing.T) {
	hung := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-hung }))
	defer s.Close()
	defer close(hung)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := runHealth(ctx, nil, func(k string) string {
		if k == "LISTEN_ADDR" {
			return s.Listener.Addr().String()
		}
		return ""
	}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("hung server: got %v, want the deadline exceeded", err)
	}
}

func TestReadyURL(t *testing.T) {
	for addr, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/readyz",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/readyz",
		"[::]:9000":      "http://[::1]:9000/readyz",
		"10.0.0.5:8080":  "http://10.0.0.5:8080/readyz",
		"localhost:8081": "http://localhost:8081/readyz",
	} {
		if got, err := readyURL(addr); err != nil || got != want {
			t.Errorf("readyURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
}

// freeAddr is a loopback address no one listens on (just now).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
