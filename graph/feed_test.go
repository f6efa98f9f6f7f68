package graph_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"tenantgraph/graph/graphtest"
)

// The live feed (notificationAdded over graphql-transport-ws) end to end,
// with a real websocket client: who receives what, when and how often (here);
// who may connect and until when (feed_access_test.go); and how connections
// end (stuck clients, server shutdown) without leaving goroutines behind
// (feed_lifecycle_test.go). The helpers below serve all three.

// feedQuery is the contract's NotificationAdded subscription.
const feedQuery = `subscription NotificationAdded {
  notificationAdded { id kind title body read createdAt project { id } task { id } } }`

// pushed is one notificationAdded event.
type pushed struct {
	ID, Kind, Title, Body string
	Read                  bool
	Project, Task         *struct{ ID string }
}

// feedClient is a graphql-transport-ws connection subscribed to
// notificationAdded, read in the background so that a test can wait for a
// message, or for silence, with a bound.
type feedClient struct {
	conn *websocket.Conn
	msgs chan wsMessage // what the server sent, in order; closed with the connection
	err  error          // why reading stopped; written before msgs is closed
}

// wsURL is the websocket address of a GraphQL endpoint.
func wsURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") }

// initPayload is a connection_init payload for a token in a tenant.
func initPayload(token, slug string) map[string]any {
	return map[string]any{"Authorization": "Bearer " + token, "X-Tenant-Slug": slug}
}

// feedWorld is what most feed tests work in: the tenant "acme" with an
// OWNER, a MEMBER and a project "Rocket" (its ID).
func feedWorld(e *graphtest.Env) (owner, member graphtest.User, project string) {
	owner, member = e.Register("Owner"), e.Register("Member")
	e.CreateTenant(owner, "acme")
	e.AddMember(owner, "acme", member, "MEMBER")
	return owner, member, e.CreateProject(owner.Caller("acme"), "Rocket")
}

// dialFeed opens a connection to url, sends connection_init and waits for
// the ack, then subscribes with query (the feed). It does not start
// reading: see read.
func dialFeed(t *testing.T, url string, payload map[string]any, query string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	return dialFeedWith(t, url, payload, query, nil, opts)
}

// dialFeedWith is dialFeed with the subscription's variables (nil: none).
func dialFeedWith(t *testing.T, url string, payload map[string]any, query string, vars map[string]any, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	opts.Subprotocols = []string{"graphql-transport-ws"}
	conn, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	if err := wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": payload}); err != nil {
		t.Fatalf("connection_init: %v", err)
	}
	var ack wsMessage
	if err := wsjson.Read(ctx, conn, &ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("got %+v %v, want connection_ack", ack, err)
	}
	request := map[string]any{"query": query}
	if vars != nil {
		request["variables"] = vars
	}
	if err := wsjson.Write(ctx, conn, map[string]any{"id": "feed", "type": "subscribe", "payload": request}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return conn
}

// read starts reading conn in the background.
func read(conn *websocket.Conn, buffer int) *feedClient {
	c := &feedClient{conn: conn, msgs: make(chan wsMessage, buffer)}
	go func() {
		defer close(c.msgs)
		for {
			var m wsMessage
			if err := wsjson.Read(context.Background(), conn, &m); err != nil {
				c.err = err
				return
			}
			if m.Type == "ping" {
				_ = wsjson.Write(context.Background(), conn, map[string]any{"type": "pong"})
				continue
			}
			c.msgs <- m
		}
	}()
	return c
}

// subscribers counts the open subscriptions of an Env's broker (both
// brokers have the method).
func subscribers(t *testing.T, e *graphtest.Env) int {
	t.Helper()
	b, ok := e.Broker.(interface{ Subscribers() int })
	if !ok {
		t.Fatalf("broker %T cannot count its subscribers", e.Broker)
	}
	return b.Subscribers()
}

