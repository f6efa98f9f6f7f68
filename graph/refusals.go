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
var requestFields = []string{"query", "operationName", "variables", "extensions"}

// repeatedField returns the first of requestFields that body, a JSON
// object that decoded, names more than once; "" if none is.
func repeatedField(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "" // null, which decodes to an empty request
	}
	seen := make(map[string]bool, len(requestFields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		key, _ := tok.(string)
		for _, name := range requestFields {
			if strings.EqualFold(key, name) {
				if seen[name] {
					return name
				}
				seen[name] = true
			}
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return ""
		}
	}
	return ""
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
