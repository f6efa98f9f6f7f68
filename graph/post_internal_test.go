package graph

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// endedExecutor answers every operation as gqlgen does when the request's
// context has ended before its responses are asked for: nil, the end of
// the stream.
type endedExecutor struct{}

func (endedExecutor) CreateOperationContext(context.Context, *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	return &graphql.OperationContext{Operation: &ast.OperationDefinition{Operation: ast.Query}}, nil
}

func (endedExecutor) DispatchOperation(ctx context.Context, _ *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	return func(context.Context) *graphql.Response { return nil }, ctx
}

func (endedExecutor) DispatchError(_ context.Context, errs gqlerror.List) *graphql.Response {
	return &graphql.Response{Errors: errs}
}

// A request whose context ends between the operation's dispatch and its
// response (the client went, or the timeout passed) is answered with a
// coded error, not a nil response's panic and its 500.
func TestRunOperationWhoseContextEnded(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func() context.Context
		code string
	}{
		{"cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, "CANCELLED"},
		{"timed out", func() context.Context {
			ctx, cancel := context.WithTimeout(context.Background(), 0)
			defer cancel()
			return ctx
		}, "INTERNAL_SERVER_ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			runOperation(tc.end(), w, endedExecutor{}, &graphql.RawParams{Query: "{ __typename }"}, "application/json", nil)
			var r struct {
				Errors []struct {
					Extensions map[string]any `json:"extensions"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != tc.code {
				t.Fatalf("got %d %s (%v), want one %s error", w.Code, w.Body, err, tc.code)
			}
		})
	}
}
