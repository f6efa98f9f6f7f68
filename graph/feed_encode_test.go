package graph_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"

	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
)

// TestFeedEncoderWritesWhatTheExecutorWrites: for each selection set, two
// subscriptions of the same user, one served by the executor and one by
// the feed's encoder (graph/feed_encode.go), receive byte for byte the same
// payloads: a notification with a project and a task, and ones with a
// project and no task. The selection sets cover aliases, __typename,
// fragments, @skip and @include with variables, merged fields, and ones
// the encoder leaves to the executor.
func TestFeedEncoderWritesWhatTheExecutorWrites(t *testing.T) {
	defer graph.SetFeedEncoder(true)
	cases := []struct {
		name, query string
		vars        map[string]any
	}{
		{"contract", feedQuery, nil},
		{"aliases and __typename", `subscription {
			n: notificationAdded { __typename key: id kind t: title body read createdAt updatedAt
				p: project { __typename id } task { id __typename } } }`, nil},
		{"fragments and directives", `subscription S($skip: Boolean!, $with: Boolean!) {
			notificationAdded { ...F ... on Node { id } body @skip(if: $skip) title @include(if: $with)
				read @skip(if: $with) task @include(if: $with) { ... on Node { id } } } }
			fragment F on Notification { kind project { ... on Project { id } ...P } }
			fragment P on Project { __typename }`, map[string]any{"skip": true, "with": true}},
		{"merged fields", `subscription { notificationAdded { id title id project { id } project { __typename } kind title } }`, nil},
		{"left to the executor", `subscription { notificationAdded { id title project { id name status } task { title } } }`, nil},
	}
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member, project := feedWorld(e)
		memberCaller := member.Caller("acme")
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				n := subscribers(t, e)
				clients := map[string]*feedClient{}
				for _, u := range []struct {
					name string
					user graphtest.User
				}{{"owner", owner}, {"member", member}} {
					for _, encoder := range []bool{false, true} {
						graph.SetFeedEncoder(encoder)
						conn := dialFeedWith(t, wsURL(e.URL), initPayload(u.user.Token, "acme"), c.query, c.vars, nil)
						clients[u.name+map[bool]string{false: " executor", true: " encoder"}[encoder]] = read(conn, 16)
						n++
						waitSubscribers(t, e, n, 5*time.Second)
					}
				}
				graph.SetFeedEncoder(true)

				// The member submits the project and takes it back: the
				// owner hears of both (a project, no task); the owner
				// assigns the member a task (a project and a task).
				transition(t, e, memberCaller, project, "SUBMITTED")
				transition(t, e, memberCaller, project, "DRAFT")
				createAssignedTask(t, e, owner.Caller("acme"), project, "Encoded "+c.name, member.ID)
				for who, events := range map[string]int{"owner": 2, "member": 1} {
					for i := range events {
						want := nextPayload(t, clients[who+" executor"])
						got := nextPayload(t, clients[who+" encoder"])
						if !bytes.Equal(got, want) {
							t.Errorf("%s's event %d:\nencoder  %s\nexecutor %s", who, i, got, want)
						}
						if !bytes.Contains(want, []byte(`{"data":{"`)) {
							t.Errorf("%s's event %d: %s, want data", who, i, want)
						}
					}
				}
				for _, cl := range clients {
					cl.conn.CloseNow()
				}
				waitSubscribers(t, e, n-len(clients), 5*time.Second)
			})
		}
	})
}

// nextPayload is the payload of c's next "next" message, as sent.
func nextPayload(t *testing.T, c *feedClient) []byte {
	t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			t.Fatalf("connection closed (%v), want an event", c.err)
		}
		if m.Type != "next" {
			t.Fatalf("got %s %s, want next", m.Type, m.Payload)
		}
		return m.Payload
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return nil
}

// transition moves a project to status as the caller.
func transition(t *testing.T, e *graphtest.Env, c graphtest.Caller, project, status string) {
	t.Helper()
	var out struct{ TransitionProject struct{ ID string } }
	e.MustDo(c, `mutation($id: ID!, $to: ProjectStatus!) { transitionProject(id: $id, to: $to) { id } }`,
		map[string]any{"id": project, "to": status}, &out)
}

// Two subscriptions of one document can share the first occurrence of
// notificationAdded (a fragment) and still ask for different fields: the
// encoder's plan is known by the merged selection set. It used to be known
// by that first occurrence, and B, subscribed after A, was written A's
// plan: {id} alone, without the non-null project B asked for.
func TestFeedEncoderPlansEachOperationOfADocument(t *testing.T) {
	const document = `fragment F on Subscription { notificationAdded { id } }
		subscription A { ...F }
		subscription B { ...F notificationAdded { project { name } } }`
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member, project := feedWorld(e)
		conn := dialRaw(t, e)
		initialise(t, conn, initPayload(member.Token, "acme"))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n := subscribers(t, e)
		for _, op := range []string{"A", "B"} {
			if err := wsjson.Write(ctx, conn, map[string]any{"type": "subscribe", "id": op,
				"payload": map[string]any{"query": document, "operationName": op}}); err != nil {
				t.Fatal(err)
			}
			n++
			waitSubscribers(t, e, n, 5*time.Second)
		}
		createAssignedTask(t, e, owner.Caller("acme"), project, "Planned", member.ID)
		got := map[string]string{}
		for len(got) < 2 {
			var m wsMessage
			if err := wsjson.Read(ctx, conn, &m); err != nil {
				t.Fatalf("after %v: %v", got, err)
			}
			if m.Type == "next" {
				got[m.ID] = string(m.Payload)
			}
		}
		if !strings.Contains(got["B"], `"project":{"name":"Rocket"}`) || !strings.Contains(got["B"], `"id":"`) {
			t.Errorf("B got %s, want its id and its project's name", got["B"])
		}
		if strings.Contains(got["A"], "project") || !strings.Contains(got["A"], `"id":"`) {
			t.Errorf("A got %s, want its id alone", got["A"])
		}
	})
}
