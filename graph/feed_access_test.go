package graph_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/auth"
	"tenantgraph/internal/globalid"
	"tenantgraph/internal/pubsub"
)

// Who may open the live feed, and until when: credentials, origins and the
// token's expiry (helpers in feed_test.go).

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
			t.Run(tc.name, func(t *testing.T) { advRefusedSocket(t, e, tc.payload) })
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
		// 4403, which the graphql-ws client retries, asking the application
		// for its connectionParams (a fresh token) again.
		if status != 4403 {
			t.Errorf("close code: got %d, want 4403", status)
		}
		waitSubscribers(t, e, 0, 2*time.Second)
	})
}

// A token past its own expiry, though still within the server's leeway for
// clock skew, is refused at connection_init (4403), not acknowledged and
// then closed at once: graphql-ws counts an acknowledged connection as a
// success and reconnects at once with the same token, which would make a
// loop of connections until the leeway ran out.
func TestWebsocketInitRefusesAnExpiredToken(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		token := forgedToken(t, owner, auth.TokenConfig{TTL: time.Second})
		time.Sleep(2500 * time.Millisecond) // past exp (at most 1s away), within the 5s leeway
		conn := dialRaw(t, e)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": initPayload(token, "acme")}); err != nil {
			t.Fatal(err)
		}
		var m wsMessage
		err := wsjson.Read(ctx, conn, &m)
		if err == nil {
			t.Fatalf("got %s %s, want the connection closed with 4403", m.Type, m.Payload)
		}
		if status := websocket.CloseStatus(err); status != 4403 {
			t.Errorf("close code: got %d (%v), want 4403", status, err)
		}
	})
}

// A websocket's token is verified once, at connection_init (the connection
// keeps the token's user and expiry, not the token), but the caller's role
// is read again for every operation: a MEMBER demoted to VIEWER after
// connecting can no longer create a project over the same socket, and once
// removed can no longer read the tenant.
func TestWebsocketOperationsReadTheRoleAfresh(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member := e.Register("Owner"), e.Register("Member")
		e.CreateTenant(owner, "acme")
		membership := e.AddMember(owner, "acme", member, "MEMBER")
		conn := dialRaw(t, e)
		initialise(t, conn, initPayload(member.Token, "acme"))
		const create = `mutation { createProject(input: {name: "Over the socket"}) { name } }`
		const read = `{ unreadNotificationCount }`
		step := func(id, query, want string) {
			t.Helper()
			if got := wsResult(t, conn, id, query); !strings.Contains(got, want) {
				t.Fatalf("%s: got %s, want %s", id, got, want)
			}
		}
		step("as a member", create, `"name":"Over the socket"`)
		e.MustDo(owner.Caller("acme"), permUpdateRole, map[string]any{"id": membership, "role": "VIEWER"}, nil)
		step("as a viewer: create", create, `"code":"FORBIDDEN"`)
		step("as a viewer: read", read, `"data":{"unreadNotificationCount":`)
		e.MustDo(owner.Caller("acme"), permRemove, map[string]any{"id": membership}, nil)
		step("removed", read, `"code":"FORBIDDEN"`)
	})
}

// wsResult sends query as operation id on conn and returns the payload of
// its next or error message.
func wsResult(t *testing.T, conn *websocket.Conn, id, query string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, conn, map[string]any{"type": "subscribe", "id": id, "payload": map[string]any{"query": query}}); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	for {
		var m wsMessage
		if err := wsjson.Read(ctx, conn, &m); err != nil {
			t.Fatalf("%s: waiting for its result: %v", id, err)
		}
		if m.ID == id && (m.Type == "next" || m.Type == "error") {
			return string(m.Payload)
		}
	}
}

