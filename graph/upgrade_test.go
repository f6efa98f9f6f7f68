package graph_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"tenantgraph/graph/graphtest"
)

// An Upgrade header that does not ask for a websocket does not turn a
// request away: curl --http2 sends "Upgrade: h2c" with its GET, and was
// answered 426 "WebSocket protocol violation" in plain text; a POST that
// names websocket is no handshake either.
func TestOtherUpgradesAreOrdinaryRequests(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		for _, tc := range []struct {
			name, method, path string
			header             http.Header
			body               string
		}{
			{"GET with Upgrade: h2c", http.MethodGet, "/graphql?query=%7B__typename%7D",
				http.Header{"Upgrade": {"h2c"}, "Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {"AAMAAABkAAQAoAAAAAIAAAAA"}}, ""},
			{"POST with Upgrade: websocket", http.MethodPost, "/graphql",
				http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Content-Type": {"application/json"}}, `{"query":"{ __typename }"}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := e.Raw(graphtest.Caller{}, tc.method, tc.path, tc.header, []byte(tc.body))
				var r struct {
					Data struct {
						Typename string `json:"__typename"`
					}
				}
				if got.Status != http.StatusOK || json.Unmarshal(got.Body, &r) != nil || r.Data.Typename != "Query" {
					t.Errorf("got %d %s, want 200 with the query's answer", got.Status, got.Body)
				}
			})
		}
	})
}
