package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/lib/pq"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/ent"
	"tenantgraph/ent/privacy"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/globalid"
)

func TestErrorPresenterMapping(t *testing.T) {
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, nil)
	secret := errors.New(`pq: duplicate key value violates unique constraint "users_email_key" SELECT * FROM users`)
	cases := []struct {
		name        string
		err         error
		wantCode    string
		wantMessage string
		wantLogged  bool
	}{
		{"domain error keeps its message", apperr.New(apperr.Conflict, "the slug %q is taken", "acme"), "CONFLICT", `the slug "acme" is taken`, false},
		{"wrapped domain error", fmt.Errorf("outer: %w", apperr.InvalidField("name", "too long")), "BAD_USER_INPUT", "name: too long", false},
		{"malformed ID", fmt.Errorf("arg: %w", globalid.ErrMalformed), "BAD_USER_INPUT", "malformed ID", false},
		{"ent not found", &ent.NotFoundError{}, "NOT_FOUND", "not found", false},
		{"deadlock", fmt.Errorf("projects: loading project: %w", &pq.Error{Code: "40P01", Message: "deadlock detected"}), "CONFLICT",
			"a concurrent change got in the way, and nothing was written: send the mutation again", false},
		{"privacy deny", fmt.Errorf("q: %w", privacy.Deny), "FORBIDDEN", "access denied", false},
		{"driver error is masked", fmt.Errorf("projects: creating: %w", secret), "INTERNAL_SERVER_ERROR", "internal server error", true},
		{"cancelled", fmt.Errorf("querying: %w", context.Canceled), "CANCELLED", "the request was cancelled", false},
		{"timed out", fmt.Errorf("querying: %w", context.DeadlineExceeded), "INTERNAL_SERVER_ERROR", "the request timed out", true},
		{"coded gqlgen error is kept", &gqlerror.Error{Message: "Cannot query field", Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}}, "GRAPHQL_VALIDATION_FAILED", "Cannot query field", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			got := errorPresenter(slog.New(slog.NewTextHandler(&logs, nil)), true)(ctx, tc.err)
			if code := got.Extensions["code"]; code != tc.wantCode {
				t.Errorf("code: got %v, want %s", code, tc.wantCode)
			}
			if got.Message != tc.wantMessage {
				t.Errorf("message: got %q, want %q", got.Message, tc.wantMessage)
			}
			if logged := logs.Len() > 0; logged != tc.wantLogged {
				t.Errorf("logged: got %v (%s), want %v", logged, logs.String(), tc.wantLogged)
			}
			if tc.wantLogged && !strings.Contains(logs.String(), strings.SplitN(tc.err.Error(), `"`, 2)[0]) {
				t.Errorf("log: got %q, want the full error", logs.String())
			}
		})
	}
}

func TestRecoverFuncMasksPanics(t *testing.T) {
	var logs bytes.Buffer
	err := recoverFunc(slog.New(slog.NewTextHandler(&logs, nil)))(context.Background(), "boom: SELECT secret")
	if apperr.KindOf(err) != apperr.Internal || strings.Contains(err.Error(), "SELECT") {
		t.Errorf("got %v, want a masked internal error", err)
	}
	if !strings.Contains(logs.String(), "boom: SELECT secret") || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("log: got %q, want the panic value and its stack", logs.String())
	}
}

// A request whose context was cancelled (the client went away) is
// CANCELLED whatever error its cancellation caused, such as lib/pq's, which
// does not wrap context.Canceled; one whose deadline passed is the server's
// timeout, an internal error.
func TestErrorPresenterCancelledRequest(t *testing.T) {
	base := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, nil)
	pqCancel := errors.New("pq: canceling statement due to user request")
	cancelled, cancel := context.WithCancel(base)
	cancel()
	expired, cancel := context.WithDeadline(base, time.Now().Add(-time.Second))
	defer cancel()
	for _, tc := range []struct {
		name       string
		ctx        context.Context
		wantCode   string
		wantLogged bool
	}{
		{"cancelled request", cancelled, "CANCELLED", false},
		{"expired request", expired, "INTERNAL_SERVER_ERROR", true},
		{"live request", base, "INTERNAL_SERVER_ERROR", true},
	} {
		var logs bytes.Buffer
		got := errorPresenter(slog.New(slog.NewTextHandler(&logs, nil)), true)(tc.ctx, pqCancel)
		if got.Extensions["code"] != tc.wantCode {
			t.Errorf("%s: code %v, want %s", tc.name, got.Extensions["code"], tc.wantCode)
		}
		if logged := logs.Len() > 0; logged != tc.wantLogged {
			t.Errorf("%s: logged %v (%s), want %v", tc.name, logged, logs.String(), tc.wantLogged)
		}
		if err := asCancelled(tc.ctx, pqCancel); apperr.Is(err, apperr.Cancelled) != (tc.wantCode == "CANCELLED") {
			t.Errorf("%s: asCancelled gave %v", tc.name, err)
		}
		// Outside the presenter (the session lookup), the same code, and
		// the timeout says so.
		coded := codedError(asCancelled(tc.ctx, pqCancel))
		want := map[string]string{"cancelled request": "the request was cancelled", "expired request": "the request timed out",
			"live request": "internal server error"}[tc.name]
		if coded.Extensions["code"] != tc.wantCode || coded.Message != want {
			t.Errorf("%s: codedError(asCancelled) gave %q %v, want %q %s", tc.name, coded.Message, coded.Extensions["code"], want, tc.wantCode)
		}
	}
}
