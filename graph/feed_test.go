package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/auth"
	"tenantgraph/internal/globalid"
	"tenantgraph/internal/pubsub"
	"tenantgraph/internal/server"
	"tenantgraph/internal/tenancy"
)

// The live feed (notificationAdded over graphql-transport-ws) end to end,
// with a real websocket client: who receives what, when and how often; who
// may connect; and how connections end (token expiry, stuck clients, server
// shutdown) without leaving goroutines behind.

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

// dialFeed opens a connection to url, sends connection_init and waits for
// the ack, then subscribes with query (the feed). It does not start
// reading: see read.
func dialFeed(t *testing.T, url string, payload map[string]any, query string, opts *websocket.DialOptions) *websocket.Conn {
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
	err = wsjson.Write(ctx, conn, map[string]any{"id": "feed", "type": "subscribe", "payload": map[string]any{"query": query}})
	if err != nil {
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

func TestFeedPushesOnlyAfterCommit(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member := e.Register("Owner"), e.Register("Member")
		e.CreateTenant(owner, "acme")
		e.AddMember(owner, "acme", member, "MEMBER")
		project := e.CreateProject(owner.Caller("acme"), "Rocket")
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

// forgedToken returns a token for u signed with the test server's secret
// but otherwise as configured by cfg (zero fields: the server's settings).
func forgedToken(t *testing.T, u graphtest.User, cfg auth.TokenConfig) string {
	t.Helper()
	id, err := globalid.Decode(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Secret = graphtest.Secret
	if cfg.Issuer == "" {
		cfg.Issuer = graphtest.Issuer
	}
	if cfg.Audience == "" {
		cfg.Audience = graphtest.Audience
	}
	if cfg.TTL == 0 {
		cfg.TTL = time.Hour
	}
	tokens, err := auth.NewTokens(cfg)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := tokens.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func TestFeedRefusesBadCredentials(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, outsider := e.Register("Owner"), e.Register("Outsider")
		e.CreateTenant(owner, "acme")
		longAgo := func() time.Time { return time.Now().Add(-2 * time.Hour) }
		cases := []struct {
			name    string
			payload map[string]any
		}{
			{"missing token", map[string]any{"X-Tenant-Slug": "acme"}},
			{"not a bearer token", map[string]any{"Authorization": owner.Token, "X-Tenant-Slug": "acme"}},
			{"bad token", initPayload("not-a-token", "acme")},
			{"bad signature", initPayload(owner.Token[:len(owner.Token)-4]+"AAAA", "acme")},
			{"expired token", initPayload(forgedToken(t, owner, auth.TokenConfig{Now: longAgo}), "acme")},
			{"wrong audience", initPayload(forgedToken(t, owner, auth.TokenConfig{Audience: "another-api"}), "acme")},
			{"wrong issuer", initPayload(forgedToken(t, owner, auth.TokenConfig{Issuer: "someone-else"}), "acme")},
			{"non-member", initPayload(outsider.Token, "acme")},
			{"unknown tenant", initPayload(owner.Token, "nowhere")},
			{"unknown tenant ID", map[string]any{"Authorization": "Bearer " + owner.Token, "X-Tenant-ID": globalid.Encode(999999)}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				conn, _, err := websocket.Dial(ctx, wsURL(e.URL), &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				defer conn.CloseNow()
				if err := wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": tc.payload}); err != nil {
					t.Fatal(err)
				}
				for {
					var m wsMessage
					err := wsjson.Read(ctx, conn, &m)
					if err == nil {
						if m.Type == "connection_ack" {
							t.Fatalf("got connection_ack, want the socket closed with 4403")
						}
						continue // connection_error comes before the close
					}
					if got := websocket.CloseStatus(err); got != 4403 {
						t.Errorf("close status: got %d (%v), want 4403", got, err)
					}
					return
				}
			})
		}
	})
}

func TestFeedChecksOrigin(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		cases := []struct {
			origin string
			want   int
		}{
			{"https://evil.example", http.StatusForbidden},
			{"http://127.0.0.1:1", http.StatusForbidden},  // same host, another port
			{e.Server.URL, http.StatusSwitchingProtocols}, // same origin
		}
		for _, tc := range cases {
			t.Run(tc.origin, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				conn, resp, err := websocket.Dial(ctx, wsURL(e.URL), &websocket.DialOptions{
					Subprotocols: []string{"graphql-transport-ws"},
					HTTPHeader:   http.Header{"Origin": []string{tc.origin}},
				})
				if err == nil {
					defer conn.CloseNow()
				}
				got := 0
				if resp != nil {
					got = resp.StatusCode
				}
				if got != tc.want {
					t.Errorf("upgrade from %s: got %d (%v), want %d", tc.origin, got, err, tc.want)
				}
			})
		}
	})
}

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

