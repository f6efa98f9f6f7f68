package graph_test

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

// TestErrorMessagesAreNotHTMLEscaped: <, > and & in an error message reach
// the client as written, over POST, GET, the server's own refusals and the
// websocket's error frames, as the README promises; json.Marshal would send
// "Bearer \u003ctoken\u003e".
func TestErrorMessagesAreNotHTMLEscaped(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		json := http.Header{"Content-Type": {"application/json"}}
		tests := []struct {
			name, method, path string
			header             http.Header
			body               string
			want               string // a substring of the raw body, with its <, > or &
		}{
			{"a resolver's error over POST", "POST", "/graphql",
				http.Header{"Content-Type": {"application/json"}, "Authorization": {"Basic x"}},
				`{"query": "{ viewer { id } }"}`, "Bearer <token>"},
			{"a parse error over POST", "POST", "/graphql", json,
				`{"query": "{ currentTenant { id } } <"}`, "Unexpected <Invalid>"},
			{"a parse error over GET", "GET", "/graphql?query=" + url.QueryEscape("{ currentTenant { id } } <"), nil,
				``, "Unexpected <Invalid>"},
			{"a refused Content-Type", "POST", "/graphql", http.Header{"Content-Type": {"text/html; q=<&>"}},
				`{}`, `<&>`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.Raw(graphtest.Caller{}, tt.method, tt.path, tt.header, []byte(tt.body))
				body := string(r.Body)
				if !strings.Contains(body, tt.want) {
					t.Errorf("body: got %s, want it to contain %s", body, tt.want)
				}
				for _, escape := range []string{`\u003c`, `\u003e`, `\u0026`} {
					if strings.Contains(body, escape) {
						t.Errorf("body: got %s, want no %s", body, escape)
					}
				}
			})
		}

		t.Run("a websocket error frame", func(t *testing.T) {
			conn := dialRaw(t, e)
			initialise(t, conn, map[string]any{"Authorization": "Bearer " + owner.Token, "X-Tenant-Slug": "acme"})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := wsjson.Write(ctx, conn, map[string]any{"type": "subscribe", "id": "<1&>",
				"payload": map[string]any{"query": "{ currentTenant { id } } <"}})
			if err != nil {
				t.Fatal(err)
			}
			for {
				typ, raw, err := conn.Read(ctx)
				if err != nil {
					t.Fatalf("waiting for the error frame: %v", err)
				}
				msg := string(raw)
				if typ != websocket.MessageText || strings.Contains(msg, `"type":"ping"`) {
					continue
				}
				if !strings.Contains(msg, `"type":"error"`) || !strings.Contains(msg, `"id":"<1&>"`) || !strings.Contains(msg, "Unexpected <Invalid>") {
					t.Errorf("got %s, want an error frame for id <1&> naming <Invalid>", msg)
				}
				for _, escape := range []string{`\u003c`, `\u003e`, `\u0026`} {
					if strings.Contains(msg, escape) {
						t.Errorf("got %s, want no %s", msg, escape)
					}
				}
				return
			}
		})
	})
}
