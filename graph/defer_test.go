package graph_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"

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