// waitSubscribers waits until the broker of e has want subscriptions.
func waitSubscribers(t *testing.T, e *graphtest.Env, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := subscribers(t, e)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker subscribers: got %d, want %d within %s", got, want, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// subscribe connects u to e's feed in the tenant slug and returns once the
// subscription is registered with the broker, so that no event published
// afterwards can be missed.
func subscribe(t *testing.T, e *graphtest.Env, u graphtest.User, slug string) *feedClient {
	t.Helper()
	n := subscribers(t, e)
	c := read(dialFeed(t, wsURL(e.URL), initPayload(u.Token, slug), feedQuery, nil), 256)
	waitSubscribers(t, e, n+1, 5*time.Second)
	return c
}

// next returns the next notification, failing unless it comes within d.
func (c *feedClient) next(t *testing.T, d time.Duration) pushed {
	t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			t.Fatalf("connection closed (%v), want a notification", c.err)
		}
		return decodePushed(t, m)
	case <-time.After(d):
		t.Fatalf("no notification within %s", d)
	}
	return pushed{}
}

func decodePushed(t *testing.T, m wsMessage) pushed {
	t.Helper()
	if m.Type != "next" {
		t.Fatalf("got a %q message %s, want next", m.Type, m.Payload)
	}
	var out struct {
		Data   struct{ NotificationAdded pushed }
		Errors []graphtest.Error
	}
	if err := json.Unmarshal(m.Payload, &out); err != nil {
		t.Fatalf("decoding %s: %v", m.Payload, err)
	}
	if len(out.Errors) > 0 {
		t.Fatalf("got errors %+v, want a notification", out.Errors)
	}
	return out.Data.NotificationAdded
}

// pending returns what the server sent that was not read yet, without waiting.
func (c *feedClient) pending() []wsMessage {
	var out []wsMessage
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return out
			}
			out = append(out, m)
		default:
			return out
		}
	}
}

// closed waits up to d for the connection to close, skipping messages, and
// returns the close status (-1 when it was not a close frame) and whether it
// closed at all.
func (c *feedClient) closed(d time.Duration) (websocket.StatusCode, bool) {
	timeout := time.After(d)
	for {
		select {
		case _, ok := <-c.msgs:
			if !ok {
				return websocket.CloseStatus(c.err), true
			}
		case <-timeout:
			return 0, false
		}
	}
}

// silence waits d, then fails for every client that received anything.
func silence(t *testing.T, d time.Duration, clients map[string]*feedClient) {
	t.Helper()
	time.Sleep(d)
	for name, c := range clients {
		for _, m := range c.pending() {
			t.Errorf("%s: got a %q message %s, want nothing", name, m.Type, m.Payload)
		}
	}
}

// createAssignedTask creates a task assigned to assigneeID (which notifies
// the assignee) and returns its ID.
func createAssignedTask(t *testing.T, e *graphtest.Env, c graphtest.Caller, projectID, title, assigneeID string) string {
	t.Helper()
	var out struct{ CreateTask struct{ ID string } }
	e.MustDo(c, `mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }`,
		map[string]any{"i": map[string]any{"projectID": projectID, "title": title, "assigneeID": assigneeID}}, &out)
	return out.CreateTask.ID
}

