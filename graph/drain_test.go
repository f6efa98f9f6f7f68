package graph_test

import (
	"context"
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
		d.dialAsOwner(t)
		d.send(t, "s", `subscription { notificationAdded { id } }`)
		unlock := holdWrites(t, e, "projects")
		defer unlock()
		d.send(t, "m", `mutation { createProject(input: {name: "Held"}) { name } }`)
		awaitLockWaiters(t, e, 1)

		d.stop()
		d.awaitDraining(t)
		d.send(t, "late", `mutation { createProject(input: {name: "Late"}) { name } }`)
		// The connection reads its messages in order: once it has answered
		// a ping sent after "late", it has read "late" (and not started it).
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := wsjson.Write(ctx, d.conn, map[string]any{"type": "ping"}); err != nil {
			t.Fatal(err)
		}
		expect(ctx, t, d.conn, "pong", "")
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
// running then is cancelled, and, having written nothing, is not answered
// (a CANCELLED answer would tell graphql-ws it was done with, where it is
// to send it again elsewhere); the connection is closed with 1001.
func TestShutdownGraceEndsTheWebsocketsOperations(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		const grace = time.Second
		d := startDrainable(t, e, grace)
		d.dialAsOwner(t)
		unlock := holdWrites(t, e, "projects")
		defer unlock()
		d.send(t, "m", `mutation { createProject(input: {name: "Held"}) { name } }`)
		awaitLockWaiters(t, e, 1)

		read := d.readInBackground(t) // as clients do: the close handshake waits for their answer
		start := time.Now()
		d.stop()
		if err := d.served(t, grace+5*time.Second); err != nil {
			t.Errorf("serve: %v", err)
		}
		// Cancelled, the mutation answers at once (it is not answered): the
		// connection closes then, not a second later (drainCutShort).
		took := time.Since(start)
		if took < grace || took >= grace+time.Second {
			t.Errorf("serve returned %v after shutdown began, want between the grace (%v) and a second more", took, grace)
		}
		t.Logf("serve returned %v after shutdown began (grace %v)", took, grace)
		r := <-read
		if len(r.got) != 0 || r.status != websocket.StatusGoingAway {
			t.Errorf("got messages %q and close code %d, want none and %d", r.got, r.status, websocket.StatusGoingAway)
		}
		unlock()
		time.Sleep(200 * time.Millisecond) // for the ended mutation to have given up, if it were going on
		if held := d.projects(t, "Held"); held != 0 {
			t.Errorf("the mutation cut off by the grace created %d projects, want 0", held)
		}
	})
}

// drainable is a second instance on the test's database and broker, run
// the way cmd/server runs it (internal/server.Serve) on a handler of its
// own, so that its shutdown can be started.
type drainable struct {
	e       *graphtest.Env
	h       *graph.Handler
	url     string // its websocket URL
	cancel  context.CancelFunc
	serveCh chan error
	// owner, an OWNER of "acme", is connected and initialised on conn
	// (dialAsOwner).
	owner graphtest.User
	conn  *websocket.Conn
}

func startDrainable(t *testing.T, e *graphtest.Env, grace time.Duration) *drainable {
	t.Helper()
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
	return &drainable{e: e, h: h, url: url, cancel: cancel, serveCh: served}
}

