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
// An Upgrade header does not change that: only a websocket handshake (a GET
// without a body) is exempt from the timeout.
func TestRequestTimeoutBoundsASlowBody(t *testing.T) {
	tests := []struct {
		name, method, headers string
	}{
		{"plain POST", "POST", ""},
		{"POST with Upgrade: websocket", "POST", "Upgrade: websocket\r\nConnection: Upgrade\r\n"},
		{"GET with Upgrade: websocket and a body", "GET", "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
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
			if _, err := io.WriteString(conn, tt.method+" /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
				tt.headers+"Content-Length: 100000\r\n\r\n{"); err != nil {
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
		})
	}
}

// TestIsWebsocketHandshake: the requests exempt from the request timeout
// are GETs without a body that ask to upgrade to websocket, in the header
// forms browsers and libraries send (token lists, any case, several lines).
func TestIsWebsocketHandshake(t *testing.T) {
	tests := []struct {
		name   string
		method string
		header http.Header
		body   io.Reader
		want   bool
	}{
		{"browser", "GET", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, nil, true},
		{"Firefox", "GET", http.Header{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"websocket"}}, nil, true},
		{"any case", "GET", http.Header{"Connection": {"UPGRADE"}, "Upgrade": {"WebSocket"}}, nil, true},
		{"token lists over several lines", "GET", http.Header{"Connection": {"keep-alive", "upgrade"}, "Upgrade": {"h2c, websocket"}}, nil, true},
		{"POST", "POST", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, nil, false},
		{"GET with a body", "GET", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, strings.NewReader("{}"), false},
		{"no Connection: upgrade", "GET", http.Header{"Upgrade": {"websocket"}}, nil, false},
		{"Connection naming another header", "GET", http.Header{"Connection": {"upgraded"}, "Upgrade": {"websocket"}}, nil, false},
		{"another protocol", "GET", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"h2c"}}, nil, false},
		{"no Upgrade", "GET", http.Header{"Connection": {"Upgrade"}}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/graphql", tt.body)
			r.Header = tt.header
			if got := IsWebsocketHandshake(r); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestWriteDeadlineBoundsAnUnreadResponse: a client that asks for a large
// answer and never reads it does not hold the handler in Write for ever:
// the write fails, and the handler ends, by REQUEST_TIMEOUT plus
// writeMargin.
func TestWriteDeadlineBoundsAnUnreadResponse(t *testing.T) {
	const timeout = 300 * time.Millisecond
	ended := make(chan error, 1)
	srv := httptest.NewServer(Handler(Config{
		GraphQL: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chunk := make([]byte, 64<<10)
			var err error
			for i := 0; i < 1<<14 && err == nil; i++ { // up to 1 GiB, far more than the sockets' buffers
				_, err = w.Write(chunk)
			}
			ended <- err
		}),
		Logger:         slog.New(slog.DiscardHandler),
		RequestTimeout: timeout,
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() // before srv.Close, which waits for the handler
	start := time.Now()
	if _, err := io.WriteString(conn, "GET /graphql?query=%7B__typename%7D HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	bound := timeout + writeMargin
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the handler wrote 1 GiB to a client that reads nothing; want a failed write")
		}
		if took := time.Since(start); took > bound+2*time.Second {
			t.Errorf("the handler ended after %s, want about %s (REQUEST_TIMEOUT plus writeMargin)", took, bound)
		}
	case <-time.After(bound + 5*time.Second):
		t.Fatalf("the handler still writes to a client that reads nothing after %s; want it ended by %s", bound+5*time.Second, bound)
	}
}