// notificationIDs lists the caller's notifications in the tenant, newest first.
func notificationIDs(t *testing.T, e *graphtest.Env, c graphtest.Caller) []string {
	t.Helper()
	var out struct {
		Notifications struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	e.MustDo(c, `{ notifications(first: 100) { edges { node { id } } } }`, nil, &out)
	ids := make([]string, len(out.Notifications.Edges))
	for i, edge := range out.Notifications.Edges {
		ids[i] = edge.Node.ID
	}
	return ids
}

func TestFeedReachesOnlyTheRecipient(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, assignee, colleague := e.Register("Owner"), e.Register("Assignee"), e.Register("Colleague")
		outsider, stranger := e.Register("Outsider"), e.Register("Stranger")
		e.CreateTenant(owner, "acme")
		e.AddMember(owner, "acme", assignee, "MEMBER")
		e.AddMember(owner, "acme", colleague, "MEMBER")
		e.CreateTenant(outsider, "globex") // a member of another tenant on this server
		e.CreateTenant(stranger, "solo")   // shares no tenant with anyone here
		project := e.CreateProject(owner.Caller("acme"), "Launch")

		recipient := subscribe(t, e, assignee, "acme")
		silent := map[string]*feedClient{
			"another member of the tenant": subscribe(t, e, colleague, "acme"),
			"the actor":                    subscribe(t, e, owner, "acme"),
			"a member of another tenant":   subscribe(t, e, outsider, "globex"),
			"a user who shares no tenant":  subscribe(t, e, stranger, "solo"),
		}

		start := time.Now()
		task := createAssignedTask(t, e, owner.Caller("acme"), project, "Write the plan", assignee.ID)
		got := recipient.next(t, time.Second)
		latency := time.Since(start)
		t.Logf("delivered %s after the mutation started", latency)
		if latency > time.Second {
			t.Errorf("latency: got %s, want under 1s", latency)
		}
		if got.Kind != "TASK_ASSIGNED" || got.Read || got.Task == nil || got.Task.ID != task || got.Project == nil || got.Project.ID != project {
			t.Errorf("pushed: got %+v, want an unread TASK_ASSIGNED about task %s in project %s", got, task, project)
		}
		if ids := notificationIDs(t, e, assignee.Caller("acme")); len(ids) == 0 || ids[0] != got.ID {
			t.Errorf("pushed ID %s: got the list %v, want it first", got.ID, ids)
		}
		silence(t, 300*time.Millisecond, silent)
		silence(t, 0, map[string]*feedClient{"the recipient, after its one notification": recipient})
	})
}

func TestFeedStaysInTheConnectionsTenant(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		acmeOwner, globexOwner, both := e.Register("Alice"), e.Register("Gina"), e.Register("Dual")
		e.CreateTenant(acmeOwner, "acme")
		globexID := e.CreateTenant(globexOwner, "globex")
		e.AddMember(acmeOwner, "acme", both, "MEMBER")
		e.AddMember(globexOwner, "globex", both, "MEMBER")
		acmeProject := e.CreateProject(acmeOwner.Caller("acme"), "Anvil")
		globexProject := e.CreateProject(globexOwner.Caller("globex"), "Gears")

		inAcme := subscribe(t, e, both, "acme")
		// The other tenant, addressed by ID rather than slug.
		n := subscribers(t, e)
		inGlobex := read(dialFeed(t, wsURL(e.URL), map[string]any{"Authorization": "Bearer " + both.Token, "X-Tenant-ID": globexID}, feedQuery, nil), 16)
		waitSubscribers(t, e, n+1, 5*time.Second)

		// Tenant B first: had it leaked into the tenant A connection, it
		// would arrive there before tenant A's own.
		globexTask := createAssignedTask(t, e, globexOwner.Caller("globex"), globexProject, "Grease", both.ID)
		acmeTask := createAssignedTask(t, e, acmeOwner.Caller("acme"), acmeProject, "Anneal", both.ID)
		if got := inAcme.next(t, time.Second); got.Task == nil || got.Task.ID != acmeTask {
			t.Errorf("tenant A connection: got %+v, want the notification about task %s", got, acmeTask)
		}
		if got := inGlobex.next(t, time.Second); got.Task == nil || got.Task.ID != globexTask {
			t.Errorf("tenant B connection: got %+v, want the notification about task %s", got, globexTask)
		}
		silence(t, 300*time.Millisecond, map[string]*feedClient{"tenant A connection": inAcme, "tenant B connection": inGlobex})
	})
}

