package graph_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"tenantgraph/ent"
	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/pubsub"
	"tenantgraph/internal/server"
	"tenantgraph/internal/tenancy"
)

// How live-feed connections end without harming anyone else: a stuck
// subscriber, server shutdown, and no goroutines left behind (helpers in
// feed_test.go).

// notifyMany makes n notifications for each of the recipients of a comment
// on task (its creator and assignee), in operations of up to 10 comments,
// and returns the slowest operation's duration.
func notifyMany(t *testing.T, e *graphtest.Env, c graphtest.Caller, task string, n int) time.Duration {
	t.Helper()
	var slowest time.Duration
	for done := 0; done < n; {
		k := min(10, n-done)
		var q strings.Builder
		q.WriteString("mutation($t: ID!) {")
		for i := range k {
			fmt.Fprintf(&q, " c%d: createComment(input: {taskID: $t, body: %q}) { id }", i, strings.Repeat("x", 280))
		}
		q.WriteString(" }")
		start := time.Now()
		e.MustDo(c, q.String(), map[string]any{"t": task}, nil)
		slowest = max(slowest, time.Since(start))
		done += k
	}
	return slowest
}

// stuckDialOptions connects through a socket with a tiny receive buffer, so
// that a client that does not read soon fills the TCP window and the
// server's writes to it block, as with a real client that stopped reading.
func stuckDialOptions() *websocket.DialOptions {
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = setReceiveBuffer(fd, 2048)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	return &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}}
}

// heavyFeedQuery asks for a lot with each notification: a stuck client's
// few unread ones fill the TCP buffers (megabytes on loopback) and the
// server's writes to it block, as they would with a client that stopped
// reading long ago.
const heavyFeedQuery = `subscription { notificationAdded { id project { tasks(first: 20) { edges { node { description } } } } } }`

// heavyTask creates, as c, a project with 20 tasks of 10,000-character
// descriptions for heavyFeedQuery, and in it the task to comment on, assigned
// to assigneeID (when not empty); it returns that task's ID.
func heavyTask(t *testing.T, e *graphtest.Env, c graphtest.Caller, assigneeID string) string {
	t.Helper()
	project := e.CreateProject(c, "Heavy")
	for i := range 20 {
		e.MustDo(c, `mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }`,
			map[string]any{"i": map[string]any{"projectID": project, "title": fmt.Sprint("Bulk ", i), "description": strings.Repeat("d", 10000)}}, nil)
	}
	if assigneeID == "" {
		return e.CreateTask(c, project, "Talk")
	}
	return createAssignedTask(t, e, c, project, "Talk", assigneeID)
}