// A query or mutation sent over the websocket is bounded in time as an HTTP
// request is (WebsocketOperationTimeout, REQUEST_TIMEOUT in cmd/server); a
// subscription on the same socket is not. With a bound that has always
// passed, the query fails with the timeout's error and the feed still
// delivers.
func TestWebsocketOperationTimeout(t *testing.T) {
	graphtest.RunWith(t, graphtest.Options{Deps: func(d *graph.Deps) { d.WebsocketOperationTimeout = time.Nanosecond }},
		func(t *testing.T, e *graphtest.Env) {
			owner, member, project := feedWorld(e)
			n := subscribers(t, e)
			conn := dialFeed(t, wsURL(e.URL), initPayload(member.Token, "acme"), feedQuery, nil)
			waitSubscribers(t, e, n+1, 5*time.Second)
			feed := read(conn, 16)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := wsjson.Write(ctx, conn, map[string]any{"id": "q", "type": "subscribe",
				"payload": map[string]any{"query": "{ currentTenant { slug } }"}}); err != nil {
				t.Fatal(err)
			}
			var answer wsMessage
			for answer.ID != "q" {
				select {
				case answer = <-feed.msgs:
				case <-ctx.Done():
					t.Fatal("no answer to the query")
				}
			}
			var out struct {
				Data   *json.RawMessage
				Errors []graphtest.Error
			}
			if err := json.Unmarshal(answer.Payload, &out); err != nil || answer.Type != "next" || len(out.Errors) == 0 ||
				out.Errors[0].Message != "the request timed out" || out.Errors[0].Code() != "INTERNAL_SERVER_ERROR" {
				t.Fatalf("got %s %s, want a next with the timeout's error", answer.Type, answer.Payload)
			}
			if m := <-feed.msgs; m.ID != "q" || m.Type != "complete" {
				t.Fatalf("got %+v, want complete for q", m)
			}
			createAssignedTask(t, e, owner.Caller("acme"), project, "Still live", member.ID)
			if got := feed.next(t, 5*time.Second); got.Kind != "TASK_ASSIGNED" {
				t.Errorf("feed: got %+v, want the TASK_ASSIGNED notification", got)
			}
		})
}

// An open subscription resolves each event with the caller's role as it
// is when the event comes, not as it was when they subscribed: demoted to
// VIEWER, a member's stream no longer reads the OWNER-only activity log
// through a notification's project; no longer a member, their stream ends
// with FORBIDDEN at the next event instead of delivering it.
func TestSubscriptionEventsReadTheRoleAfresh(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, bob := e.Register("Owner"), e.Register("Bob")
		acmeID := e.CreateTenant(owner, "acme")
		membership := e.AddMember(owner, "acme", bob, "OWNER")
		project := e.CreateProject(owner.Caller("acme"), "Secret plan")
		// project { activity } is more than the feed's encoder writes: these
		// events go through the executor, field by field.
		const query = `subscription { notificationAdded { title project { activity(first: 1) { totalCount } } } }`
		n := subscribers(t, e)
		feed := read(dialFeed(t, wsURL(e.URL), initPayload(bob.Token, "acme"), query, nil), 16)
		waitSubscribers(t, e, n+1, 5*time.Second)
		next := func(step string) (typ string, payload string) {
			t.Helper()
			select {
			case m, ok := <-feed.msgs:
				if !ok {
					t.Fatalf("%s: connection closed (%v)", step, feed.err)
				}
				return m.Type, string(m.Payload)
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: no message", step)
			}
			return "", ""
		}

		createAssignedTask(t, e, owner.Caller("acme"), project, "As an owner", bob.ID)
		if typ, got := next("as an OWNER"); typ != "next" || !strings.Contains(got, `"activity":{"totalCount":`) || strings.Contains(got, "errors") {
			t.Fatalf("as an OWNER: got %s %s, want the activity log's count", typ, got)
		}

		e.MustDo(owner.Caller("acme"), permUpdateRole, map[string]any{"id": membership, "role": "VIEWER"}, nil)
		createAssignedTask(t, e, owner.Caller("acme"), project, "As a viewer", bob.ID)
		typ, got := next("as a VIEWER")
		if typ != "next" || !strings.Contains(got, `"title":"`) || strings.Contains(got, `"totalCount"`) ||
			!strings.Contains(got, `"code":"FORBIDDEN"`) || !strings.Contains(got, "yours is VIEWER") {
			t.Fatalf("as a VIEWER: got %s %s, want the notification without the activity log, and FORBIDDEN", typ, got)
		}

		// A removal ends the member's streams (TestRemovedMembersFeedEnds);
		// were that lost (PostgreSQL's NOTIFY does not survive the listener's
		// reconnection), the next event still finds him gone. The membership
		// is deleted here behind the service's back, and a notification
		// written while Bob was a member is delivered after it (its event
		// forged: no row is written for a non-member).
		ids := notificationIDs(t, e, bob.Caller("acme"))
		if err := e.DB.Client.Membership.DeleteOneID(authDecodeID(t, membership)).Exec(obSystem()); err != nil {
			t.Fatal(err)
		}
		if err := e.Broker.Publish(context.Background(), pubsub.Event{TenantID: authDecodeID(t, acmeID),
			UserID: authDecodeID(t, bob.ID), NotificationID: authDecodeID(t, ids[0])}); err != nil {
			t.Fatal(err)
		}
		if typ, got := next("removed"); typ != "next" || strings.Contains(got, `"title"`) ||
			!strings.Contains(got, `"code":"FORBIDDEN"`) || !strings.Contains(got, "no longer a member") {
			t.Fatalf("removed: got %s %s, want FORBIDDEN and no notification", typ, got)
		}
		if typ, got := next("removed, then"); typ != "complete" {
			t.Fatalf("removed, then: got %s %s, want complete", typ, got)
		}
		waitSubscribers(t, e, n, 5*time.Second)
	})
}

