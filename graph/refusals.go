package graph

import (
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