func TestFeedStuckSubscriberBlocksNoOne(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, stuck, active := e.Register("Owner"), e.Register("Stuck"), e.Register("Active")
		e.CreateTenant(owner, "acme")
		e.AddMember(owner, "acme", stuck, "MEMBER")
		e.AddMember(owner, "acme", active, "MEMBER")
		// Created by the stuck user and assigned to the active one: every
		// comment by the owner notifies both.
		task := heavyTask(t, e, stuck.Caller("acme"), active.ID)

		// Subscribed and never read.
		stuckConn := dialFeed(t, wsURL(e.URL), initPayload(stuck.Token, "acme"), heavyFeedQuery, stuckDialOptions())
		waitSubscribers(t, e, 1, 5*time.Second)
		feed := subscribe(t, e, active, "acme")

		// Notify until the broker gives up on the stuck subscriber.
		var received []pushed
		sent, slowest := 0, time.Duration(0)
		for subscribers(t, e) == 2 {
			if sent >= 1000 {
				t.Fatalf("the broker still holds the stuck subscriber after %d notifications", sent)
			}
			slowest = max(slowest, notifyMany(t, e, owner.Caller("acme"), task, 20))
			sent += 20
			for _, m := range feed.pending() {
				received = append(received, decodePushed(t, m))
			}
		}
		t.Logf("stuck subscriber dropped after %d notifications; slowest mutation %s", sent, slowest)
		if sent <= pubsub.DefaultBuffer {
			t.Errorf("dropped after %d notifications, want more than the buffer of %d", sent, pubsub.DefaultBuffer)
		}
		if slowest > 2*time.Second {
			t.Errorf("slowest mutation: got %s, want well under 2s", slowest)
		}

		// The active subscriber got every one of its own, once each.
		for len(received) < sent {
			received = append(received, feed.next(t, 5*time.Second))
		}
		seen := map[string]bool{}
		for _, p := range received {
			if seen[p.ID] || p.Kind != "COMMENT_ADDED" {
				t.Fatalf("active subscriber: got %+v again or of the wrong kind", p)
			}
			seen[p.ID] = true
		}
		silence(t, 300*time.Millisecond, map[string]*feedClient{"active subscriber": feed})

		// Once the stuck client reads again, it finds what fitted in its
		// buffers and then the connection closed with 1013 Try Again
		// Later, never "complete": graphql-ws takes a "complete" for a
		// stream that ended as it should and would not subscribe again,
		// whereas after a 1013 it reconnects and does. (Had the close
		// frame found no room in the stuck client's buffers within its
		// timeout, the connection is cut without it.)
		stuckConn.SetReadLimit(1 << 20)
		late := read(stuckConn, 4096)
		nexts := 0
		for {
			select {
			case m, ok := <-late.msgs:
				switch {
				case !ok:
					status := websocket.CloseStatus(late.err)
					if status != websocket.StatusTryAgainLater && (status != -1 || !errors.Is(late.err, io.EOF) && !errors.Is(late.err, io.ErrUnexpectedEOF)) {
						t.Fatalf("stuck client: the connection ended with %v, want 1013 Try Again Later", late.err)
					}
					t.Logf("stuck client: %d notifications, then the connection closed (%v)", nexts, late.err)
				case m.Type == "next":
					nexts++
					continue
				default:
					t.Fatalf("stuck client: got %q %s", m.Type, m.Payload)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("stuck client: %d notifications and neither complete nor a close within 5s", nexts)
			}
			break
		}
		if nexts >= sent {
			t.Errorf("stuck client: got all %d notifications, want the subscription cut short", nexts)
		}
	})
}

func TestFeedLeavesNoGoroutines(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member, project := feedWorld(e)
		// Warm up what lives as long as the server (idle HTTP connections,
		// pools) before counting.
		warm := subscribe(t, e, member, "acme")
		createAssignedTask(t, e, owner.Caller("acme"), project, "Warm-up", member.ID)
		warm.next(t, time.Second)
		warm.conn.Close(websocket.StatusNormalClosure, "")
		waitSubscribers(t, e, 0, 5*time.Second)
		before := settledGoroutines(0, 0, 3*time.Second)

		const n = 25
		feeds := make([]*feedClient, n)
		for i := range feeds {
			feeds[i] = subscribe(t, e, member, "acme")
		}
		createAssignedTask(t, e, owner.Caller("acme"), project, "Fan-out", member.ID)
		for _, f := range feeds {
			f.next(t, 2*time.Second)
		}
		during := runtime.NumGoroutine()
		// Waiting, each connection holds one goroutine in the server (its
		// read loop) and its subscription none; the test's client holds one
		// more per connection (read).
		idle := settledGoroutines(before+2*n, 2, 5*time.Second)
		if idle > before+2*n+2 {
			t.Errorf("goroutines: got %d with %d idle subscriptions, want at most %d (%d before)\n%s", idle, n, before+2*n+2, before, goroutineDump())
		}
		for i, f := range feeds {
			if i%2 == 0 {
				f.conn.Close(websocket.StatusNormalClosure, "") // a polite client
			} else {
				f.conn.CloseNow() // a client that vanishes
			}
		}
		waitSubscribers(t, e, 0, 5*time.Second)
		after := settledGoroutines(before, 2, 10*time.Second)
		t.Logf("goroutines: %d before, %d with %d subscriptions (%d idle), %d after", before, during, n, idle, after)
		if after > before+2 {
			t.Errorf("goroutines: got %d after closing, want at most %d (%d before)\n%s", after, before+2, before, goroutineDump())
		}
	})
}

// settledGoroutines polls the goroutine count until it is at most want+slack
// or stops changing, and returns it.
func settledGoroutines(want, slack int, within time.Duration) int {
	deadline := time.Now().Add(within)
	last := runtime.NumGoroutine()
	for stable := 0; time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		n := runtime.NumGoroutine()
		if want > 0 && n <= want+slack {
			return n
		}
		if n == last {
			stable++
		} else {
			stable = 0
		}
		if want == 0 && stable >= 5 {
			return n
		}
		last = n
	}
	return last
}

