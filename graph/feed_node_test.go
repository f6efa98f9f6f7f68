package graph_test

import (
	"bufio"
	"context"
	"fmt"
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
		run := startNode(ctx, t, node, nodeClientDir, "client.test.mjs",
			"TG_WS_URL="+wsURL(e.URL),
			"TG_TOKEN="+member.Token,
			"TG_TENANT=acme",
			"TG_EXPECT_KIND=TASK_ASSIGNED",
			"TG_CONTRACT="+contract,
		)
		// The subscription has reached the broker: the client's
		// "SUBSCRIBED" line says it is connected, not that its subscribe
		// has been served.
		deadline := time.Now().Add(45 * time.Second)
		for subscribers(t, e) < 1 {
			if run.ended(10 * time.Millisecond) {
				run.fail(t, "the client ended before subscribing")
			}
			if time.Now().After(deadline) {
				run.fail(t, "the client did not subscribe within 45s")
			}
		}
		createAssignedTask(t, e, owner.Caller("acme"), project, "From Go", member.ID)
		run.passed(t, 2)
	})
}

// nodeRun is a Node.js test file running, its output read as it comes.
type nodeRun struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	out     strings.Builder
	lines   chan string   // the output's lines, for await
	scanned chan struct{} // closed once the output has ended
}

// startNode runs script, a node:test file in dir, with env added to the
// environment, reporting in TAP. node runs the file itself, not through
// its test runner (node --test), which may relay a test's output late.
func startNode(ctx context.Context, t *testing.T, node, dir, script string, env ...string) *nodeRun {
	t.Helper()
	cmd := exec.CommandContext(ctx, node, "--test-reporter=tap", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node: %v", err)
	}
	r := &nodeRun{cmd: cmd, lines: make(chan string, 1024), scanned: make(chan struct{})}
	go func() {
		defer close(r.scanned)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			r.mu.Lock()
			r.out.WriteString(s.Text() + "\n")
			r.mu.Unlock()
			select {
			case r.lines <- s.Text():
			default: // nobody awaits that many lines
			}
		}
	}()
	return r
}

func (r *nodeRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// ended reports whether the output has ended, waiting up to within.
func (r *nodeRun) ended(within time.Duration) bool {
	select {
	case <-r.scanned:
		return true
	case <-time.After(within):
		return false
	}
}

// await reads the output up to a line that is line, and fails the test if
// the output ends first or within passes.
func (r *nodeRun) await(t *testing.T, line string, within time.Duration) {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case l := <-r.lines:
			if strings.TrimSpace(l) == line {
				return
			}
		case <-r.scanned:
			for len(r.lines) > 0 { // the lines it printed before it ended, not read yet
				if strings.TrimSpace(<-r.lines) == line {
					return
				}
			}
			r.fail(t, "the client ended before printing "+line)
		case <-timeout:
			r.fail(t, fmt.Sprintf("the client did not print %s within %v", line, within))
		}
	}
}

// fail ends the process and fails the test with why and the output.
func (r *nodeRun) fail(t *testing.T, why string) {
	t.Helper()
	_ = r.cmd.Process.Kill()
	<-r.scanned
	_ = r.cmd.Wait()
	t.Fatalf("%s:\n%s", why, r.output())
}

// passed waits for the process to end, and fails the test unless it
// passed, with n tests passed.
func (r *nodeRun) passed(t *testing.T, n int) {
	t.Helper()
	<-r.scanned
	if err := r.cmd.Wait(); err != nil {
		t.Fatalf("node %s: %v\n%s", r.cmd.Args[len(r.cmd.Args)-1], err, r.output())
	}
	if got := r.output(); !strings.Contains(got, fmt.Sprintf("# pass %d\n", n)) {
		t.Errorf("got\n%s\nwant %d tests passed", got, n)
	}
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
