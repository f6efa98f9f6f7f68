package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/internal/apperr"
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
	ctx := r.Context()
	contentType := responseContentType(r)
	w.Header().Set("Content-Type", contentType)
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		refuseGet(ctx, w, exec, http.StatusBadRequest, err.Error())
		return
	}
	// As a POST body's fields: named twice, one would run and a proxy or
	// log reading the other would see another request.
	for _, name := range requestFields {
		if len(query[name]) > 1 {
			refuseGet(ctx, w, exec, http.StatusBadRequest, fmt.Sprintf("%q appears more than once in the query string", name))
			return
		}
	}

	raw := &graphql.RawParams{
		Query:         query.Get("query"),
		OperationName: query.Get("operationName"),
		Headers:       r.Header,
	}
	raw.ReadTime.Start = graphql.Now()
	if variables := query.Get("variables"); variables != "" {
		if err := decodeJSONParam(variables, &raw.Variables); err != nil {
			refuseGet(ctx, w, exec, http.StatusBadRequest, "variables could not be decoded")
			return
		}
	}
	if extensions := query.Get("extensions"); extensions != "" {
		if err := decodeJSONParam(extensions, &raw.Extensions); err != nil {
			refuseGet(ctx, w, exec, http.StatusBadRequest, "extensions could not be decoded")
			return
		}
	}
	raw.ReadTime.End = graphql.Now()

	runOperation(ctx, w, exec, raw, contentType, func(rc *graphql.OperationContext) bool {
		kind := rc.Doc.Operations.ForName(rc.OperationName).Operation
		if kind == ast.Query {
			return false
		}
		// 405, as the GraphQL-over-HTTP spec asks (gqlgen's GET transport
		// answers 406).
		w.Header().Set("Allow", http.MethodPost)
		msg := "GET requests only allow query operations: send a mutation with POST"
		if kind == ast.Subscription {
			msg = "GET requests only allow query operations: subscriptions are served over websockets (graphql-transport-ws)"
		}
		refuseGet(graphql.WithOperationContext(ctx, rc), w, exec, http.StatusMethodNotAllowed, msg)
		return true
	})
}

// refuseGet answers a GET request that is not to run with status and one
// BAD_USER_INPUT error. The error goes through the executor's response
// interceptors, as a refused POST body's does, so the request is logged and
// counted (observeExtension), under its operation's name and type when ctx
// has them.
func refuseGet(ctx context.Context, w http.ResponseWriter, exec graphql.GraphExecutor, status int, msg string) {
	w.WriteHeader(status)
	writeResponse(w, exec.DispatchError(ctx, gqlerror.List{codedError(apperr.New(apperr.Invalid, "%s", msg))}))
}

// decodeJSONParam decodes a JSON query parameter, numbers kept as written;
// anything after the value but white space is an error, as in a POST body
// (oneRequest).
func decodeJSONParam(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("graph: more than one JSON value")
	}
	return nil
}