func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

func TestFeedEndsOnServerShutdown(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member, project := feedWorld(e)
		// A second instance, run the way cmd/server runs it, so that its
		// shutdown can be started.
		d := startDrainable(t, e, 2*time.Second)
		feeds := make([]*feedClient, 3)
		for i := range feeds {
			feeds[i] = read(dialFeed(t, d.url, initPayload(member.Token, "acme"), feedQuery, nil), 16)
		}
		waitSubscribers(t, e, len(feeds), 5*time.Second)
		createAssignedTask(t, e, owner.Caller("acme"), project, "Live", member.ID)
		for _, f := range feeds {
			f.next(t, time.Second)
		}

		start := time.Now()
		d.stop()
		if err := d.served(t, 5*time.Second); err != nil {
			t.Errorf("serve: got %v, want nil", err)
		}
		for i, f := range feeds {
			status, ok := f.closed(3 * time.Second)
			if !ok {
				t.Errorf("connection %d: still open 3s after shutdown", i)
				continue
			}
			t.Logf("connection %d closed %s after shutdown began, status %d", i, time.Since(start), status)
			// 1001 Going Away: the graphql-ws client reconnects, to
			// another instance.
			if status != websocket.StatusGoingAway {
				t.Errorf("connection %d: close code %d, want %d", i, status, websocket.StatusGoingAway)
			}
		}
		waitSubscribers(t, e, 0, 3*time.Second)
	})
}

// What PostgreSQL notifies while an instance's LISTEN connection is down
// never reaches that instance. Once the connection is back, its live
// subscriptions are dropped rather than left open with a silent gap: each
// websocket drains (a mutation running on it is answered first, so that
// graphql-ws does not send it again once reconnected) and is closed with
// 1013 Try Again Later, without "complete" for the feed, after which
// graphql-ws reconnects, subscribes again and (as the README asks of
// clients) reads the notifications list for what it missed; the new
// stream is live.
func TestFeedDroppedWhenTheListenerReconnects(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		if e.Dialect != dialect.Postgres {
			t.Skip("the SQLite default has no LISTEN connection to lose")
		}
		owner, member, project := feedWorld(e)
		feed := subscribe(t, e, member, "acme")
		createAssignedTask(t, e, owner.Caller("acme"), project, "Before", member.ID)
		feed.next(t, 5*time.Second)

		// A mutation on the same websocket, held at its first task write.
		entered, release := make(chan struct{}), make(chan struct{})
		var held atomic.Bool
		e.DB.Client.Use(func(next ent.Mutator) ent.Mutator {
			return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
				if m.Type() == "Task" && held.CompareAndSwap(false, true) {
					close(entered)
					<-release
				}
				return next.Mutate(ctx, m)
			})
		})
		if err := wsjson.Write(context.Background(), feed.conn, map[string]any{"id": "create", "type": "subscribe", "payload": map[string]any{
			"query":     `mutation($i: CreateTaskInput!) { createTask(input: $i) { title } }`,
			"variables": map[string]any{"i": map[string]any{"projectID": project, "title": "Meanwhile"}},
		}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-entered:
		case <-time.After(5 * time.Second):
			t.Fatal("the mutation did not reach its write within 5s")
		}

		graphtest.CutListener(t, e.DB.SQL)
		waitSubscribers(t, e, 0, 15*time.Second) // dropped
		time.Sleep(200 * time.Millisecond)
		if m := feed.pending(); len(m) != 0 {
			t.Fatalf("while the mutation runs: got %+v, want nothing (no complete for the feed) and the connection open", m)
		}
		close(release)

		var got []string
		for {
			select {
			case m, ok := <-feed.msgs:
				if ok {
					got = append(got, m.ID+" "+m.Type)
					continue
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the connection is still open 10s after the mutation was let go; got %v", got)
			}
			break
		}
		if want := []string{"create next", "create complete"}; !slices.Equal(got, want) {
			t.Errorf("messages before the close: got %v, want %v", got, want)
		}
		if status := websocket.CloseStatus(feed.err); status != websocket.StatusTryAgainLater {
			t.Fatalf("close: %v, want %d (1013: graphql-ws reconnects and subscribes again)", feed.err, websocket.StatusTryAgainLater)
		}

		again := subscribe(t, e, member, "acme")
		createAssignedTask(t, e, owner.Caller("acme"), project, "After", member.ID)
		if p := again.next(t, 5*time.Second); p.Kind != "TASK_ASSIGNED" {
			t.Errorf("after subscribing again: got %+v, want the assignment", p)
		}
	})
}

