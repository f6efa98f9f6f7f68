package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// coldStarts builds cmd/server and measures, runs times per case, the time
// from exec to the first 200 from /readyz on SQLite: on a new database file
// (the schema is created at start) and on the benchmark's data set.
func coldStarts(ctx context.Context, runs int, datasetPath string) error {
	dir, err := os.MkdirTemp("", "tg-cold-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "server")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/server")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building cmd/server: %w", err)
	}
	cases := []struct {
		name string
		db   func(i int) string
	}{
		{"new database file", func(i int) string { return filepath.Join(dir, fmt.Sprintf("fresh-%d.db", i)) }},
		{"benchmark data set", func(int) string { return datasetPath }},
	}
	fmt.Println("cold start, SQLite (exec of the built cmd/server binary to the first 200 from /readyz):")
	for _, c := range cases {
		var took []time.Duration
		for i := 0; i < runs; i++ {
			d, err := coldStart(ctx, bin, c.db(i))
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			took = append(took, d)
		}
		slices.Sort(took)
		verdict := "MISS"
		if took[len(took)/2] < time.Second {
			verdict = "PASS"
		}
		fmt.Printf("  %s  %-19s median %s, min %s, max %s over %d starts (target < 1s)\n",
			verdict, c.name+":", ms(took[len(took)/2]), ms(took[0]), ms(took[len(took)-1]), runs)
	}
	return nil
}

func coldStart(ctx context.Context, bin, dbPath string) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(),
		"DATABASE_URL=sqlite:"+dbPath,
		"LISTEN_ADDR="+addr,
		"JWT_SECRET=cold-start-secret-cold-start-secret-0123",
		"APP_ENV=development",
	)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	client := &http.Client{Timeout: time.Second}
	for time.Since(start) < 30*time.Second {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("no 200 from /readyz within 30s")
}
