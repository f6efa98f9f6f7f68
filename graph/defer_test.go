package graph_test

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
)

// @defer is served where its deferred fields are delivered, in queries over
// the websocket, and refused (BAD_USER_INPUT, nothing run) everywhere else:
// over POST and GET, which write one response, and in mutations and
// subscriptions, whose later responses gqlgen never produces. It used to
// answer the deferred fields as null, non-null ones included, with
// "hasNext": true and nothing after (a mutation kept what it wrote).
func TestDeferIsServedOnlyWhereItIsDelivered(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		acme := owner.Caller("acme")
		e.CreateProject(acme, "Rocket")
		const query = `{ projects(first: 5) { edges { node { id ... @defer { availableTransitions } } } } }`

		t.Run("POST", func(t *testing.T) {
			r := e.Do(acme, query, nil)
			if r.Code() != "BAD_USER_INPUT" || string(r.Data) != "null" {
				t.Errorf("got data %s, errors %+v; want BAD_USER_INPUT and no data", r.Data, r.Errors)
			}
		})
		t.Run("GET", func(t *testing.T) {
			raw := e.Raw(acme, "GET", "/graphql?query="+url.QueryEscape(query), nil, nil)
			if body := string(raw.Body); !strings.Contains(body, `"code":"BAD_USER_INPUT"`) || strings.Contains(body, "hasNext") {
				t.Errorf("got %d %s, want BAD_USER_INPUT", raw.Status, body)
			}
		})
		t.Run("POST, if false", func(t *testing.T) {
			var got struct {
				Projects struct {
					Edges []struct {
						Node struct{ AvailableTransitions []string }
					}
				}
			}
			e.Do(acme, `query($d: Boolean!) { projects(first: 5) { edges { node { id ... @defer(if: $d) { availableTransitions } } } } }`,
				map[string]any{"d": false}).Decode(t, &got)
			if len(got.Projects.Edges) != 1 || len(got.Projects.Edges[0].Node.AvailableTransitions) == 0 {
				t.Errorf("got %+v, want the project with its transitions", got)
			}
		})

		conn := dialRaw(t, e)
		initialise(t, conn, initPayload(owner.Token, "acme"))
		t.Run("websocket query", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := wsjson.Write(ctx, conn, map[string]any{"type": "subscribe", "id": "q", "payload": map[string]any{"query": query}}); err != nil {
				t.Fatal(err)
			}
			var payloads []string
			for {
				var m wsMessage
				if err := wsjson.Read(ctx, conn, &m); err != nil {
					t.Fatalf("after %v: %v", payloads, err)
				}
				if m.ID != "q" {
					continue
				}
				if m.Type == "complete" {
					break
				}
				payloads = append(payloads, m.Type+" "+string(m.Payload))
			}
			if len(payloads) != 2 || !strings.Contains(payloads[1], `"availableTransitions":["`) {
				t.Errorf("got %q, want the page, then its deferred transitions", payloads)
			}
		})
		t.Run("websocket mutation", func(t *testing.T) {
			got := wsResult(t, conn, "m", `mutation { createProject(input: {name: "Deferred"}) { id ... @defer { createdBy { id } } } }`)
			if !strings.Contains(got, `"code":"BAD_USER_INPUT"`) {
				t.Errorf("got %s, want BAD_USER_INPUT", got)
			}
			var count struct{ Projects struct{ TotalCount int } }
			e.MustDo(acme, `{ projects(where: {name: "Deferred"}) { totalCount } }`, nil, &count)
			if count.Projects.TotalCount != 0 {
				t.Errorf("the refused mutation created %d projects, want none", count.Projects.TotalCount)
			}
		})
		t.Run("websocket subscription", func(t *testing.T) {
			got := wsResult(t, conn, "s", `subscription { notificationAdded { id project { id ... @defer { availableTransitions } } } }`)
			if !strings.Contains(got, `"code":"BAD_USER_INPUT"`) {
				t.Errorf("got %s, want BAD_USER_INPUT", got)
			}
		})
	})
}