func TestFeedDisconnectsAStuckClient(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, stuck := e.Register("Owner"), e.Register("Stuck")
		e.CreateTenant(owner, "acme")
		e.AddMember(owner, "acme", stuck, "MEMBER")
		task := heavyTask(t, e, stuck.Caller("acme"), "")
		// The same server with a short write timeout, to see it act.
		h := graph.NewHandler(graph.Deps{Client: e.DB.Client, Sessions: tenancy.NewResolver(e.Tokens), Logger: e.Log,
			Notifier: e.Notifier, Broker: e.Broker, WebsocketWriteTimeout: time.Second})
		srv := httptest.NewServer(server.Handler(server.Config{GraphQL: h, DB: e.DB, Logger: e.Log}))
		defer srv.Close()
		notifyMany(t, e, owner.Caller("acme"), task, 10) // warm up the HTTP client before counting
		before := settledGoroutines(0, 0, 3*time.Second)

		conn := dialFeed(t, wsURL(srv.URL+"/graphql"), initPayload(stuck.Token, "acme"), heavyFeedQuery, stuckDialOptions())
		waitSubscribers(t, e, 1, 5*time.Second)
		sent := 0
		for subscribers(t, e) == 1 {
			if sent >= 1000 {
				t.Fatalf("the broker still holds the stuck subscriber after %d notifications", sent)
			}
			notifyMany(t, e, owner.Caller("acme"), task, 20)
			sent += 20
		}
		// Its writes block. The client stays stuck for longer than the
		// write timeout (the blocked write began before the broker dropped
		// it): the server gives up on the connection and nothing of it
		// remains, while the client still has not read a byte.
		time.Sleep(1500 * time.Millisecond)
		after := settledGoroutines(before, 2, 6*time.Second)
		if after > before+2 {
			t.Fatalf("goroutines: got %d with a stuck client past the write timeout, want at most %d (%d before)\n%s", after, before+2, before, goroutineDump())
		}
		conn.SetReadLimit(1 << 20)
		late := read(conn, 4096)
		status, ok := late.closed(5 * time.Second)
		if !ok {
			t.Fatalf("the stuck client's connection is still open")
		}
		t.Logf("after %d notifications, the stuck client was disconnected (status %d, %v)", sent, status, late.err)
	})
}

// When the broker closes (the server stops, and cmd/server closes it once
// the HTTP server has shut down), a live feed's connection is closed with
// 1001 and its stream is not completed: graphql-ws takes a subscription
// the server completed for finished and would not subscribe again after
// it reconnects, to another instance. The server's own shutdown closes the
// connections with 1001 too, but from a goroutine of net/http's, which
// the broker's close could overtake.
func TestFeedOfAClosedBrokerGoesAwayWithoutComplete(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		_, member, _ := feedWorld(e)
		feeds := make([]*feedClient, 3)
		for i := range feeds {
			feeds[i] = read(dialFeed(t, wsURL(e.Server.URL+"/graphql"), initPayload(member.Token, "acme"), feedQuery, nil), 16)
		}
		waitSubscribers(t, e, len(feeds), 5*time.Second)
		if err := e.Broker.Close(); err != nil {
			t.Fatal(err)
		}
		for i, f := range feeds {
			timeout := time.After(5 * time.Second)
		reading:
			for {
				select {
				case m, ok := <-f.msgs:
					if !ok {
						break reading
					}
					t.Errorf("connection %d: got a %q message %s, want none before the close", i, m.Type, m.Payload)
				case <-timeout:
					t.Fatalf("connection %d: still open 5s after the broker closed", i)
				}
			}
			if status := websocket.CloseStatus(f.err); status != websocket.StatusGoingAway {
				t.Errorf("connection %d: close code %d, want %d", i, status, websocket.StatusGoingAway)
			}
		}
	})
}
