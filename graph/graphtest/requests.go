package graphtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Caller is who sends a request: a token (empty for anonymous) and the
// tenant headers (both empty for the default tenant).
type Caller struct {
	Token      string
	TenantSlug string
	TenantID   string
}

// In returns c addressing the tenant with the given slug.
func (c Caller) In(slug string) Caller { c.TenantSlug, c.TenantID = slug, ""; return c }

// Response is a GraphQL response.
type Response struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []Error         `json:"errors"`
}

// Error is one GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code is the extensions.code of e.
func (e Error) Code() string { s, _ := e.Extensions["code"].(string); return s }

// Code returns the code of the first error, or "" when there is none.
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Code()
}

// Decode unmarshals the data into v, failing the test on errors.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decoding %s: %v", r.Data, err)
	}
}

// Do POSTs an operation as c.
func (e *Env) Do(c Caller, query string, vars map[string]any) *Response {
	e.T.Helper()
	return e.post(c, nil, map[string]any{"query": query, "variables": vars})
}

// DoWith is Do with extra request headers (such as Origin, or
// X-Forwarded-For for a server that trusts a proxy).
func (e *Env) DoWith(c Caller, header http.Header, query string, vars map[string]any) *Response {
	e.T.Helper()
	return e.post(c, header, map[string]any{"query": query, "variables": vars})
}

// DoOperation POSTs the named operation of a document (such as the contract).
func (e *Env) DoOperation(c Caller, document, operationName string, vars map[string]any) *Response {
	e.T.Helper()
	return e.post(c, nil, map[string]any{"query": document, "operationName": operationName, "variables": vars})
}

// Post POSTs any JSON request body (such as an Automatic Persisted Query
// with extensions and no query) as c and decodes the GraphQL response.
func (e *Env) Post(c Caller, request any) *Response {
	e.T.Helper()
	return e.post(c, nil, request)
}

// post sends request as a JSON body with header added, as c.
func (e *Env) post(c Caller, header http.Header, request any) *Response {
	e.T.Helper()
	body, err := json.Marshal(request)
	if err != nil {
		e.T.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		e.T.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	return e.send(c, req)
}

// RawResponse is an HTTP response as received.
type RawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// Raw sends any request as c to path (relative to the server's root, such as
// "/graphql?query=…") and returns the response undecoded: for tests of
// malformed requests and of what is not GraphQL.
func (e *Env) Raw(c Caller, method, path string, header http.Header, body []byte) RawResponse {
	e.T.Helper()
	req, err := http.NewRequest(method, e.Server.URL+path, bytes.NewReader(body))
	if err != nil {
		e.T.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return e.roundTrip(c, req)
}

// roundTrip sends req as c and reads the whole response.
func (e *Env) roundTrip(c Caller, req *http.Request) RawResponse {
	e.T.Helper()
	setCredentials(req, c)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatal(err)
	}
	return RawResponse{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

func setCredentials(req *http.Request, c Caller) {
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.TenantSlug != "" {
		req.Header.Set("X-Tenant-Slug", c.TenantSlug)
	}
	if c.TenantID != "" {
		req.Header.Set("X-Tenant-ID", c.TenantID)
	}
}

// send sends a prepared request as c and decodes the GraphQL response.
func (e *Env) send(c Caller, req *http.Request) *Response {
	e.T.Helper()
	r := e.roundTrip(c, req)
	out := &Response{Status: r.Status}
	if err := json.Unmarshal(r.Body, out); err != nil {
		e.T.Fatalf("response is not JSON (status %d): %s", r.Status, r.Body)
	}
	return out
}

// MustDo sends an operation and decodes its data into out (when not nil),
// failing the test on any error.
func (e *Env) MustDo(c Caller, query string, vars map[string]any, out any) {
	e.T.Helper()
	r := e.Do(c, query, vars)
	if len(r.Errors) > 0 {
		e.T.Fatalf("%s\nunexpected errors: %+v", firstLine(query), r.Errors)
	}
	if out != nil {
		r.Decode(e.T, out)
	}
}
