package graph_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"tenantgraph/graph/graphtest"
)

// TestTransportRefusalsSayWhatToSend: a request the endpoint does not take
// (a batch, a body in another media type, another method) is refused with
// a status that names the fault (400, 415, 405), BAD_USER_INPUT, and a
// message that says what to send instead, never Go's words or gqlgen's
// "transport not supported".
func TestTransportRefusalsSayWhatToSend(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		const howTo = "send one operation per request: POST a JSON object"
		tests := []struct {
			name, method, contentType, body string
			status                          int
			want                            []string // substrings of the message
			allow                           string   // the Allow header, for 405
		}{
			{"a batch", "POST", "application/json", `[{"query": "{ currentTenant { id } }"}, {"query": "{ projectWorkflow { from } }"}]`,
				400, []string{"batching is not supported", howTo, "Content-Type: application/json", "GET with ?query="}, ""},
			{"text/plain", "POST", "text/plain", `{"query": "{ currentTenant { id } }"}`,
				415, []string{`Content-Type "text/plain" is not supported`, howTo}, ""},
			{"text/plain with a charset", "POST", "text/plain;charset=UTF-8", `{"query": "{ currentTenant { id } }"}`,
				415, []string{`Content-Type "text/plain;charset=UTF-8" is not supported`, howTo}, ""},
			{"multipart", "POST", "multipart/form-data; boundary=xyz", "--xyz--\r\n",
				415, []string{`Content-Type "multipart/form-data; boundary=xyz" is not supported`, howTo}, ""},
			{"no Content-Type", "POST", "", `{"query": "{ currentTenant { id } }"}`,
				415, []string{"the request has no Content-Type", howTo}, ""},
			{"PUT", "PUT", "application/json", `{"query": "{ currentTenant { id } }"}`,
				405, []string{"method PUT is not supported", howTo}, "GET, POST, OPTIONS"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				header := http.Header{}
				if tt.contentType != "" {
					header.Set("Content-Type", tt.contentType)
				}
				r := e.Raw(graphtest.Caller{}, tt.method, "/graphql", header, []byte(tt.body))
				var resp graphtest.Response
				if err := json.Unmarshal(r.Body, &resp); err != nil || len(resp.Errors) != 1 {
					t.Fatalf("got %d %s, want one GraphQL error", r.Status, r.Body)
				}
				if r.Status != tt.status || resp.Code() != "BAD_USER_INPUT" {
					t.Errorf("got %d %s, want %d BAD_USER_INPUT", r.Status, resp.Code(), tt.status)
				}
				if got := r.Header.Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type: got %q, want application/json", got)
				}
				if got := r.Header.Get("Allow"); got != tt.allow {
					t.Errorf("Allow: got %q, want %q", got, tt.allow)
				}
				msg := resp.Errors[0].Message
				for _, want := range tt.want {
					if !strings.Contains(msg, want) {
						t.Errorf("message: got %q, want it to contain %q", msg, want)
					}
				}
				for _, bad := range []string{"transport not supported", "Go value", "RawParams", "unmarshal"} {
					if strings.Contains(msg, bad) {
						t.Errorf("message: got %q, want no %q", msg, bad)
					}
				}
			})
		}
	})
}