// Removing a member ends their live feeds in the tenant at once, on the
// feed encoder's path too (the notification's own fields, which need no
// role): the stream completes, its subscription is released, and nothing
// more reaches it. Their feeds in other tenants go on.
func TestRemovedMembersFeedEnds(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, bob := e.Register("Owner"), e.Register("Bob")
		e.CreateTenant(owner, "acme")
		e.CreateTenant(owner, "globex")
		membership := e.AddMember(owner, "acme", bob, "MEMBER")
		e.AddMember(owner, "globex", bob, "MEMBER")
		n := subscribers(t, e)
		home := subscribe(t, e, bob, "acme")
		elsewhere := subscribe(t, e, bob, "globex")
		waitSubscribers(t, e, n+2, 5*time.Second)

		e.MustDo(owner.Caller("acme"), permRemove, map[string]any{"id": membership}, nil)
		select {
		case m, ok := <-home.msgs:
			if !ok || m.Type != "complete" {
				t.Fatalf("after the removal: got %+v (open %v), want complete", m, ok)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the removed member's feed is still open 5s after the removal")
		}
		waitSubscribers(t, e, n+1, 5*time.Second)

		project := e.CreateProject(owner.Caller("globex"), "Elsewhere")
		createAssignedTask(t, e, owner.Caller("globex"), project, "Still here", bob.ID)
		if got := elsewhere.next(t, 5*time.Second); got.Kind != "TASK_ASSIGNED" {
			t.Errorf("the feed in another tenant: got %+v, want the assignment", got)
		}
	})
}

