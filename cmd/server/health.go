package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

const healthUsage = `usage: server health

Asks the server listening on LISTEN_ADDR (default :8080) on this host
whether it is ready (GET /readyz: the process serves and its database
answers) and exits 0 if it is, 1 if not. For container health checks: the
image has no shell or curl.`

// healthTimeout bounds the whole check, so that a hung server fails it
// rather than hanging the orchestrator's probe.
const healthTimeout = 3 * time.Second

// runHealth runs `server health`. Like runMigrate, it reads only what it
// needs (LISTEN_ADDR), so that the check needs no secret.
func runHealth(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 1 && isHelp(args[0]) {
		fmt.Fprintln(stdout, healthUsage)
		return nil
	}
	if len(args) != 0 {
		return errors.New(healthUsage)
	}
	url, err := readyURL(orDefault(getenv("LISTEN_ADDR"), ":8080"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s", url, resp.Status)
	}
	fmt.Fprintln(stdout, "ready")
	return nil
}

// readyURL is the /readyz address of a server listening on addr: the
// loopback address when addr names no host or a wildcard one.
func readyURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("health: LISTEN_ADDR %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}
