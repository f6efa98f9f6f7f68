package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"tenantgraph/graph/graphtest"
)

func TestHTTPTransport(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		get := func(path string, header http.Header) (int, string) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, e.Server.URL+path, nil)
			for k, v := range header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		t.Run("GET query", func(t *testing.T) {
			status, body := get("/graphql?query="+url.QueryEscape("{ currentTenant { slug } }"), nil)
			if status != http.StatusOK || !strings.Contains(body, `"slug":"default"`) {
				t.Errorf("got %d %s, want 200 with the default tenant", status, body)
			}
		})
		t.Run("GET mutation refused", func(t *testing.T) {
			q := `mutation { register(input: {email: "get@example.test", password: "long enough", name: "G"}) { token } }`
			// 405 with Allow: POST, as the GraphQL-over-HTTP spec asks.
			req, _ := http.NewRequest(http.MethodGet, e.Server.URL+"/graphql?query="+url.QueryEscape(q), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" ||
				!strings.Contains(string(body), `"code":"BAD_USER_INPUT"`) || !strings.Contains(string(body), "POST") {
				t.Errorf("got %d (Allow %q) %s, want 405 with Allow: POST and BAD_USER_INPUT saying to POST it",
					resp.StatusCode, resp.Header.Get("Allow"), body)
			}
			var out struct{ Login struct{ Token string } }
			r := e.Do(graphtest.Caller{}, `mutation { login(input: {email: "get@example.test", password: "long enough"}) { token } }`, nil)
			if r.Code() != "UNAUTHENTICATED" {
				t.Errorf("the GET mutation created an account: login got %+v %+v", r.Errors, out)
			}
		})
		t.Run("GET subscription refused", func(t *testing.T) {
			status, body := get("/graphql?query="+url.QueryEscape("subscription { notificationAdded { id } }"), nil)
			if status != http.StatusMethodNotAllowed || !strings.Contains(body, "websocket") || strings.Contains(body, "mutation") {
				t.Errorf("got %d %s, want 405 pointing to the websocket", status, body)
			}
		})
		t.Run("health", func(t *testing.T) {
			if status, body := get("/healthz", nil); status != http.StatusOK || !strings.Contains(body, "ok") {
				t.Errorf("healthz: got %d %s", status, body)
			}
			if status, body := get("/readyz", nil); status != http.StatusOK || !strings.Contains(body, "ready") {
				t.Errorf("readyz: got %d %s", status, body)
			}
		})
		t.Run("GraphiQL", func(t *testing.T) {
			status, body := get("/", nil)
			if status != http.StatusOK || !strings.Contains(strings.ToLower(body), "graphiql") {
				t.Errorf("GET /: got %d, want the GraphiQL page", status)
			}
			if status, _ := get("/nope", nil); status != http.StatusNotFound {
				t.Errorf("GET /nope: got %d, want 404", status)
			}
		})
		t.Run("oversized body", func(t *testing.T) {
			big := `{"query":"{ currentTenant { slug } }","variables":{"x":"` + strings.Repeat("a", 2<<20) + `"}}`
			resp, err := http.Post(e.URL, "application/json", strings.NewReader(big))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Errorf("2 MiB body: got 200, want a rejection")
			}
		})
	})
}

// wsDial opens a graphql-transport-ws connection and sends connection_init.
func wsDial(t *testing.T, e *graphtest.Env, payload map[string]any) *websocket.Conn {
	t.Helper()
	conn := dialRaw(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": payload}); err != nil {
		t.Fatalf("connection_init: %v", err)
	}
	return conn
}

// dialRaw opens a graphql-transport-ws connection and sends nothing.
func dialRaw(t *testing.T, e *graphtest.Env) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(e.URL, "http")
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn
}

type wsMessage struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

func wsRead(t *testing.T, conn *websocket.Conn) (wsMessage, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var m wsMessage
	err := wsjson.Read(ctx, conn, &m)
	return m, err
}

func TestWebsocketTransport(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "ws")
		outsider := e.Register("Outsider")
		forbidden := []struct {
			name    string
			payload map[string]any
		}{
			{"no token", map[string]any{"X-Tenant-Slug": "ws"}},
			{"bad token", map[string]any{"Authorization": "Bearer not-a-token", "X-Tenant-Slug": "ws"}},
			{"non-member", map[string]any{"Authorization": "Bearer " + outsider.Token, "X-Tenant-Slug": "ws"}},
			{"unknown tenant", map[string]any{"Authorization": "Bearer " + owner.Token, "X-Tenant-Slug": "nowhere"}},
		}
		for _, tc := range forbidden {
			t.Run(tc.name, func(t *testing.T) {
				conn := wsDial(t, e, tc.payload)
				for {
					_, err := wsRead(t, conn)
					if err == nil {
						continue // connection_error before the close
					}
					if got := websocket.CloseStatus(err); got != 4403 {
						t.Errorf("close status: got %d (%v), want 4403", got, err)
					}
					return
				}
			})
		}
		t.Run("member runs a query", func(t *testing.T) {
			conn := wsDial(t, e, map[string]any{"Authorization": "Bearer " + owner.Token, "X-Tenant-Slug": "ws"})
			if m, err := wsRead(t, conn); err != nil || m.Type != "connection_ack" {
				t.Fatalf("got %+v %v, want connection_ack", m, err)
			}
			ctx := context.Background()
			err := wsjson.Write(ctx, conn, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
				"query": "{ currentTenant { slug } viewer { email } }"}})
			if err != nil {
				t.Fatal(err)
			}
			m, err := wsRead(t, conn)
			if err != nil || m.Type != "next" || !strings.Contains(string(m.Payload), `"slug":"ws"`) || !strings.Contains(string(m.Payload), owner.Email) {
				t.Fatalf("got %+v %v, want the tenant ws and the owner", m, err)
			}
			if m, err := wsRead(t, conn); err != nil || m.Type != "complete" {
				t.Fatalf("got %+v %v, want complete", m, err)
			}
		})
		t.Run("cross-origin upgrade refused", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			u := "ws" + strings.TrimPrefix(e.URL, "http")
			_, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
				Subprotocols: []string{"graphql-transport-ws"},
				HTTPHeader:   http.Header{"Origin": []string{"https://evil.example"}},
			})
			if err == nil {
				t.Fatal("cross-origin websocket accepted")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("got %v, want 403", errors.Join(err))
			}
		})
	})
}
