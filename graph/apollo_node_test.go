package graph_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tenantgraph/graph/graphtest"
)

// TestApolloClient runs test/apollo-client under Node.js: Apollo Client 4,
// wired as README.md's "From Apollo Client" shows, sends the contract's
// ProjectTree, CreateTask and NotificationAdded as written. Its query must
// normalise in Apollo's cache, and the task it creates must reach its
// subscription as a TASK_ASSIGNED notification.
func TestApolloClient(t *testing.T) {
	dir := filepath.Join("..", "test", "apollo-client")
	node, contract := nodeSetup(t, dir)
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member, project := feedWorld(e)

		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Run as a script, not with --test, which would start the file in a
		// child process without this stdin.
		cmd := exec.CommandContext(ctx, node, "--test-reporter=tap", "apollo.test.mjs")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(),
			"TG_HTTP_URL="+e.URL,
			"TG_WS_URL="+wsURL(e.URL),
			"TG_TENANT=acme",
			"TG_OWNER_TOKEN="+owner.Token,
			"TG_MEMBER_TOKEN="+member.Token,
			"TG_MEMBER_ID="+member.ID,
			"TG_PROJECT_ID="+project,
			"TG_CONTRACT="+contract,
		)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting node: %v", err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()

		// The go-ahead once the client's subscription is in the broker.
		deadline := time.After(45 * time.Second)
		for subscribers(t, e) < 1 {
			select {
			case err := <-done:
				t.Fatalf("the client ended before subscribing (%v):\n%s", err, out.String())
			case <-deadline:
				t.Fatalf("the client did not subscribe within 45s")
			case <-time.After(10 * time.Millisecond):
			}
		}
		if _, err := stdin.Write([]byte("go\n")); err != nil {
			t.Fatal(err)
		}
		stdin.Close()
		if err := <-done; err != nil {
			t.Fatalf("node apollo.test.mjs: %v\n%s", err, out.String())
		}
		if got := out.String(); !strings.Contains(got, "# pass 1") || !strings.Contains(got, "# fail 0") {
			t.Errorf("got\n%s\nwant the Apollo test passed", got)
		}
	})
}
