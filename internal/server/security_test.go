package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestCodedErrorsKeepMessagesAsWritten: the code codedErrors adds to a bare
// 4xx error from gqlgen comes without json.Marshal's HTML escaping, so a
// message's <, > and & reach the client as written, as they do from the
// GraphQL layer.
func TestCodedErrorsKeepMessagesAsWritten(t *testing.T) {
	h := codedErrors(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"errors":[{"message":"found \u003cInvalid\u003e \u0026 more"}],"data":null}`))
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/graphql", nil))
	want := `{"data":null,"errors":[{"extensions":{"code":"BAD_USER_INPUT"},"message":"found <Invalid> & more"}]}` + "\n"
	if got := w.Body.String(); w.Code != http.StatusBadRequest || got != want {
		t.Errorf("got %d %s, want 400 %s", w.Code, got, want)
	}
}