func TestFeedDeliversEachNotificationOnce(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, manager, member := e.Register("Owner"), e.Register("Manager"), e.Register("Member")
		e.CreateTenant(owner, "acme")
		e.AddMember(owner, "acme", manager, "MANAGER")
		e.AddMember(owner, "acme", member, "MEMBER")
		o, m, b := owner.Caller("acme"), manager.Caller("acme"), member.Caller("acme")
		before := len(notificationIDs(t, e, b))
		project := e.CreateProject(b, "Rocket")
		own := e.CreateTask(b, project, "Fuel")

		feed := subscribe(t, e, member, "acme")
		createAssignedTask(t, e, o, project, "Paint", member.ID) // TASK_ASSIGNED
		e.CreateComment(o, own, "Which fuel?")                   // COMMENT_ADDED
		e.Transition(b, project, "SUBMITTED")                    // the member acts: nothing for them
		e.Transition(m, project, "APPROVED")                     // PROJECT_TRANSITIONED
		// Two notifications committed by one operation.
		e.MustDo(o, `mutation($t: ID!) { a: createComment(input: {taskID: $t, body: "one"}) { id } b: createComment(input: {taskID: $t, body: "two"}) { id } }`,
			map[string]any{"t": own}, nil)

		ids := notificationIDs(t, e, b)
		want := ids[:len(ids)-before] // the ones written since subscribing
		if len(want) != 5 {
			t.Fatalf("notifications written: got %d, want 5", len(want))
		}
		got := map[string]int{}
		for range want {
			got[feed.next(t, 2*time.Second).ID]++
		}
		silence(t, 300*time.Millisecond, map[string]*feedClient{"after the last one": feed})
		for _, id := range want {
			if got[id] != 1 {
				t.Errorf("notification %s: pushed %d times, want once", id, got[id])
			}
		}
	})
}

// A burst of notifications reaches the subscriber in the order they were
// committed, each once: each event wakes the subscription, and only one
// goroutine at a time sends its events (websocket_stream.go).
func TestFeedKeepsOrderInABurst(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member := e.Register("Owner"), e.Register("Member")
		e.CreateTenant(owner, "acme")
		e.AddMember(owner, "acme", member, "MEMBER")
		b := member.Caller("acme")
		own := e.CreateTask(b, e.CreateProject(b, "Rocket"), "Fuel")
		before := len(notificationIDs(t, e, b))
		feed := subscribe(t, e, member, "acme")
		const n = 60
		notifyMany(t, e, owner.Caller("acme"), own, n) // comments on the member's task
		ids := notificationIDs(t, e, b)                // newest first
		if len(ids)-before != n {
			t.Fatalf("notifications written: got %d, want %d", len(ids)-before, n)
		}
		for i := range n {
			got, want := feed.next(t, 5*time.Second).ID, ids[n-1-i]
			if got != want {
				t.Fatalf("push %d: got notification %s, want %s (commit order)", i, got, want)
			}
		}
		silence(t, 300*time.Millisecond, map[string]*feedClient{"after the burst": feed})
	})
}

func TestFeedPushesOnlyAfterCommit(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member, project := feedWorld(e)
		feed := subscribe(t, e, member, "acme")

		// The first field writes a task and its notification; the second
		// fails, so the operation rolls back and no one may hear of it.
		r := e.Do(owner.Caller("acme"), `mutation($p: ID!, $a: ID!) {
			ok: createTask(input: {projectID: $p, title: "Written", assigneeID: $a}) { id }
			bad: createTask(input: {projectID: "bm90LWFuLWlk", title: "Refused"}) { id } }`,
			map[string]any{"p": project, "a": member.ID})
		if len(r.Errors) == 0 {
			t.Fatalf("got no error, want the second field to fail")
		}
		silence(t, 500*time.Millisecond, map[string]*feedClient{"after a rolled-back mutation": feed})
		if ids := notificationIDs(t, e, member.Caller("acme")); len(ids) != 1 {
			t.Errorf("notifications: got %d, want only MEMBER_ADDED", len(ids))
		}

		// The next committed one is the first thing the feed carries.
		task := createAssignedTask(t, e, owner.Caller("acme"), project, "Committed", member.ID)
		if got := feed.next(t, time.Second); got.Task == nil || got.Task.ID != task {
			t.Errorf("got %+v, want the committed task %s", got, task)
		}
	})
}
