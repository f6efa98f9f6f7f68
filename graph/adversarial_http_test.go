package graph_test

// The adversarial suite: hostile requests. Malformed JSON and GraphQL,
// wrong methods and content types, GET with garbage, unknown operations and
// websocket garbage get a clear 4xx or GraphQL error with a documented code,
// never a 5xx, a hang or a panic.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"tenantgraph/graph/graphtest"
)

func TestAdversarialRequests(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		o := owner.Caller("acme")
		e.CreateProject(o, "Rocket")
		a := newAdv(e)
		q := url.QueryEscape
		tests := []struct {
			name, method, path, contentType, body string
			status                                int    // 0: any below 500
			code                                  string // "": any documented code, or none
		}{
			// Malformed JSON.
			{"truncated JSON", "POST", "/graphql", "application/json", `{"query": "{ currentTenant { id } }"`, 400, "BAD_USER_INPUT"},
			{"a JSON string", "POST", "/graphql", "application/json", `"{ currentTenant { id } }"`, 400, "BAD_USER_INPUT"},
			{"a JSON number", "POST", "/graphql", "application/json", `42`, 400, "BAD_USER_INPUT"},
			{"JSON null", "POST", "/graphql", "application/json", `null`, 0, "GRAPHQL_VALIDATION_FAILED"},
			{"an empty object", "POST", "/graphql", "application/json", `{}`, 0, "GRAPHQL_VALIDATION_FAILED"},
			{"an empty body", "POST", "/graphql", "application/json", ``, 400, "BAD_USER_INPUT"},
			{"a batch", "POST", "/graphql", "application/json", `[{"query": "{ currentTenant { id } }"}]`, 400, "BAD_USER_INPUT"},
			{"an empty batch", "POST", "/graphql", "application/json", `[]`, 400, "BAD_USER_INPUT"},
			{"query is a number", "POST", "/graphql", "application/json", `{"query": 5}`, 400, "BAD_USER_INPUT"},
			{"query is an object", "POST", "/graphql", "application/json", `{"query": {"a": 1}}`, 400, "BAD_USER_INPUT"},
			{"variables is a list", "POST", "/graphql", "application/json", `{"query": "{ currentTenant { id } }", "variables": [1]}`, 400, "BAD_USER_INPUT"},
			{"variables is a string", "POST", "/graphql", "application/json", `{"query": "{ currentTenant { id } }", "variables": "{}"}`, 400, "BAD_USER_INPUT"},
			{"operationName is a number", "POST", "/graphql", "application/json", `{"query": "{ currentTenant { id } }", "operationName": 1}`, 400, "BAD_USER_INPUT"},
			{"extensions is a list", "POST", "/graphql", "application/json", `{"query": "{ currentTenant { id } }", "extensions": []}`, 400, "BAD_USER_INPUT"},
			{"a NUL in the JSON", "POST", "/graphql", "application/json", "{\"query\": \"{ currentTenant { id } }\x00\"}", 400, "BAD_USER_INPUT"},
			{"invalid UTF-8", "POST", "/graphql", "application/json", "{\"query\": \"{ currentTenant { id } }\", \"variables\": {\"x\": \"\xff\xfe\"}}", 0, ""},
			{"JSON nested 20,000 deep", "POST", "/graphql", "application/json", `{"query": "{ currentTenant { id } }", "variables": {"x": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`, 400, "BAD_USER_INPUT"},
			{"a byte-order mark", "POST", "/graphql", "application/json", "\ufeff{\"query\": \"{ currentTenant { id } }\"}", 400, "BAD_USER_INPUT"},
			{"duplicate keys", "POST", "/graphql", "application/json", `{"query": "{ currentTenant { id } }", "query": "{ projects { totalCount } }"}`, 0, ""},
			// Malformed GraphQL.
			{"unclosed brace", "POST", "/graphql", "application/json", `{"query": "{ projects { totalCount }"}`, 0, "GRAPHQL_PARSE_FAILED"},
			{"a NUL escape in a string", "POST", "/graphql", "application/json", `{"query": "{ projects(where: {nameContains: \"\\u0000\"}) { totalCount } }"}`, 0, "BAD_USER_INPUT"},
			{"a raw NUL in the query", "POST", "/graphql", "application/json", `{"query": "{ projects(where: {nameContains: \"\u0000\"}) { totalCount } }"}`, 0, "GRAPHQL_PARSE_FAILED"},
			{"an unterminated string", "POST", "/graphql", "application/json", `{"query": "{ node(id: \"abc) { id } }"}`, 0, "GRAPHQL_PARSE_FAILED"},
			{"a deeply nested selection", "POST", "/graphql", "application/json", `{"query": "` + strings.Repeat("{ a ", 5000) + strings.Repeat("} ", 5000) + `"}`, 0, ""},
			{"a fragment cycle", "POST", "/graphql", "application/json", `{"query": "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"}`, 0, "GRAPHQL_VALIDATION_FAILED"},
			{"a fragment on a wrong type", "POST", "/graphql", "application/json", `{"query": "{ ...F } fragment F on Project { id }"}`, 0, "GRAPHQL_VALIDATION_FAILED"},
			{"a directive that does not exist", "POST", "/graphql", "application/json", `{"query": "{ currentTenant @evil { id } }"}`, 0, "GRAPHQL_VALIDATION_FAILED"},
			{"a variable of an unknown type", "POST", "/graphql", "application/json", `{"query": "query($x: Evil) { currentTenant { id } }"}`, 0, "GRAPHQL_VALIDATION_FAILED"},
			{"@include with a string", "POST", "/graphql", "application/json", `{"query": "query($x: Boolean!) { currentTenant @include(if: $x) { id } }", "variables": {"x": "yes"}}`, 0, "GRAPHQL_VALIDATION_FAILED"},
			{"unknown operationName", "POST", "/graphql", "application/json", `{"query": "query A { currentTenant { id } } query B { projectWorkflow { from } }", "operationName": "C"}`, 0, "GRAPHQL_VALIDATION_FAILED"},
			{"two operations and no name", "POST", "/graphql", "application/json", `{"query": "query A { currentTenant { id } } query B { projectWorkflow { from } }"}`, 0, "GRAPHQL_VALIDATION_FAILED"},
			{"operationName of an anonymous query", "POST", "/graphql", "application/json", `{"query": "{ currentTenant { id } }", "operationName": "A"}`, 0, "GRAPHQL_VALIDATION_FAILED"},
			{"a subscription over POST", "POST", "/graphql", "application/json", `{"query": "subscription { notificationAdded { id } }"}`, 0, "BAD_USER_INPUT"},
			// Wrong methods and content types.
			{"text/plain", "POST", "/graphql", "text/plain", `{"query": "{ currentTenant { id } }"}`, 415, "BAD_USER_INPUT"},
			{"no content type", "POST", "/graphql", "", `{"query": "{ currentTenant { id } }"}`, 415, "BAD_USER_INPUT"},
			{"a form", "POST", "/graphql", "application/x-www-form-urlencoded", `query=` + q("{ currentTenant { id } }"), 415, "BAD_USER_INPUT"},
			{"multipart", "POST", "/graphql", "multipart/form-data; boundary=xyz", "--xyz\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{}\r\n--xyz--\r\n", 415, "BAD_USER_INPUT"},
			{"application/graphql", "POST", "/graphql", "application/graphql", `{ currentTenant { id } }`, 415, "BAD_USER_INPUT"},
			{"XML", "POST", "/graphql", "application/xml", `<query/>`, 415, "BAD_USER_INPUT"},
			{"PUT", "PUT", "/graphql", "application/json", `{"query": "{ currentTenant { id } }"}`, 405, "BAD_USER_INPUT"},
			{"DELETE", "DELETE", "/graphql", "", ``, 405, "BAD_USER_INPUT"},
			{"PATCH", "PATCH", "/graphql", "application/json", `{}`, 405, "BAD_USER_INPUT"},
			{"HEAD", "HEAD", "/graphql", "", ``, 0, ""},
			{"OPTIONS", "OPTIONS", "/graphql", "", ``, 0, ""},
			// GET with garbage.
			{"GET without a query", "GET", "/graphql", "", ``, 0, "GRAPHQL_VALIDATION_FAILED"},
			{"GET with a broken escape", "GET", "/graphql?query=%zz", "", ``, 400, "BAD_USER_INPUT"},
			{"GET with a parse error", "GET", "/graphql?query=" + q("{"), "", ``, 0, "GRAPHQL_PARSE_FAILED"},
			{"GET with a mutation", "GET", "/graphql?query=" + q(`mutation { markAllNotificationsRead }`), "", ``, 0, "BAD_USER_INPUT"},
			{"GET with a subscription", "GET", "/graphql?query=" + q(`subscription { notificationAdded { id } }`), "", ``, 0, "BAD_USER_INPUT"},
			{"GET with broken variables", "GET", "/graphql?query=" + q(`{ currentTenant { id } }`) + "&variables=" + q(`{x`), "", ``, 400, "BAD_USER_INPUT"},
			{"GET with broken extensions", "GET", "/graphql?query=" + q(`{ currentTenant { id } }`) + "&extensions=" + q(`[`), "", ``, 400, "BAD_USER_INPUT"},
			{"GET with two queries", "GET", "/graphql?query=" + q(`{ currentTenant { id } }`) + "&query=" + q(`{ projects { totalCount } }`), "", ``, 0, ""},
			{"GET with binary", "GET", "/graphql?query=%00%01%02%ff", "", ``, 0, "GRAPHQL_PARSE_FAILED"},
			{"GET with a parser token bomb", "GET", "/graphql?query=" + q("{"+strings.Repeat(" a", 16000)+" }"), "", ``, 0, "GRAPHQL_PARSE_FAILED"},
			{"GET with an unknown operationName", "GET", "/graphql?query=" + q(`query A { currentTenant { id } }`) + "&operationName=B", "", ``, 0, "GRAPHQL_VALIDATION_FAILED"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				header := http.Header{}
				if tt.contentType != "" {
					header.Set("Content-Type", tt.contentType)
				}
				start := time.Now()
				r := a.raw(t, o, tt.method, tt.path, header, []byte(tt.body))
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("answered after %s, want at once", d)
				}
				if tt.status != 0 && r.Status != tt.status {
					t.Errorf("status: got %d, want %d", r.Status, tt.status)
				}
				if tt.code != "" && r.Code() != tt.code {
					t.Errorf("code: got %q %+v, want %s", r.Code(), r.Errors, tt.code)
				}
			})
		}
		// The server still serves, and nothing was written.
		var out struct{ Projects struct{ TotalCount int } }
		isoMust(t, e, o, `{ projects { totalCount } }`, nil, &out)
		if out.Projects.TotalCount != 1 {
			t.Errorf("projects: got %d, want 1", out.Projects.TotalCount)
		}
		a.finish(t)
	})
}

