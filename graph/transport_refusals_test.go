package graph_test

import (
	"encoding/json"
	"net/http"
	"net/url"
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

// TestPostBodyHoldsOneRequest: a POST body is one JSON object and nothing
// more. A second request after it, garbage after it, or a request field
// named twice (of which encoding/json kept the last) is refused with 400
// BAD_USER_INPUT, as a body that is not JSON is, and nothing runs; a GET's
// variables likewise. White space after the object is fine.
func TestPostBodyHoldsOneRequest(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Ada")
		e.CreateTenant(owner, "acme")
		c := owner.Caller("acme")
		const (
			a = `{"query": "mutation { a: createProject(input: {name: \"A\"}) { id } }"}`
			b = `{"query": "mutation { b: createProject(input: {name: \"B\"}) { id } }"}`
		)
		tests := []struct{ name, body, want string }{
			{"two requests", a + b, "more than one JSON value"},
			{"two requests on two lines", a + "\n" + b + "\n", "more than one JSON value"},
			{"garbage after", a + " garbage", "more than one JSON value"},
			{"a closing bracket after", a + "]", "more than one JSON value"},
			{"query twice", `{"query": "mutation { a: createProject(input: {name: \"A\"}) { id } }", "query": "mutation { b: createProject(input: {name: \"B\"}) { id } }"}`,
				`"query" appears more than once`},
			{"query twice, in another case", `{"query": "mutation { a: createProject(input: {name: \"A\"}) { id } }", "Query": "mutation { b: createProject(input: {name: \"B\"}) { id } }"}`,
				`"query" appears more than once`},
			{"variables twice", `{"query": "mutation($n: String!) { createProject(input: {name: $n}) { id } }", "variables": {"n": "A"}, "variables": {"n": "B"}}`,
				`"variables" appears more than once`},
		}
		header := http.Header{"Content-Type": {"application/json"}}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.Raw(c, "POST", "/graphql", header, []byte(tt.body))
				var resp graphtest.Response
				if err := json.Unmarshal(r.Body, &resp); err != nil || len(resp.Errors) != 1 {
					t.Fatalf("got %d %s, want one GraphQL error", r.Status, r.Body)
				}
				if r.Status != http.StatusBadRequest || resp.Code() != "BAD_USER_INPUT" {
					t.Errorf("got %d %s, want 400 BAD_USER_INPUT", r.Status, resp.Code())
				}
				if msg := resp.Errors[0].Message; !strings.Contains(msg, tt.want) || !strings.Contains(msg, "send one operation per request") {
					t.Errorf("message: got %q, want it to contain %q and what to send", msg, tt.want)
				}
			})
		}
		t.Run("GET with a field twice", func(t *testing.T) {
			path := "/graphql?query=" + url.QueryEscape(`{ projects { totalCount } }`) + "&query=" + url.QueryEscape(`{ viewer { id } }`)
			r := e.Raw(c, "GET", path, nil, nil)
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `\"query\" appears more than once in the query string`) {
				t.Errorf("got %d %s, want 400 query appears more than once", r.Status, r.Body)
			}
		})
		t.Run("GET variables with more after them", func(t *testing.T) {
			path := "/graphql?query=" + url.QueryEscape(`query($n: Int) { projects(first: $n) { totalCount } }`) +
				"&variables=" + url.QueryEscape(`{"n": 1} {"n": 2}`)
			r := e.Raw(c, "GET", path, nil, nil)
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "variables could not be decoded") {
				t.Errorf("got %d %s, want 400 variables could not be decoded", r.Status, r.Body)
			}
		})
		var got struct{ Projects struct{ TotalCount int } }
		e.MustDo(c, `{ projects { totalCount } }`, nil, &got)
		if got.Projects.TotalCount != 0 {
			t.Errorf("projects: got %d, want 0: a refused body ran", got.Projects.TotalCount)
		}
		r := e.Raw(c, "POST", "/graphql", header, []byte(a+" \r\n\t"))
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `{"data":{"a":{"id":`) {
			t.Errorf("white space after the object: got %d %s, want it run", r.Status, r.Body)
		}
	})
}
