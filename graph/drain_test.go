package graph_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/server"
	"tenantgraph/internal/tenancy"
)

// A mutation sent over a websocket before the server began shutting down
// is answered, result and "complete", before the connection is closed with
// 1001: graphql-ws sends every operation it has not seen completed again
// on its next connection, so a mutation cut off by the close would be run
// a second time, on another instance, whenever the first had committed.
// What the client sends once the shutdown has begun is not started (the
// client sends it again once reconnected), and a subscription is not
// completed (the client subscribes again).
func TestShutdownAnswersTheWebsocketsMutationsFirst(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		d := startDrainable(t, e, 10*time.Second)
		d.send(t, "s", `subscription { notificationAdded { id } }`)
		unlock := holdProjectWrites(t, e)
		defer unlock()
		d.send(t, "m", `mutation { createProject(input: {name: "Held"}) { name } }`)
		awaitHeldMutation(t, e)

		d.stop()
		d.awaitDraining(t)
		d.send(t, "late", `mutation { createProject(input: {name: "Late"}) { name } }`)
		time.Sleep(100 * time.Millisecond) // for "late" to be read, and not started
		unlock()

		got, status := d.readUntilClosed(t)
		if want := []string{`next m {"data":{"createProject":{"name":"Held"}}}`, "complete m"}; strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("got messages\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if status != websocket.StatusGoingAway {
			t.Errorf("close code %d, want %d (1001: graphql-ws reconnects)", status, websocket.StatusGoingAway)
		}
		if err := d.served(t, 5*time.Second); err != nil {
			t.Errorf("serve: %v", err)
		}
		if held, late := d.projects(t, "Held"), d.projects(t, "Late"); held != 1 || late != 0 {
			t.Errorf("projects: Held %d, Late %d; want the mutation answered done once, and the late one not run", held, late)
		}
	})
}

// The drain waits no longer than the shutdown's grace: a mutation still
// running then ends unanswered, and writes nothing, and the connection is
// closed with 1001 (graphql-ws then sends it again elsewhere).
func TestShutdownGraceEndsTheWebsocketsOperations(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		const grace = time.Second
		d := startDrainable(t, e, grace)
		unlock := holdProjectWrites(t, e)
		defer unlock()
		d.send(t, "m", `mutation { createProject(input: {name: "Held"}) { name } }`)
		awaitHeldMutation(t, e)

		start := time.Now()
		d.stop()
		if err := d.served(t, grace+5*time.Second); err != nil {
			t.Errorf("serve: %v", err)
		}
		if took := time.Since(start); took < grace {
			t.Errorf("serve returned %v after shutdown began, before the grace (%v) ran out with a mutation running", took, grace)
		}
		got, status := d.readUntilClosed(t)
		if len(got) != 0 || status != websocket.StatusGoingAway {
			t.Errorf("got messages %q and close code %d, want none and %d", got, status, websocket.StatusGoingAway)
		}
		unlock()
		time.Sleep(200 * time.Millisecond) // for the ended mutation to have given up, if it were going on
		if held := d.projects(t, "Held"); held != 0 {
			t.Errorf("the mutation cut off by the grace created %d projects, want 0", held)
		}
	})
}

// drainable is a server run the way cmd/server runs it (internal/server.
// Serve), on a handler of its own, so that its shutdown can be started,
// with an OWNER of "acme" connected and initialised on a websocket.
type drainable struct {
	e       *graphtest.Env
	h       *graph.Handler
	owner   graphtest.User
	conn    *websocket.Conn
	cancel  context.CancelFunc
	serveCh chan error
}

func startDrainable(t *testing.T, e *graphtest.Env, grace time.Duration) *drainable {
	t.Helper()
	owner := e.Register("Owner")
	e.CreateTenant(owner, "acme")
	h := graph.NewHandler(graph.Deps{Client: e.DB.Client, Sessions: tenancy.NewResolver(e.Tokens), Logger: e.Log,
		Notifier: e.Notifier, Broker: e.Broker})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addr, served := make(chan string, 1), make(chan error, 1)
	go func() {
		served <- server.Serve(ctx, server.Config{Addr: "127.0.0.1:0", GraphQL: h, DB: e.DB, Logger: e.Log},
			grace, func(a string) { addr <- a })
	}()
	var url string
	select {
	case a := <-addr:
		url = "ws://" + a + "/graphql"
	case err := <-served:
		t.Fatalf("serve: %v", err)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	conn, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	initialise(t, conn, initPayload(owner.Token, "acme"))
	return &drainable{e: e, h: h, owner: owner, conn: conn, cancel: cancel, serveCh: served}
}

// send sends a subscribe message for query as id.
func (d *drainable) send(t *testing.T, id, query string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, d.conn, map[string]any{"type": "subscribe", "id": id, "payload": map[string]any{"query": query}}); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
}

// stop starts the server's shutdown.
func (d *drainable) stop() { d.cancel() }

// awaitDraining returns once the handler's websockets are draining.
func (d *drainable) awaitDraining(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !graph.Draining(d.h); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the websockets were not draining 5s after shutdown began")
		}
	}
}

// served waits for Serve to return, and returns its error.
func (d *drainable) served(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-d.serveCh:
		return err
	case <-time.After(within):
		t.Fatalf("serve: still running %v after its context ended", within)
		return nil
	}
}

// readUntilClosed reads the messages the server sends ("type id payload",
// pings aside) until it closes the connection, and its close code.
func (d *drainable) readUntilClosed(t *testing.T) (got []string, status websocket.StatusCode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		var m wsMessage
		if err := wsjson.Read(ctx, d.conn, &m); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("still open 10s on, after %q", got)
			}
			return got, websocket.CloseStatus(err)
		}
		if m.Type == "ping" {
			continue
		}
		got = append(got, strings.TrimSpace(fmt.Sprintf("%s %s %s", m.Type, m.ID, m.Payload)))
	}
}

// projects counts acme's projects named name, through the test's own server.
func (d *drainable) projects(t *testing.T, name string) int {
	t.Helper()
	var got struct{ Projects struct{ TotalCount int } }
	d.e.MustDo(d.owner.Caller("acme"), `query($n: String) { projects(where: {name: $n}) { totalCount } }`, map[string]any{"n": name}, &got)
	return got.Projects.TotalCount
}

// holdProjectWrites makes a mutation that creates a project wait until
// unlock is called (more than once is harmless): on PostgreSQL a lock on
// the projects table, on SQLite the database's write lock, which a write
// transaction takes as it begins.
func holdProjectWrites(t *testing.T, e *graphtest.Env) (unlock func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := e.DB.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.Dialect == dialect.Postgres {
		if _, err := tx.ExecContext(ctx, `LOCK TABLE projects IN EXCLUSIVE MODE`); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		if err := tx.Rollback(); err != nil && err != sql.ErrTxDone {
			t.Errorf("releasing the lock: %v", err)
		}
	}
}

// awaitHeldMutation returns once a websocket operation waits for the lock
// of holdProjectWrites.
func awaitHeldMutation(t *testing.T, e *graphtest.Env) {
	t.Helper()
	if e.Dialect == dialect.Postgres {
		e.AwaitLockWait(t)
		return
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, g := range strings.Split(goroutineDump(), "\n\n") {
			if strings.Contains(g, "(*wsOperation).start(") && strings.Contains(g, "modernc.org/sqlite") {
				return
			}
		}
	}
	t.Fatal("no websocket operation waited on the database within 10s")
}
