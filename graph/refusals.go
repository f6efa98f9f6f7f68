package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/internal/apperr"
)

// howToSend ends every refusal of a request's shape: what the endpoint
// takes instead.
const howToSend = `send one operation per request: POST a JSON object such as {"query": "{ currentTenant { slug } }", "variables": {}} ` +
	`with Content-Type: application/json, or GET with ?query=... (queries only); subscriptions go over the websocket (graphql-transport-ws)`

// unsupportedTransport answers the HTTP requests no other transport takes:
// a POST whose Content-Type is not application/json (415: forms, multipart
// uploads, text/plain, application/graphql) and methods other than GET,
// POST, HEAD and OPTIONS (405). gqlgen's own answer, "transport not
// supported", says neither what was wrong nor what would do. It is added
// last, so it takes only what the others leave.
type unsupportedTransport struct {
	observe observeExtension // logs and counts each refusal
}

func (unsupportedTransport) Supports(*http.Request) bool { return true }

func (t unsupportedTransport) Do(w http.ResponseWriter, r *http.Request, _ graphql.GraphExecutor) {
	var status int
	var msg string
	switch ct := r.Header.Get("Content-Type"); {
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		status, msg = http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not supported; %s", r.Method, howToSend)
	case ct == "":
		status, msg = http.StatusUnsupportedMediaType, "the request has no Content-Type; "+howToSend
	default:
		status, msg = http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q is not supported; %s", ct, howToSend)
	}
	resp := &graphql.Response{Errors: gqlerror.List{codedError(apperr.New(apperr.Invalid, "%s", msg))}}
	w.Header().Set("Content-Type", responseContentType(r))
	w.WriteHeader(status)
	writeResponse(w, resp)
	t.observe.record(r.Context(), resp)
}

// undecodableBody is the error for a POST body that is not one GraphQL
// request: what is wrong in words a client can act on, never Go's own
// ("cannot unmarshal array into Go value of type graphql.RawParams").
func undecodableBody(err error) *gqlerror.Error {
	var msg string
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		msg = "the request body is empty; " + howToSend
	case errors.As(err, &typeErr) && typeErr.Field == "" && jsonKind(typeErr.Value) == "array":
		msg = "batching is not supported (the body is a JSON array); " + howToSend
	case errors.As(err, &typeErr) && typeErr.Field == "":
		msg = fmt.Sprintf("the request body is a JSON %s, not an object; %s", jsonKind(typeErr.Value), howToSend)
	case errors.As(err, &typeErr):
		msg = fmt.Sprintf("%q in the request body must be %s, not a JSON %s", typeErr.Field, wantedKind(typeErr.Type), jsonKind(typeErr.Value))
	default:
		msg = fmt.Sprintf("the request body is not valid JSON (%v); %s", err, howToSend)
	}
	return codedError(apperr.New(apperr.Invalid, "%s", msg))
}

// oneRequest refuses a body that held more than the one JSON object dec
// has just decoded from it: anything after it but white space (a second
// request, which would not run, or garbage), or an object that names a
// field of the request twice, of which encoding/json keeps the last
// ({"query": A, "query": B} ran B, and a proxy or log that read A saw
// another request). Fields are matched as encoding/json matches them, in
// any case ("Query" is query).
func oneRequest(dec *json.Decoder, body []byte) *gqlerror.Error {
	if _, err := dec.Token(); err != io.EOF {
		return codedError(apperr.New(apperr.Invalid, "%s", "the request body holds more than one JSON value; "+howToSend))
	}
	if name := repeatedField(body); name != "" {
		return codedError(apperr.New(apperr.Invalid, "%q appears more than once in the request body; %s", name, howToSend))
	}
	return nil
}

// requestFields are the fields of a GraphQL request's JSON
// (graphql.RawParams).
var requestFields = [...]string{"query", "operationName", "variables", "extensions"}

// requestFieldBytes are requestFields, to compare keys with.
var requestFieldBytes = func() (b [len(requestFields)][]byte) {
	for i, name := range requestFields {
		b[i] = []byte(name)
	}
	return b
}()

// repeatedField returns the first of requestFields that body, a JSON
// object that decoded, names more than once; "" if none is (and for null,
// which decodes to an empty request).
//
// It walks the object's keys over the bytes, stepping over the values
// without decoding them: every POST goes through it, and decoding the
// values again (a 1 MiB body's variables) cost half as much again as the
// request's own decoding. A key with an escape in it ("\u0071uery") is
// decoded, as encoding/json would read it.
func repeatedField(body []byte) string {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return ""
	}
	var seen [len(requestFields)]bool
	for i = skipSpace(body, i+1); i < len(body) && body[i] == '"'; {
		end := stringEnd(body, i)
		key := body[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var s string
			if json.Unmarshal(body[i:end], &s) != nil {
				return ""
			}
			key = []byte(s)
		}
		for f, name := range requestFieldBytes {
			if bytes.EqualFold(key, name) { // as encoding/json matches a field
				if seen[f] {
					return requestFields[f]
				}
				seen[f] = true
			}
		}
		i = skipSpace(body, end)
		if i >= len(body) || body[i] != ':' {
			return ""
		}
		i = skipSpace(body, valueEnd(body, skipSpace(body, i+1)))
		if i >= len(body) || body[i] != ',' {
			return ""
		}
		i = skipSpace(body, i+1)
	}
	return ""
}

// skipSpace returns the index of the first byte of b from i on that is not
// JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string that starts at
// b[i] (a quote).
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++ // the escaped byte
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// valueEnd returns the index just past the JSON value that starts at b[i]:
// a string, an object or array (to its matching bracket, over the strings
// in it), or a literal (to the next delimiter).
func valueEnd(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i = stringEnd(b, i)
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // a literal's end: the object's close
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}

// jsonKind is the JSON kind of an UnmarshalTypeError's Value ("number 5"
// names the number too).
func jsonKind(value string) string {
	kind, _, _ := strings.Cut(value, " ")
	return kind
}

// wantedKind names the JSON a field of graphql.RawParams takes.
func wantedKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "an object"
	default:
		return "a JSON " + t.Kind().String()
	}
}
