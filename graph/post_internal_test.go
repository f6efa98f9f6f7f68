package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// cannedExecutor answers every request with the same operation error or
// response, so that two transports can be compared on equal terms.
type cannedExecutor struct {
	opErr gqlerror.List
	resp  *graphql.Response
	op    ast.Operation // the operation's type: a query when empty
}

func (c cannedExecutor) CreateOperationContext(context.Context, *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	op := c.op
	if op == "" {
		op = ast.Query
	}
	doc := &ast.QueryDocument{Operations: ast.OperationList{{Operation: op}}}
	return &graphql.OperationContext{Doc: doc}, c.opErr
}

func (c cannedExecutor) DispatchOperation(ctx context.Context, _ *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	return func(context.Context) *graphql.Response { return c.resp }, ctx
}

func (cannedExecutor) DispatchError(_ context.Context, list gqlerror.List) *graphql.Response {
	return &graphql.Response{Errors: list}
}

// TestPostTransportMatchesGqlgen holds postTransport to gqlgen's
// transport.POST: the same status, Content-Type and body for every request
// body that decodes, but for json.Marshal's HTML escaping, which
// postTransport leaves out. A body that does not decode gets its own
// message (TestPostTransportRefusesUndecodableBodies).
func TestPostTransportMatchesGqlgen(t *testing.T) {
	hasNext := false
	validation := gqlerror.List{{Message: "Cannot query field \"nope\" on type \"Query\".", Extensions: map[string]any{"code": errcode.ValidationFailed}}}
	full := &graphql.Response{
		Errors:     gqlerror.List{{Message: "no <access>", Path: ast.Path{ast.PathName("projects"), ast.PathIndex(0)}, Extensions: map[string]any{"code": "FORBIDDEN"}}},
		Data:       []byte(`{"projects":[{"name":"R&D <lab>","n":1.5e3,"ok":true,"none":null}]}`),
		Label:      "later",
		Path:       ast.Path{ast.PathName("projects")},
		HasNext:    &hasNext,
		Extensions: map[string]any{"cost": 3},
	}
	cases := []struct {
		name   string
		exec   cannedExecutor
		accept string
		body   string
	}{
		{"data", cannedExecutor{resp: &graphql.Response{Data: []byte(`{"a":"x"}`)}}, "", `{"query":"{a}"}`},
		{"every key", cannedExecutor{resp: full}, "application/json", `{"query":"{a}"}`},
		{"no data", cannedExecutor{resp: &graphql.Response{Errors: gqlerror.List{{Message: "boom"}}}}, "", `{"query":"{a}"}`},
		{"validation error, application/json", cannedExecutor{opErr: validation}, "application/json", `{"query":"{nope}"}`},
		{"validation error, graphql-response+json", cannedExecutor{opErr: validation}, "application/graphql-response+json", `{"query":"{nope}"}`},
		{"validation error, no Accept", cannedExecutor{opErr: validation}, "", `{"query":"{nope}"}`},
		{"validation error, wildcard", cannedExecutor{opErr: validation}, "text/html, */*;q=0.8", `{"query":"{nope}"}`},
		{"validation error, application/*", cannedExecutor{opErr: validation}, "application/*", `{"query":"{nope}"}`},
		{"validation error, unknown Accept", cannedExecutor{opErr: validation}, "text/html", `{"query":"{nope}"}`},
		{"resolver-kind operation error", cannedExecutor{opErr: gqlerror.List{{Message: "limit", Extensions: map[string]any{"code": "COMPLEXITY_LIMIT_EXCEEDED"}}}}, "application/graphql-response+json", `{"query":"{a}"}`},
		{"variables with numbers", cannedExecutor{resp: &graphql.Response{Data: []byte(`{}`)}}, "", `{"query":"{a}","variables":{"n":12345678901234567890}}`},
	}
	serve := func(tr graphql.Transport, exec graphql.GraphExecutor, accept, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		w := httptest.NewRecorder()
		if !tr.Supports(r) {
			t.Fatalf("%T does not support the request", tr)
		}
		tr.Do(w, r, exec)
		return w
	}
	// gqlgen's side goes through it; postTransport escapes nothing.
	unescapeHTML := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := serve(transport.POST{}, c.exec, c.accept, c.body)
			got := serve(postTransport{}, c.exec, c.accept, c.body)
			if got.Code != want.Code {
				t.Errorf("status: got %d, want %d", got.Code, want.Code)
			}
			if g, w := got.Header().Values("Content-Type"), want.Header().Values("Content-Type"); strings.Join(g, ";") != strings.Join(w, ";") {
				t.Errorf("Content-Type: got %q, want %q", g, w)
			}
			if g, w := unescapeHTML.Replace(got.Body.String()), unescapeHTML.Replace(want.Body.String()); g != w {
				t.Errorf("body:\n got %s\nwant %s", g, w)
			}
		})
	}
}

// TestPostTransportWritesNullForEmptyData: where gqlgen's transport would
// panic on data that is present but empty, postTransport writes null.
func TestPostTransportWritesNullForEmptyData(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"{a}"}`))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	postTransport{}.Do(w, r, cannedExecutor{resp: &graphql.Response{Data: []byte{}, Errors: gqlerror.List{{Message: "boom"}}}})
	if got, want := w.Body.String(), `{"errors":[{"message":"boom"}],"data":null}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestPostTransportRefusesUndecodableBodies: a body that is not one GraphQL
