package graph

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/internal/server"
)

// getTransport serves GraphQL over HTTP GET exactly as gqlgen's
// transport.GET does (the same content negotiation, status codes and error
// messages), but writes its responses as postTransport does: through
// writeResponse, so that <, > and & in error messages (a parse error's
// "<Invalid>") are not turned into \u003c-style escapes, as json.Marshal
// would, and a client sees the same bytes whichever method it used.
type getTransport struct{ transport.GET }

// Supports takes every GET but a websocket handshake
// (server.IsWebsocketHandshake).
func (getTransport) Supports(r *http.Request) bool {
	return r.Method == http.MethodGet && !server.IsWebsocketHandshake(r)
}

func (t getTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		writeMessage(w, err.Error())
		return
	}
	contentType := responseContentType(r)
	w.Header().Set("Content-Type", contentType)

	raw := &graphql.RawParams{
		Query:         query.Get("query"),
		OperationName: query.Get("operationName"),
		Headers:       r.Header,
	}
	raw.ReadTime.Start = graphql.Now()
	if variables := query.Get("variables"); variables != "" {
		if err := decodeJSONParam(variables, &raw.Variables); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			writeMessage(w, "variables could not be decoded")
			return
		}
	}
	if extensions := query.Get("extensions"); extensions != "" {
		if err := decodeJSONParam(extensions, &raw.Extensions); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			writeMessage(w, "extensions could not be decoded")
			return
		}
	}
	raw.ReadTime.End = graphql.Now()

	runOperation(r.Context(), w, exec, raw, contentType, func(rc *graphql.OperationContext) bool {
		kind := rc.Doc.Operations.ForName(rc.OperationName).Operation
		if kind == ast.Query {
			return false
		}
		// 405, as the GraphQL-over-HTTP spec asks (gqlgen's GET transport
		// answers 406).
		w.Header().Set("Allow", http.MethodPost)
		w.WriteHeader(http.StatusMethodNotAllowed)
		if kind == ast.Subscription {
			writeMessage(w, "GET requests only allow query operations: subscriptions are served over websockets (graphql-transport-ws)")
		} else {
			writeMessage(w, "GET requests only allow query operations: send a mutation with POST")
		}
		return true
	})
}

// decodeJSONParam decodes a JSON query parameter, numbers kept as written.
func decodeJSONParam(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	return dec.Decode(v)
}

// writeMessage writes a response of one error with no code (the server's
// codedErrors gives a 4xx one BAD_USER_INPUT), as gqlgen's transports do.
func writeMessage(w http.ResponseWriter, msg string) {
	writeResponse(w, &graphql.Response{Errors: gqlerror.List{{Message: msg}}})
}