// A deferred fragment still running when its websocket query ends (the
// client completes it, here) must not leave the query's goroutine behind.
// gqlgen's executor waited for the next deferred result with no regard
// for the query's context, and its deferred work gives up sending when
// that context ends: whenever the two met, the goroutine waited for ever,
// holding one of the connection's eight slots for starting operations,
// until the connection could start none. The deferred field here,
// Project.activity, waits on a lock held on its table until the client has
// completed the query; each round, the executor could go either way.
func TestACompletedDeferredQueryLeavesNothingWaiting(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		if e.Dialect != dialect.Postgres {
			t.Skip("the deferred field is held back by a table lock, which SQLite's readers do not wait for")
		}
		conn := deferWorld(t, e)
		for round := range 10 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			id := fmt.Sprintf("q%d", round)
			unlock := sendHeldDeferredQuery(ctx, t, e, conn, id)
			var first wsMessage
			if err := wsjson.Read(ctx, conn, &first); err != nil || first.ID != id || first.Type != "next" || !strings.Contains(string(first.Payload), `"hasNext":true`) {
				t.Fatalf("round %d: got %+v (%v), want the page with hasNext", round, first, err)
			}
			e.AwaitLockWait(t)
			if err := wsjson.Write(ctx, conn, map[string]any{"type": "complete", "id": id}); err != nil {
				t.Fatal(err)
			}
			unlock()
			cancel()
		}
		// Every query has ended once nothing waits in an operation's
		// responses any more (a query's goroutine is there between them).
		for deadline := time.Now().Add(5 * time.Second); waiting() > 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d completed queries still wait for their deferred results", waiting())
			}
		}
		// The connection still starts operations.
		if got := wsResult(t, conn, "after", `{ projects(first: 1) { totalCount } }`); !strings.Contains(got, `"totalCount":1`) {
			t.Errorf("after the completed queries: %s", got)
		}
	})
}

// A websocket query whose deferred fragment outlives the query's time ends
// with an error and hasNext false, then complete, and leaves nothing
// waiting: it used to wait for ever, half the time, and send nothing more.
func TestADeferredQueryThatTimesOutEnds(t *testing.T) {
	graphtest.RunWith(t, graphtest.Options{Deps: func(d *graph.Deps) { d.WebsocketOperationTimeout = 300 * time.Millisecond }}, func(t *testing.T, e *graphtest.Env) {
		if e.Dialect != dialect.Postgres {
			t.Skip("the deferred field is held back by a table lock, which SQLite's readers do not wait for")
		}
		conn := deferWorld(t, e)
		for round := range 6 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			unlock := sendHeldDeferredQuery(ctx, t, e, conn, fmt.Sprintf("q%d", round))
			var got []string
			for {
				var m wsMessage
				if err := wsjson.Read(ctx, conn, &m); err != nil {
					t.Fatalf("round %d: after %q: %v", round, got, err)
				}
				if m.Type == "complete" {
					break
				}
				got = append(got, m.Type+" "+string(m.Payload))
			}
			unlock()
			cancel()
			if len(got) != 2 || !strings.Contains(got[0], `"hasNext":true`) ||
				!strings.Contains(got[1], `"errors":[`) || !strings.Contains(got[1], `"hasNext":false`) {
				t.Fatalf("round %d: got %q, want the page, then an error with hasNext false", round, got)
			}
		}
		for deadline := time.Now().Add(5 * time.Second); waiting() > 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d timed-out queries still wait for their deferred results", waiting())
			}
		}
	})
}

// deferWorld is an OWNER of "acme", with a project, connected and
// initialised on a websocket.
func deferWorld(t *testing.T, e *graphtest.Env) *websocket.Conn {
	t.Helper()
	owner := e.Register("Owner")
	e.CreateTenant(owner, "acme")
	e.CreateProject(owner.Caller("acme"), "Rocket")
	conn := dialRaw(t, e)
	initialise(t, conn, initPayload(owner.Token, "acme"))
	return conn
}

// sendHeldDeferredQuery locks the activity log's table (PostgreSQL), then
// sends, as id, a query whose deferred fragment reads it (Project.activity)
// and so waits until unlock is called.
func sendHeldDeferredQuery(ctx context.Context, t *testing.T, e *graphtest.Env, conn *websocket.Conn, id string) (unlock func()) {
	t.Helper()
	lock, err := e.DB.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(ctx, `LOCK TABLE activity_logs IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	const query = `{ projects(first: 1) { edges { node { id ... @defer { activity(first: 1) { totalCount } } } } } }`
	if err := wsjson.Write(ctx, conn, map[string]any{"type": "subscribe", "id": id, "payload": map[string]any{"query": query}}); err != nil {
		t.Fatal(err)
	}
	return func() { _ = lock.Rollback() }
}

// waiting counts the goroutines inside a websocket operation's next
// response.
func waiting() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "(*wsOperation).next(") {
			n++
		}
	}
	return n
}