// A removal that commits between the membership check that lets a
// subscription start and the subscription's registration with the broker
// publishes its revoke to no one: the feed reads the membership again once
// registered, and the stream ends at once. (A broker that runs the removal
// just before it registers the subscription makes the race certain.)
func TestFeedOfAMemberRemovedWhileSubscribingEnds(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			racing := &removingBroker{}
			e := graphtest.NewWithOptions(t, d, graphtest.Options{Deps: func(deps *graph.Deps) {
				racing.Broker = deps.Broker
				deps.Broker = racing
			}})
			owner, bob := e.Register("Owner"), e.Register("Bob")
			e.CreateTenant(owner, "acme")
			membership := e.AddMember(owner, "acme", bob, "MEMBER")
			removed := make(chan struct{})
			remove := func() {
				defer close(removed)
				e.MustDo(owner.Caller("acme"), permRemove, map[string]any{"id": membership}, nil)
			}
			racing.before.Store(&remove)
			n := subscribers(t, e)
			feed := read(dialFeed(t, wsURL(e.URL), initPayload(bob.Token, "acme"), feedQuery, nil), 16)
			<-removed
			select {
			case m, ok := <-feed.msgs:
				if !ok || m.Type != "complete" {
					t.Fatalf("got %+v (open %v), want complete", m, ok)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the feed of a member removed while it started is still open after 5s")
			}
			waitSubscribers(t, e, n, 5*time.Second)
		})
	}
}

// removingBroker runs before, once, as a subscription is about to be
// registered.
type removingBroker struct {
	pubsub.Broker
	before atomic.Pointer[func()]
}

func (b *removingBroker) SubscribeFunc(tenantID, userID int, deliver func(pubsub.Event) bool, end func()) *pubsub.Subscription {
	if f := b.before.Swap(nil); f != nil {
		(*f)()
	}
	return b.Broker.SubscribeFunc(tenantID, userID, deliver, end)
}

// A member removed and added again in one mutation is a member when it
// commits: their feed goes on, and hears that they were added.
func TestMemberRemovedAndAddedInOneMutationKeepsTheirFeed(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, bob := e.Register("Owner"), e.Register("Bob")
		e.CreateTenant(owner, "acme")
		membership := e.AddMember(owner, "acme", bob, "MEMBER")
		feed := subscribe(t, e, bob, "acme")
		e.MustDo(owner.Caller("acme"), `mutation($id: ID!, $i: AddMemberInput!) { removeMember(id: $id) addMember(input: $i) { id } }`,
			map[string]any{"id": membership, "i": map[string]any{"email": bob.Email, "role": "VIEWER"}}, nil)
		if got := feed.next(t, 5*time.Second); got.Kind != "MEMBER_ADDED" {
			t.Errorf("got %+v, want the MEMBER_ADDED notification on the same feed", got)
		}
	})
}

// A subscription whose membership cannot be read again once it is
// registered (the database does not answer) ends with its error, not with
// a bare "complete", which a client takes for a stream that ended as it
// should, and does not subscribe again.
func TestFeedWhoseMembershipCannotBeReadAgainFails(t *testing.T) {
	racing := &removingBroker{}
	e := graphtest.NewWithOptions(t, graphtest.Dialects(t)[0], graphtest.Options{Deps: func(deps *graph.Deps) {
		racing.Broker = deps.Broker
		deps.Broker = racing
	}})
	owner := e.Register("Owner")
	e.CreateTenant(owner, "acme")
	down := func() { _ = e.DB.SQL.Close() }
	racing.before.Store(&down)
	feed := read(dialFeed(t, wsURL(e.URL), initPayload(owner.Token, "acme"), feedQuery, nil), 16)
	select {
	case m, ok := <-feed.msgs:
		// As any failed subscription resolver is answered: its error in a
		// next, then complete.
		if !ok || m.Type != "next" || !strings.Contains(string(m.Payload), `"code":"INTERNAL_SERVER_ERROR"`) {
			t.Fatalf("got %s %s (open %v), want a next with INTERNAL_SERVER_ERROR", m.Type, m.Payload, ok)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing 5s after the membership could not be read")
	}
	if !strings.Contains(e.Logs(), "reading the membership of a new notificationAdded subscription") {
		t.Errorf("the cause was not logged:\n%s", e.Logs())
	}
	waitSubscribers(t, e, 0, 5*time.Second)
}
