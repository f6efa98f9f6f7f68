package server

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
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

// TestRequestTimeoutBoundsASlowBody: a client that sends its body a byte at
// a time is answered once REQUEST_TIMEOUT has passed, instead of holding the
// request (and a graceful shutdown) open for as long as it keeps sending.
func TestRequestTimeoutBoundsASlowBody(t *testing.T) {
	srv := httptest.NewServer(Handler(Config{
		GraphQL: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
		}),
		Logger:         slog.New(slog.DiscardHandler),
		RequestTimeout: 300 * time.Millisecond,
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	answered := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(conn).ReadString('\n')
		answered <- line
	}()
	trickle := time.NewTicker(50 * time.Millisecond)
	defer trickle.Stop()
	giveUp := time.After(3 * time.Second)
	for {
		select {
		case line := <-answered:
			if !strings.HasPrefix(line, "HTTP/1.1 400") {
				t.Errorf("answer %q, want HTTP/1.1 400", line)
			}
			return
		case <-trickle.C:
			_, _ = io.WriteString(conn, " ")
		case <-giveUp:
			t.Fatal("no answer after 3s of a body trickled a byte at a time; want one after the 300ms request timeout")
		}
	}
}