// request is refused with 400 and BAD_USER_INPUT, in words that say what to
// send instead and name no Go type (gqlgen's: "json: cannot unmarshal array
// into Go value of type graphql.RawParams", followed by the whole body).
func TestPostTransportRefusesUndecodableBodies(t *testing.T) {
	cases := []struct {
		name, body string
		want       string // a substring of the message
	}{
		{"a batch", `[{"query": "{ a }"}, {"query": "{ b }"}]`, "batching is not supported (the body is a JSON array); send one operation per request"},
		{"an empty batch", ` [] `, "batching is not supported"},
		{"a string", `"{ a }"`, "the request body is a JSON string, not an object; send one operation per request"},
		{"a number", `42`, "the request body is a JSON number, not an object"},
		{"query is a number", `{"query": 5}`, `"query" in the request body must be a string, not a JSON number`},
		{"variables is a list", `{"query": "{ a }", "variables": [1]}`, `"variables" in the request body must be an object, not a JSON array`},
		{"operationName is an object", `{"query": "{ a }", "operationName": {}}`, `"operationName" in the request body must be a string, not a JSON object`},
		{"truncated", `{"query": `, "the request body is not valid JSON (unexpected EOF); send one operation per request"},
		{"empty", ``, "the request body is empty; send one operation per request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(c.body))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			postTransport{}.Do(w, r, cannedExecutor{})
			var resp struct {
				Errors []struct {
					Message    string
					Extensions map[string]any
				}
			}
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || len(resp.Errors) != 1 {
				t.Fatalf("got %d %s, want one error", w.Code, w.Body)
			}
			msg := resp.Errors[0].Message
			if w.Code != http.StatusBadRequest || resp.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
				t.Errorf("got %d %v, want 400 BAD_USER_INPUT", w.Code, resp.Errors[0].Extensions["code"])
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("message: got %q, want it to contain %q", msg, c.want)
			}
			for _, goTalk := range []string{"Go value", "Go struct", "RawParams", "unmarshal"} {
				if strings.Contains(msg, goTalk) {
					t.Errorf("message: got %q, want no %q", msg, goTalk)
				}
			}
		})
	}
}

// TestGetTransportMatchesGqlgen holds getTransport to gqlgen's
// transport.GET: the same status, Content-Type and body, but for
// json.Marshal's HTML escaping, which getTransport leaves out, and for a
// mutation, which it refuses with 405 and Allow: POST as the
// GraphQL-over-HTTP spec asks (gqlgen: 406).
func TestGetTransportMatchesGqlgen(t *testing.T) {
	validation := gqlerror.List{{Message: "Unexpected <Invalid>", Extensions: map[string]any{"code": errcode.ParseFailed}}}
	data := &graphql.Response{Data: []byte(`{"a":"R&D <lab>"}`)}
	cases := []struct {
		name   string
		exec   cannedExecutor
		accept string
		query  string
	}{
		{"data", cannedExecutor{resp: data}, "", "query=%7Ba%7D"},
		{"data, variables and extensions", cannedExecutor{resp: data}, "application/json", "query=%7Ba%7D&variables=%7B%22n%22%3A1%7D&extensions=%7B%7D"},
		{"parse error, application/json", cannedExecutor{opErr: validation}, "application/json", "query=%3C"},
		{"parse error, graphql-response+json", cannedExecutor{opErr: validation}, "application/graphql-response+json", "query=%3C"},
		{"parse error, unknown Accept", cannedExecutor{opErr: validation}, "text/html", "query=%3C"},
		{"a broken escape", cannedExecutor{resp: data}, "", "query=%zz"},
		{"broken variables", cannedExecutor{resp: data}, "", "query=%7Ba%7D&variables=%7Bx"},
		{"broken extensions", cannedExecutor{resp: data}, "", "query=%7Ba%7D&extensions=%5B"},
	}
	serve := func(tr graphql.Transport, exec graphql.GraphExecutor, accept, query string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/graphql?"+query, nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		if !tr.Supports(r) {
			t.Fatalf("%T does not support the request", tr)
		}
		w := httptest.NewRecorder()
		tr.Do(w, r, exec)
		return w
	}
	unescapeHTML := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := serve(transport.GET{}, c.exec, c.accept, c.query)
			got := serve(getTransport{}, c.exec, c.accept, c.query)
			if got.Code != want.Code {
				t.Errorf("status: got %d, want %d", got.Code, want.Code)
			}
			if g, w := got.Header().Values("Content-Type"), want.Header().Values("Content-Type"); strings.Join(g, ";") != strings.Join(w, ";") {
				t.Errorf("Content-Type: got %q, want %q", g, w)
			}
			if g, w := got.Body.String(), unescapeHTML.Replace(want.Body.String()); g != w {
				t.Errorf("body:\n got %s\nwant %s", g, w)
			}
			if strings.Contains(got.Body.String(), `\u003c`) {
				t.Errorf("body: got %s, want no \\u003c", got.Body)
			}
		})
	}
	t.Run("a mutation", func(t *testing.T) {
		got := serve(getTransport{}, cannedExecutor{resp: data, op: ast.Mutation}, "", "query=mutation%7Ba%7D")
		if got.Code != http.StatusMethodNotAllowed || got.Header().Get("Allow") != http.MethodPost ||
			got.Body.String() != `{"errors":[{"message":"GET requests only allow query operations: send a mutation with POST"}],"data":null}` {
			t.Errorf("got %d (Allow %q) %s, want 405, Allow: POST and the refusal", got.Code, got.Header().Get("Allow"), got.Body)
		}
	})
}