// TestAdversarialWebsocket: garbage on a websocket ends that connection or
// that operation, and nothing else.
func TestAdversarialWebsocket(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		a := newAdv(e)
		messages := []struct {
			name    string
			frame   []byte
			binary  bool
			closes  websocket.StatusCode // the server ends the connection with this code (0: it does not)
			refused bool                 // the server answers the operation with an error
		}{
			{"not JSON", []byte(`not json`), false, 4400, false},
			{"a JSON list", []byte(`[1, 2]`), false, 4400, false},
			{"an unknown type", []byte(`{"type": "evil"}`), false, 4400, false},
			{"a second connection_init", []byte(`{"type": "connection_init"}`), false, 4429, false},
			{"a binary frame", []byte{0, 1, 2, 3}, true, 4400, false},
			{"subscribe without an id", []byte(`{"type": "subscribe"}`), false, 4400, false},
			{"subscribe with a string payload", []byte(`{"type": "subscribe", "id": "1", "payload": "x"}`), false, 4400, false},
			{"subscribe with a parse error", []byte(`{"type": "subscribe", "id": "1", "payload": {"query": "{"}}`), false, 0, true},
			{"subscribe to a mutation", []byte(`{"type": "subscribe", "id": "1", "payload": {"query": "mutation { createProject(input: {name: \"\"}) { id } }"}}`), false, 0, true},
			{"subscribe with a depth bomb", []byte(`{"type": "subscribe", "id": "1", "payload": {"query": "` + limDeep(6) + `"}}`), false, 0, true},
			{"complete of nothing", []byte(`{"type": "complete", "id": "nothing"}`), false, 0, false},
			{"pong unasked", []byte(`{"type": "pong"}`), false, 0, false},
		}
		for _, m := range messages {
			t.Run(m.name, func(t *testing.T) {
				conn := wsDial(t, e, initPayload(owner.Token, "acme"))
				if ack, err := wsRead(t, conn); err != nil || ack.Type != "connection_ack" {
					t.Fatalf("got %+v %v, want connection_ack", ack, err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				typ := websocket.MessageText
				if m.binary {
					typ = websocket.MessageBinary
				}
				if err := conn.Write(ctx, typ, m.frame); err != nil {
					t.Fatal(err)
				}
				// Then an ordinary query on the same connection.
				_ = wsjson.Write(ctx, conn, map[string]any{"id": "after", "type": "subscribe", "payload": map[string]any{"query": "{ currentTenant { slug } }"}})
				var refused, served, done bool
				for !done || (m.refused && !refused) {
					msg, err := wsRead(t, conn)
					if err != nil {
						if status := websocket.CloseStatus(err); m.closes == 0 {
							t.Errorf("connection ended (%v), want it kept", err)
						} else if status != m.closes {
							t.Errorf("close status %d (%v), want %d", status, err, m.closes)
						}
						break
					}
					switch {
					case msg.ID == "after" && msg.Type == "next":
						served = true
					case msg.ID == "after" && msg.Type == "complete":
						done = true
					case msg.Type == "error" || msg.Type == "next" && strings.Contains(string(msg.Payload), `"errors"`):
						refused = true
						if strings.Contains(string(msg.Payload), "INTERNAL_SERVER_ERROR") {
							t.Errorf("got %s, want no internal error", msg.Payload)
						}
					}
				}
				if m.refused && !refused {
					t.Errorf("got no error for the operation, want one")
				}
				if m.closes == 0 && !served {
					t.Errorf("the query after it: not served")
				}
			})
		}
		t.Run("subscribe before connection_init", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, _, err := websocket.Dial(ctx, wsURL(e.URL), &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseNow()
			_ = wsjson.Write(ctx, conn, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": feedQuery}})
			for {
				var msg wsMessage
				if err := wsjson.Read(ctx, conn, &msg); err != nil {
					if s := websocket.CloseStatus(err); s != 4401 {
						t.Errorf("got %v, want a close with 4401 Unauthorized", err)
					}
					return
				}
				if msg.Type == "next" {
					t.Fatalf("got %+v before any connection_init, want the connection closed", msg)
				}
			}
		})
		t.Run("no subprotocol", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, _, err := websocket.Dial(ctx, wsURL(e.URL), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseNow()
			_, _, err = conn.Read(ctx)
			if s := websocket.CloseStatus(err); s != 4406 {
				t.Errorf("got %v, want a close with 4406 Subprotocol not acceptable", err)
			}
		})
		// The server still serves.
		a.do(t, owner.Caller("acme"), `{ currentTenant { slug } }`, nil)
		a.finish(t)
	})
}
