package graph

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/internal/jsonenc"
)

// postTransport serves GraphQL over HTTP POST as gqlgen's transport.POST
// does (the same content negotiation and status codes), but for two things.
// A body that is not one GraphQL request is refused in words a client can
// act on (undecodableBody), not in Go's. And it writes the response around
// the executor's data instead of handing the whole response to json.Marshal.
// The executor has already written the data as compact JSON; json.Marshal
// would scan all of it again, byte by byte, to validate and compact it (on
// the contract's ProjectTree, 391 kB, about 5% of the request's CPU). The
// one difference in the bytes: json.Marshal also escapes <, > and & inside
// strings as \u003c, \u003e and \u0026; here neither the data (written as
// the executor encodes it) nor the errors (appendJSON) are. The response is
// application/json with X-Content-Type-Options: nosniff (internal/server),
// so no browser takes it for HTML.
type postTransport struct{ transport.POST }

// Supports takes a POST of application/json, whatever its Upgrade header
// says (gqlgen's refuses any).
func (postTransport) Supports(r *http.Request) bool {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && r.Method == http.MethodPost && mediaType == "application/json"
}

func (t postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	contentType := responseContentType(r)
	w.Header().Set("Content-Type", contentType)
	start := graphql.Now()

	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("could not read request body: %+v", err)}))
		return
	}
	params := &graphql.RawParams{}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(params); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{undecodableBody(err)}))
		return
	}
	if err := oneRequest(dec, body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{err}))
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	runOperation(ctx, w, exec, params, contentType, nil)
}

// runOperation runs the request params and writes its response, for the
// POST and GET transports: a request that does not parse or validate is
// answered as the GraphQL-over-HTTP spec says (400 for the newer media
// type, 422 as gqlgen answers application/json); refuse, when set, may
// answer a valid operation instead of running it (GET: queries only).
func runOperation(ctx context.Context, w http.ResponseWriter, exec graphql.GraphExecutor, params *graphql.RawParams,
	contentType string, refuse func(*graphql.OperationContext) bool) {
	rc, opErr := createOperation(ctx, exec, params)
	if opErr != nil {
		if errcode.GetErrorKind(opErr) == errcode.KindProtocol {
			if contentType == graphqlResponseJSON {
				w.WriteHeader(http.StatusBadRequest)
			} else {
				w.WriteHeader(http.StatusUnprocessableEntity)
			}
		}
		writeResponse(w, exec.DispatchError(graphql.WithOperationContext(ctx, rc), opErr))
		return
	}
	if refuse != nil && refuse(rc) {
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	resp := responses(ctx)
	if resp == nil {
		// gqlgen's end of stream: the request's context ended (the client
		// went, or REQUEST_TIMEOUT passed) before the operation ran.
		err := asCancelled(ctx, fmt.Errorf("graph: the operation did not run: %w", cmp.Or(ctx.Err(), context.Canceled)))
		writeResponse(w, &graphql.Response{Errors: gqlerror.List{codedError(err)}})
		return
	}
	writeResponse(w, resp)
	// Written (a ResponseWriter keeps nothing it was given once Write has
	// returned), the data's buffer can take the next response.
	recycleResponse(resp.Data)
}

const graphqlResponseJSON = "application/graphql-response+json"

// responseContentType picks the response's media type from the Accept
// header as transport.POST does: application/json when Accept is absent or
// a wildcard, the first of the two JSON types it names otherwise, and
// application/graphql-response+json when it names neither.
func responseContentType(r *http.Request) string {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return "application/json"
	}
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mediaType {
		case "*/*", "application/*", "application/json":
			return "application/json"
		case graphqlResponseJSON:
			return graphqlResponseJSON
		}
	}
	return graphqlResponseJSON
}

// writeResponse writes resp as json.Marshal would (the same keys, in the
// same order, each omitted when empty as graphql.Response's tags say), but
// writes resp.Data, which the executor wrote, as it is and straight to w
// rather than through one more copy.
func writeResponse(w io.Writer, resp *graphql.Response) {
	var head bytes.Buffer
	head.WriteByte('{')
	if len(resp.Errors) > 0 {
		head.WriteString(`"errors":`)
		appendJSON(&head, resp.Errors)
		head.WriteByte(',')
	}
	head.WriteString(`"data":`)
	if len(resp.Data) == 0 {
		head.WriteString("null")
	} else {
		_, _ = w.Write(head.Bytes())
		_, _ = w.Write(resp.Data)
		head.Reset()
	}
	if resp.Label != "" {
		head.WriteString(`,"label":`)
		appendJSON(&head, resp.Label)
	}
	if len(resp.Path) > 0 {
		head.WriteString(`,"path":`)
		appendJSON(&head, resp.Path)
	}
	if resp.HasNext != nil {
		head.WriteString(`,"hasNext":`)
		head.WriteString(strconv.FormatBool(*resp.HasNext))
	}
	if len(resp.Extensions) > 0 {
		head.WriteString(`,"extensions":`)
		appendJSON(&head, resp.Extensions)
	}
	head.WriteByte('}')
	_, _ = w.Write(head.Bytes())
}

// appendJSON appends v's JSON encoding (jsonenc: <, > and & as written).
// The values written with it (errors, a label, a path, extensions) are
// plain data that always encode; were one not to, the response would be
// malformed, so that is a panic, as in gqlgen's transport.
func appendJSON(b *bytes.Buffer, v any) {
	if err := jsonenc.Append(b, v); err != nil {
		panic(err)
	}
}
