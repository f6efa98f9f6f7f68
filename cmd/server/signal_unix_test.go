//go:build unix

package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestMain runs main itself when TestSecondSignalStopsAtOnce starts this
// binary as the server.
func TestMain(m *testing.M) {
	if os.Getenv("TG_TEST_RUN_MAIN") == "1" {
		os.Args = []string{"server"}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The first SIGTERM begins the shutdown, which waits for the requests in
// flight (SHUTDOWN_GRACE); a second one stops the process at once, as an
// operator pressing Ctrl-C again expects. Before, it was swallowed.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"TG_TEST_RUN_MAIN=1",
		"LISTEN_ADDR=127.0.0.1:0",
		"DATABASE_URL=sqlite:"+filepath.Join(t.TempDir(), "app.db"),
		"BCRYPT_COST=4",
		"SHUTDOWN_GRACE=60s",
		"REQUEST_TIMEOUT=60s",
	)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
	})
	started := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			if m := apiURL.FindStringSubmatch(lines.Text()); m != nil {
				started <- m[1]
			}
		}
		exited <- cmd.Wait()
	}()
	var api string
	select {
	case api = <-started:
	case err := <-exited:
		t.Fatalf("the server exited before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not start within 30s")
	}

	// A request in flight: its body is announced and never sent, so the
	// shutdown waits for it.
	u, err := url.Parse(api)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", u.Host)
	time.Sleep(200 * time.Millisecond) // the server has read the head

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		t.Fatalf("the server exited at the first SIGTERM (%v), want it to wait for the request in flight", err)
	case <-time.After(time.Second):
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
			t.Errorf("after the second SIGTERM: got %v, want the process ended by the signal", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server was still running 5s after a second SIGTERM")
	}
}