func TestFeedClosesWhenTheTokenExpires(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		id, err := globalid.Decode(owner.ID)
		if err != nil {
			t.Fatal(err)
		}
		tokens, err := auth.NewTokens(auth.TokenConfig{Secret: graphtest.Secret, Issuer: graphtest.Issuer, Audience: graphtest.Audience, TTL: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		token, exp, err := tokens.Issue(id)
		if err != nil {
			t.Fatal(err)
		}
		// The server verifies with 5s of leeway, but the connection lives
		// until the token's own expiry, not a moment longer.
		feed := subscribe(t, e, graphtest.User{ID: owner.ID, Token: token}, "acme")
		status, ok := feed.closed(time.Until(exp) + 3*time.Second)
		closedAt := time.Now()
		if !ok {
			t.Fatalf("still open 3s after the token expired at %s", exp.Format(time.RFC3339))
		}
		if early := exp.Sub(closedAt); early > 100*time.Millisecond {
			t.Errorf("closed %s before the token expired, want at expiry", early)
		}
		t.Logf("closed %s after expiry, status %d", closedAt.Sub(exp), status)
		waitSubscribers(t, e, 0, 2*time.Second)
	})
}

// stuckDialOptions connects through a socket with a tiny receive buffer, so
// that a client that does not read soon fills the TCP window and the
// server's writes to it block, as with a real client that stopped reading.
func stuckDialOptions() *websocket.DialOptions {
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
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
		// buffers and then the end of its subscription.
		stuckConn.SetReadLimit(1 << 20)
		late := read(stuckConn, 4096)
		nexts := 0
		for {
			select {
			case m, ok := <-late.msgs:
				switch {
				case !ok:
					if websocket.CloseStatus(late.err) == -1 && !errors.Is(late.err, io.EOF) && !errors.Is(late.err, io.ErrUnexpectedEOF) {
						t.Fatalf("stuck client: reading failed (%v), want the server's close", late.err)
					}
					t.Logf("stuck client: %d notifications, then the connection closed (%v)", nexts, late.err)
				case m.Type == "next":
					nexts++
					continue
				case m.Type == "complete" || m.Type == "error":
					t.Logf("stuck client: %d notifications, then %s", nexts, m.Type)
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
		owner, member := e.Register("Owner"), e.Register("Member")
		e.CreateTenant(owner, "acme")
		e.AddMember(owner, "acme", member, "MEMBER")
		project := e.CreateProject(owner.Caller("acme"), "Rocket")
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
		for i, f := range feeds {
			if i%2 == 0 {
				f.conn.Close(websocket.StatusNormalClosure, "") // a polite client
			} else {
				f.conn.CloseNow() // a client that vanishes
			}
		}
		waitSubscribers(t, e, 0, 5*time.Second)
		after := settledGoroutines(before, 2, 10*time.Second)
		t.Logf("goroutines: %d before, %d with %d subscriptions, %d after", before, during, n, after)
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
		owner, member := e.Register("Owner"), e.Register("Member")
		e.CreateTenant(owner, "acme")
		e.AddMember(owner, "acme", member, "MEMBER")
		project := e.CreateProject(owner.Caller("acme"), "Rocket")

		// A second HTTP server for the same handler, run the way cmd/server
		// runs it, so that its shutdown can be triggered.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		addr, served := make(chan string, 1), make(chan error, 1)
		go func() {
			served <- server.Serve(ctx, server.Config{Addr: "127.0.0.1:0", GraphQL: e.GraphQL, DB: e.DB, Logger: e.Log},
				2*time.Second, func(a string) { addr <- a })
		}()
		var url string
		select {
		case a := <-addr:
			url = "ws://" + a + "/graphql"
		case err := <-served:
			t.Fatalf("serve: %v", err)
		}
		feeds := make([]*feedClient, 3)
		for i := range feeds {
			feeds[i] = read(dialFeed(t, url, initPayload(member.Token, "acme"), feedQuery, nil), 16)
		}
		waitSubscribers(t, e, len(feeds), 5*time.Second)
		createAssignedTask(t, e, owner.Caller("acme"), project, "Live", member.ID)
		for _, f := range feeds {
			f.next(t, time.Second)
		}

		start := time.Now()
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: got %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("serve: still running 5s after its context ended")
		}
		for i, f := range feeds {
			status, ok := f.closed(3 * time.Second)
			if !ok {
				t.Errorf("connection %d: still open 3s after shutdown", i)
				continue
			}
			t.Logf("connection %d closed %s after shutdown began, status %d", i, time.Since(start), status)
		}
		waitSubscribers(t, e, 0, 3*time.Second)
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
		// Its writes block: the server gives up on the connection after the
		// write timeout and nothing of it remains, while the client still
		// has not read a byte.
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
