package graph_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tenantgraph/graph/graphtest"
)

// nodeClientDir holds the Node.js test that subscribes with graphql-ws, the
// client library of Apollo Client and GraphiQL.
var nodeClientDir = filepath.Join("..", "test", "graphql-ws")

// TestFeedWithGraphQLWSClient subscribes to the feed with the graphql-ws
// library under Node.js, sending the contract's NotificationAdded as
// written: the server must speak the protocol as that client does, refuse a
// bad token with 4403 and deliver the notification.
func TestFeedWithGraphQLWSClient(t *testing.T) {
	node, contract := nodeSetup(t, nodeClientDir)
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member, project := feedWorld(e)

		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=tap", "client.test.mjs")
		cmd.Dir = nodeClientDir
		cmd.Env = append(os.Environ(),
			"TG_WS_URL="+wsURL(e.URL),
			"TG_TOKEN="+member.Token,
			"TG_TENANT=acme",
			"TG_EXPECT_KIND=TASK_ASSIGNED",
			"TG_CONTRACT="+contract,
		)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = cmd.Stdout
		var out strings.Builder
		var mu sync.Mutex
		scanned := make(chan struct{})
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting node: %v", err)
		}
		go func() {
			defer close(scanned)
			s := bufio.NewScanner(stdout)
			for s.Scan() {
				mu.Lock()
				out.WriteString(s.Text() + "\n")
				mu.Unlock()
			}
		}()
		output := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }

		// Wait for the subscription to reach the broker. The client's
		// "SUBSCRIBED" line is informative only: node's test runner may
		// relay a test's output late, so the broker is the witness.
		deadline := time.Now().Add(45 * time.Second)
		for subscribers(t, e) < 1 {
			select {
			case <-scanned:
				_ = cmd.Wait()
				t.Fatalf("the client ended before subscribing:\n%s", output())
			case <-time.After(10 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("the client did not subscribe within 45s:\n%s", output())
			}
		}
		createAssignedTask(t, e, owner.Caller("acme"), project, "From Go", member.ID)

		<-scanned
		if err := cmd.Wait(); err != nil {
			t.Fatalf("node --test client.test.mjs: %v\n%s", err, output())
		}
		if got := output(); !strings.Contains(got, "# pass 2") {
			t.Errorf("got\n%s\nwant both client tests passed", got)
		}
	})
}

// nodeSetup readies a Node.js client test in dir: it returns node's path and
// the contract's absolute path, with dir's packages installed.
func nodeSetup(t *testing.T, dir string) (node, contract string) {
	t.Helper()
	node = lookTool(t, "node")
	npmInstall(t, dir)
	contract, err := filepath.Abs(contractPath)
	if err != nil {
		t.Fatal(err)
	}
	return node, contract
}

// npmInstall installs dir's locked packages unless they are there.
func npmInstall(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err == nil {
		return
	}
	npm := lookTool(t, "npm")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
}

// lookTool finds a program on PATH: missing, it fails the test in CI and
// skips it elsewhere.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not on PATH; CI must have it: %v", name, err)
	}
	t.Skipf("%s is not on PATH (CI fails instead of skipping): %v", name, err)
	return ""
}