// dialAsOwner registers an OWNER of a new tenant "acme" and connects them.
func (d *drainable) dialAsOwner(t *testing.T) {
	t.Helper()
	d.owner = d.e.Register("Owner")
	d.e.CreateTenant(d.owner, "acme")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, d.url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	initialise(t, conn, initPayload(d.owner.Token, "acme"))
	d.conn = conn
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

// closedRead is what readUntilClosed read.
type closedRead struct {
	got    []string
	status websocket.StatusCode
}

// readInBackground runs readUntilClosed on a goroutine of its own.
func (d *drainable) readInBackground(t *testing.T) <-chan closedRead {
	read := make(chan closedRead, 1)
	go func() {
		got, status := d.readUntilClosed(t)
		read <- closedRead{got, status}
	}()
	return read
}

// readUntilClosed reads the messages the server sends ("type id payload",
// pings and pongs aside) until it closes the connection, and its close
// code.
func (d *drainable) readUntilClosed(t *testing.T) (got []string, status websocket.StatusCode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		var m wsMessage
		if err := wsjson.Read(ctx, d.conn, &m); err != nil {
			if ctx.Err() != nil {
				t.Errorf("still open 10s on, after %q", got)
			}
			return got, websocket.CloseStatus(err)
		}
		if m.Type == "ping" || m.Type == "pong" {
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

// A rolling deploy as the graphql-ws client lives it
// (test/graphql-ws/restart.test.mjs): connected to instance A, the client
// sends a mutation, whose write is held until A is draining, and
// subscribes; A answers the mutation, once, then closes with 1001; the
// client reconnects to B (its url function plays the load balancer), does
// not send the mutation again, and subscribes there again.
func TestARestartWithTheGraphQLWSClient(t *testing.T) {
	node, _ := nodeSetup(t, nodeClientDir)
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member, project := feedWorld(e)
		a := startDrainable(t, e, 10*time.Second)
		unlock := holdWrites(t, e, "tasks")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		run := startNode(ctx, t, node, nodeClientDir, "restart.test.mjs",
			"TG_WS_URL_A="+a.url,
			"TG_WS_URL_B="+wsURL(e.URL),
			"TG_TOKEN="+member.Token,
			"TG_TENANT=acme",
			"TG_PROJECT="+project,
		)
		run.await(t, "SENT", 45*time.Second)
		awaitLockWaiters(t, e, 1)
		a.stop()
		a.awaitDraining(t)
		unlock()
		if err := a.served(t, 10*time.Second); err != nil {
			t.Errorf("serve: %v", err)
		}
		run.await(t, "CONNECTED 2", 20*time.Second)
		// The client's subscribe reaches B soon after it has connected:
		// notify until it has heard.
		for i := 0; !run.ended(200 * time.Millisecond); i++ {
			if i == 50 {
				run.fail(t, "no notification reached the client on B within 10s")
			}
			createAssignedTask(t, e, owner.Caller("acme"), project, "After the restart", member.ID)
		}
		run.passed(t, 1)
		var held struct{ Tasks struct{ TotalCount int } }
		e.MustDo(owner.Caller("acme"), `{ tasks(where: {title: "Held"}) { totalCount } }`, nil, &held)
		if held.Tasks.TotalCount != 1 {
			t.Errorf("the mutation created %d tasks, want 1", held.Tasks.TotalCount)
		}
	})
}

// A query whose deferred fragment is still running when the grace runs out
// is not completed: its first part is all the client has, and "complete"
// would tell graphql-ws that was all of it, where, hearing nothing more,
// it sends the query again once reconnected. (The deferred field waits on
// a table lock, which SQLite's readers do not wait for.)
func TestShutdownGraceLeavesADeferredQueryIncomplete(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		if e.Dialect != dialect.Postgres {
			t.Skip("the deferred field is held back by a table lock, which SQLite's readers do not wait for")
		}
		const grace = time.Second
		d := startDrainable(t, e, grace)
		d.dialAsOwner(t)
		e.CreateProject(d.owner.Caller("acme"), "Rocket")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		unlock := sendHeldDeferredQuery(ctx, t, e, d.conn, "q")
		defer unlock()
		var first wsMessage
		if err := wsjson.Read(ctx, d.conn, &first); err != nil || first.ID != "q" || first.Type != "next" || !strings.Contains(string(first.Payload), `"hasNext":true`) {
			t.Fatalf("got %+v (%v), want the page with hasNext", first, err)
		}
		e.AwaitLockWait(t)

		read := d.readInBackground(t)
		d.stop()
		if err := d.served(t, grace+5*time.Second); err != nil {
			t.Errorf("serve: %v", err)
		}
		r := <-read
		if len(r.got) != 0 || r.status != websocket.StatusGoingAway {
			t.Errorf("after the first part: got messages %q and close code %d, want none and %d", r.got, r.status, websocket.StatusGoingAway)
		}
	})
}
