package graph_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
)

// A client that breaks graphql-transport-ws is disconnected with the close
// code the protocol names, which the graphql-ws client reports and does not
// retry: 4400 for a message that is not a client message (or an id over
// 128 bytes: a connection keeps its operations' ids), 4401 for subscribe
// before connection_init, 4409 for a second subscribe under a running id,
// 4429 for a second connection_init, 4408 when connection_init never comes.
func TestWebsocketProtocolErrors(t *testing.T) {
	e := graphtest.NewWithOptions(t, graphtest.Dialects(t)[0], graphtest.Options{
		Deps: func(d *graph.Deps) { d.WebsocketInitTimeout = 300 * time.Millisecond },
	})
	owner := e.Register("Owner")
	e.CreateTenant(owner, "proto")
	init := map[string]any{"Authorization": "Bearer " + owner.Token, "X-Tenant-Slug": "proto"}
	feed := `{"query":"subscription { notificationAdded { id } }"}`

	tests := []struct {
		name     string
		init     bool     // send connection_init first and wait for the ack
		messages []string // then send these
		want     websocket.StatusCode
	}{
		{"not JSON", true, []string{`hello`}, 4400},
		{"not an object", true, []string{`["subscribe"]`}, 4400},
		{"no type", true, []string{`{"id":"1"}`}, 4400},
		{"unknown type", true, []string{`{"type":"bogus"}`}, 4400},
		{"a server's message type", true, []string{`{"type":"next","id":"1","payload":{}}`}, 4400},
		{"subscribe without an id", true, []string{`{"type":"subscribe","payload":` + feed + `}`}, 4400},
		{"subscribe without a payload", true, []string{`{"type":"subscribe","id":"1"}`}, 4400},
		{"complete without an id", true, []string{`{"type":"complete"}`}, 4400},
		{"connection_init with a list payload", false, []string{`{"type":"connection_init","payload":[1]}`}, 4400},
		{"subscribe before connection_init", false, []string{`{"type":"subscribe","id":"1","payload":` + feed + `}`}, 4401},
		{"a running id again", true, []string{
			`{"type":"subscribe","id":"1","payload":` + feed + `}`,
			`{"type":"subscribe","id":"1","payload":` + feed + `}`,
		}, 4409},
		{"a running id again, the longest (128 bytes)", true, []string{
			`{"type":"subscribe","id":"` + strings.Repeat("é", 64) + `","payload":` + feed + `}`,
			`{"type":"subscribe","id":"` + strings.Repeat("é", 64) + `","payload":` + feed + `}`,
		}, 4409},
		{"an id over 128 bytes", true, []string{
			`{"type":"subscribe","id":"` + strings.Repeat("x", 129) + `","payload":` + feed + `}`,
		}, 4400},
		{"connection_init twice", true, []string{`{"type":"connection_init","payload":{}}`}, 4429},
		{"a complete before its subscribe, then the subscribe twice", true, []string{
			`{"type":"complete","id":"1"}`,
			`{"type":"subscribe","id":"1","payload":` + feed + `}`,
			`{"type":"subscribe","id":"1","payload":` + feed + `}`,
		}, 4409},
		{"no connection_init", false, nil, 4408},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn := dialRaw(t, e)
			if tc.init {
				initialise(t, conn, init)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for _, m := range tc.messages {
				if err := conn.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
					t.Fatalf("writing %s: %v", m, err)
				}
			}
			if got := closeStatus(ctx, conn); got != tc.want {
				t.Errorf("close code: got %d, want %d", got, tc.want)
			}
		})
	}

	// An id is free again once its subscription has ended, by the client's
	// complete or by the server's error, and the socket stays open.
	t.Run("an ended id is free again", func(t *testing.T) {
		conn := dialRaw(t, e)
		initialise(t, conn, init)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		send := func(m string) {
			t.Helper()
			if err := conn.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
				t.Fatalf("writing %s: %v", m, err)
			}
		}
		send(`{"type":"subscribe","id":"a","payload":` + feed + `}`)
		send(`{"type":"complete","id":"a"}`)
		// The id is free as soon as the client has completed it (the server
		// does not answer a client's complete, as graphql-ws's does not).
		send(`{"type":"subscribe","id":"a","payload":` + feed + `}`)
		// A subscription the server refuses ends with "error" ...
		send(`{"type":"subscribe","id":"b","payload":{"query":"subscription { nope }"}}`)
		expect(ctx, t, conn, "error", "b")
		// ... after which its id may be used again.
		send(`{"type":"subscribe","id":"b","payload":{"query":"subscription { nope }"}}`)
		expect(ctx, t, conn, "error", "b")
		send(`{"type":"ping"}`)
		expect(ctx, t, conn, "pong", "")
	})

	// A subscribe whose payload is an object but not a GraphQL request ends
	// that operation with "error" and a code; the socket stays open.
	t.Run("a payload that is not a GraphQL request", func(t *testing.T) {
		conn := dialRaw(t, e)
		initialise(t, conn, init)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var m wsMessage
		for _, payload := range []string{
			`{"query":5}`,
			// A field twice, as in a POST body: one would run, and a proxy
			// or log reading the other would see another request.
			`{"query":"{ currentTenant { slug } }","Query":"{ viewer { id } }"}`,
		} {
			if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","id":"q","payload":`+payload+`}`)); err != nil {
				t.Fatal(err)
			}
			if err := wsjson.Read(ctx, conn, &m); err != nil || m.Type != "error" || m.ID != "q" ||
				!strings.Contains(string(m.Payload), `"code":"BAD_USER_INPUT"`) {
				t.Fatalf("%s: got %+v (%s) %v, want an error for q with BAD_USER_INPUT", payload, m, m.Payload, err)
			}
		}
		if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","id":"q","payload":{"query":"{ currentTenant { slug } }"}}`)); err != nil {
			t.Fatal(err)
		}
		if err := wsjson.Read(ctx, conn, &m); err != nil || m.Type != "next" || !strings.Contains(string(m.Payload), `"slug":"proto"`) {
			t.Fatalf("got %+v (%s) %v, want the query served on the same socket", m, m.Payload, err)
		}
		expect(ctx, t, conn, "complete", "q")
	})

	// graphql-transport-ws is the only subprotocol served: a client that
	// does not offer it is upgraded and closed with 4406, as graphql-ws's
	// server does. One that offers the legacy graphql-ws only
	// (subscriptions-transport-ws, Apollo's WebSocketLink) has it accepted
	// in the handshake first: browsers and the ws package abort a handshake
	// whose answer names none of the subprotocols they offered, and would
	// report 1006, not 4406. One that offers both is served
	// graphql-transport-ws, whatever its order.
	t.Run("no graphql-transport-ws subprotocol", func(t *testing.T) {
		for _, offered := range [][]string{nil, {"graphql-ws"}} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			conn, resp, err := websocket.Dial(ctx, wsURL(e.URL), &websocket.DialOptions{Subprotocols: offered})
			if err != nil {
				cancel()
				t.Fatalf("dial offering %v: %v", offered, err)
			}
			if want := strings.Join(offered, ""); resp.Header.Get("Sec-WebSocket-Protocol") != want {
				t.Errorf("offering %v: the handshake answered subprotocol %q, want %q", offered, resp.Header.Get("Sec-WebSocket-Protocol"), want)
			}
			if got := closeStatus(ctx, conn); got != closeNotAcceptable {
				t.Errorf("offering %v: got close code %d, want %d", offered, got, closeNotAcceptable)
			}
			conn.CloseNow()
			cancel()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, resp, err := websocket.Dial(ctx, wsURL(e.URL), &websocket.DialOptions{Subprotocols: []string{"graphql-ws", "graphql-transport-ws"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "graphql-transport-ws" {
			t.Errorf("offering both: the handshake answered subprotocol %q, want graphql-transport-ws", got)
		}
	})
}

const closeNotAcceptable = 4406

func initialise(t *testing.T, conn *websocket.Conn, payload map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": payload}); err != nil {
		t.Fatalf("connection_init: %v", err)
	}
	expect(ctx, t, conn, "connection_ack", "")
}

// expect reads until a message of type typ with id. It passes over pings,
// completes and nexts (of the subscriptions the test leaves running).
func expect(ctx context.Context, t *testing.T, conn *websocket.Conn, typ, id string) {
	t.Helper()
	for {
		var m wsMessage
		if err := wsjson.Read(ctx, conn, &m); err != nil {
			t.Fatalf("waiting for %s %s: %v", typ, id, err)
		}
		if m.Type != typ && (m.Type == "ping" || m.Type == "complete" || m.Type == "next") {
			continue
		}
		if m.Type != typ || m.ID != id {
			t.Fatalf("got %s %s (%s), want %s %s", m.Type, m.ID, m.Payload, typ, id)
		}
		return
	}
}

// closeStatus reads until the server closes the socket and returns its code.
func closeStatus(ctx context.Context, conn *websocket.Conn) websocket.StatusCode {
	for {
		if _, _, err := conn.Read(ctx); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// The server pings a graphql-transport-ws client every
// WebsocketPingInterval. A client that answers (graphql-ws does by itself)
// stays connected; one that has sent nothing since the previous ping is
// taken for gone: its socket is closed and its subscription ends.
func TestWebsocketKeepAlive(t *testing.T) {
	const interval = 150 * time.Millisecond
	e := graphtest.NewWithOptions(t, graphtest.Dialects(t)[0], graphtest.Options{
		Deps: func(d *graph.Deps) { d.WebsocketPingInterval = interval },
	})
	owner := e.Register("Owner")
	e.CreateTenant(owner, "alive")
	init := map[string]any{"Authorization": "Bearer " + owner.Token, "X-Tenant-Slug": "alive"}
	feed := `{"type":"subscribe","id":"1","payload":{"query":"subscription { notificationAdded { id } }"}}`

	t.Run("a client that answers stays", func(t *testing.T) {
		conn := dialRaw(t, e)
		initialise(t, conn, init)
		ctx, cancel := context.WithTimeout(context.Background(), 10*interval)
		defer cancel()
		pings := 0
		for pings < 5 {
			var m wsMessage
			if err := wsjson.Read(ctx, conn, &m); err != nil {
				t.Fatalf("after %d pings: %v", pings, err)
			}
			if m.Type != "ping" {
				t.Fatalf("got %s, want ping", m.Type)
			}
			pings++
			if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`)); err != nil {
				t.Fatalf("pong: %v", err)
			}
		}
	})

	t.Run("a silent client is disconnected", func(t *testing.T) {
		before := subscribers(t, e)
		conn := dialRaw(t, e)
		initialise(t, conn, init)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := conn.Write(ctx, websocket.MessageText, []byte(feed)); err != nil {
			t.Fatal(err)
		}
		waitSubscribers(t, e, before+1, 5*time.Second)
		start := time.Now()
		pings := 0
		for {
			var m wsMessage
			if err := wsjson.Read(ctx, conn, &m); err != nil {
				if ctx.Err() != nil {
					t.Fatalf("still connected after %d unanswered pings", pings)
				}
				break
			}
			if m.Type == "ping" {
				pings++
			}
		}
		// The subscribe counts as hearing from the client once: the first
		// ping finds it alive, the second finds nothing since.
		if waited := time.Since(start); pings < 1 || waited < interval {
			t.Errorf("disconnected after %v and %d pings, want after a ping went unanswered", waited, pings)
		}
		waitSubscribers(t, e, before, 5*time.Second)
	})
}

// A client may send its first messages in the same packet as the upgrade
// request, before it has the 101; the server must read them after the
// upgrade, from what net/http has already buffered. Here the upgrade, a
// connection_init and a ping go out in one write, and the answers must be
// connection_ack and pong.
// Messages that arrive with the upgrade request, which net/http has already
// read, are not lost: neither a few bytes' worth nor more than the read
// buffer the connection keeps (websocket_socket.go).
func TestWebsocketMessagesInTheUpgradePacket(t *testing.T) {
	e := graphtest.New(t, graphtest.Dialects(t)[0])
	owner := e.Register("Owner")
	e.CreateTenant(owner, "early")
	for _, pad := range []int{0, 3000} {
		t.Run(fmt.Sprintf("%d bytes of padding", pad), func(t *testing.T) {
			upgradePacket(t, e, owner, pad)
		})
	}
}

func upgradePacket(t *testing.T, e *graphtest.Env, owner graphtest.User, pad int) {
	u, err := url.Parse(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))

	payload := initPayload(owner.Token, "early")
	payload["X-Padding"] = strings.Repeat("p", pad)
	init, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": payload})
	var out bytes.Buffer
	fmt.Fprintf(&out, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n", u.Path, u.Host)
	out.Write(clientFrame(0x1, init))
	out.Write(clientFrame(0x1, []byte(`{"type":"ping"}`)))
	if _, err := conn.Write(out.Bytes()); err != nil {
		t.Fatal(err)
	}

	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: got %s, want 101", resp.Status)
	}
	for _, want := range []string{"connection_ack", "pong"} {
		var m wsMessage
		if err := json.Unmarshal(serverFrame(t, r), &m); err != nil || m.Type != want {
			t.Fatalf("got %+v (%v), want %s", m, err, want)
		}
	}
}

// clientFrame is a final frame of the opcode (0x1: text) with the
// payload, masked as a client must.
func clientFrame(opcode byte, payload []byte) []byte {
	f := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n <= 0xffff:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	f = append(f, mask[:]...)
	for i, b := range payload {
		f = append(f, b^mask[i%4])
	}
	return f
}

// serverFrame reads one unmasked, unfragmented frame and returns its payload.
func serverFrame(t *testing.T, r *bufio.Reader) []byte {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			t.Fatal(err)
		}
		n = int(l[0])<<8 | int(l[1])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// The read loops read messages into pooled buffers, read into again as soon
// as a message is decoded (websocket_conn.go): an operation still starting must
// not see its payload overwritten by the next message. Forty operations
// sent back to back, two queries in turn on four sockets at once, each get
// their own query's answer.
func TestWebsocketBackToBackOperations(t *testing.T) {
	e := graphtest.New(t, graphtest.Dialects(t)[0])
	owner := e.Register("Owner")
	e.CreateTenant(owner, "burst")
	init := map[string]any{"Authorization": "Bearer " + owner.Token, "X-Tenant-Slug": "burst"}
	queries := []struct{ query, want string }{
		{`{ currentTenant { slug } }`, `{"data":{"currentTenant":{"slug":"burst"}}}`},
		{`{ viewer { name } }`, `{"data":{"viewer":{"name":"Owner"}}}`},
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			conn := dialRaw(t, e)
			initialise(t, conn, init)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			const n = 40
			for i := range n {
				q := queries[i%2]
				msg, _ := json.Marshal(map[string]any{"type": "subscribe", "id": strconv.Itoa(i), "payload": map[string]any{"query": q.query}})
				if err := conn.Write(ctx, websocket.MessageText, msg); err != nil {
					t.Error(err)
					return
				}
			}
			for answered := 0; answered < n; {
				var m wsMessage
				if err := wsjson.Read(ctx, conn, &m); err != nil {
					t.Errorf("after %d answers: %v", answered, err)
					return
				}
				if m.Type != "next" {
					continue
				}
				i, _ := strconv.Atoi(m.ID)
				if want := queries[i%2].want; string(m.Payload) != want {
					t.Errorf("operation %s: got %s, want %s", m.ID, m.Payload, want)
				}
				answered++
			}
		})
	}
	wg.Wait()
}

// A connection_init the server could not check, because its database did
// not answer, is closed with 1013 Try Again Later, not refused with 4403:
// graphql-ws retries both, but 4403 told the client, the logs and the
// metrics that its credentials were refused. The cause is logged.
func TestWebsocketInitWithoutADatabaseIsTryAgainLater(t *testing.T) {
	e := graphtest.New(t, graphtest.Dialects(t)[0])
	owner := e.Register("Owner")
	e.CreateTenant(owner, "proto")
	if err := e.DB.SQL.Close(); err != nil { // what the session's membership read needs
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, wsURL(e.Server.URL+"/graphql"), &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	init := map[string]any{"Authorization": "Bearer " + owner.Token, "X-Tenant-Slug": "proto"}
	if err := wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": init}); err != nil {
		t.Fatal(err)
	}
	if got := closeStatus(ctx, conn); got != websocket.StatusTryAgainLater {
		t.Errorf("close code: got %d, want %d (Try Again Later)", got, websocket.StatusTryAgainLater)
	}
	if !strings.Contains(e.Logs(), "resolving websocket session") {
		t.Errorf("the cause was not logged:\n%s", e.Logs())
	}
}

// One user holds at most MaxConnectionsPerUser websockets open at once:
// past it, connection_init is refused with 4403, and a connection that
// closes gives its place back. Other users are not counted against them.
// Each open socket keeps its subscriptions and their queries for as long
// as the token lives, and anyone can register.
func TestWebsocketConnectionsPerUser(t *testing.T) {
	e := graphtest.NewWithOptions(t, graphtest.Dialects(t)[0], graphtest.Options{
		Deps: func(d *graph.Deps) { d.MaxConnectionsPerUser = 2 },
	})
	owner, other := e.Register("Owner"), e.Register("Other")
	e.CreateTenant(owner, "socks")
	e.CreateTenant(other, "others")
	first, second := dialRaw(t, e), dialRaw(t, e)
	initialise(t, first, initPayload(owner.Token, "socks"))
	initialise(t, second, initPayload(owner.Token, "socks"))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	third := dialRaw(t, e)
	if err := wsjson.Write(ctx, third, map[string]any{"type": "connection_init", "payload": initPayload(owner.Token, "socks")}); err != nil {
		t.Fatal(err)
	}
	if got := closeStatus(ctx, third); got != 4403 {
		t.Errorf("a third connection of the same user: close code %d, want 4403", got)
	}
	initialise(t, dialRaw(t, e), initPayload(other.Token, "others")) // someone else's

	first.Close(websocket.StatusNormalClosure, "")
	// The server hears of the close asynchronously: the place comes back soon.
	for deadline := time.Now().Add(5 * time.Second); ; {
		again := dialRaw(t, e)
		if err := wsjson.Write(ctx, again, map[string]any{"type": "connection_init", "payload": initPayload(owner.Token, "socks")}); err != nil {
			t.Fatal(err)
		}
		var m wsMessage
		if err := wsjson.Read(ctx, again, &m); err == nil && m.Type == "connection_ack" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed connection did not give its place back")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// One address holds at most WSPendingPerAddress websockets whose
// connection_init has not been answered: until then a socket is anyone's,
// and they could otherwise be opened at any rate and held for the init
// timeout each. Past it, an upgrade is answered 429 with Retry-After; a
// socket gives its place back once initialised, or closed.
func TestWebsocketPendingSocketsPerAddress(t *testing.T) {
	e := graphtest.New(t, graphtest.Dialects(t)[0])
	owner := e.Register("Owner")
	e.CreateTenant(owner, "pending")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(e.URL, "http")
	dial := func() (*websocket.Conn, *http.Response, error) {
		return websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	}
	refused := func(what string) {
		t.Helper()
		_, resp, err := dial()
		if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Fatalf("%s: status %d (%v), want 429 with Retry-After", what, status, err)
		}
	}
	accepted := func(what string) *websocket.Conn {
		t.Helper()
		// The server hears of a close asynchronously: a place may come back a
		// moment later.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			conn, _, err := dial()
			if err == nil {
				t.Cleanup(func() { conn.CloseNow() })
				return conn
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", what, err)
			}
		}
	}
	conns := make([]*websocket.Conn, graph.WSPendingPerAddress)
	for i := range conns {
		conns[i] = accepted(fmt.Sprintf("pending socket %d", i+1))
	}
	refused("one more pending socket")
	initialise(t, conns[0], initPayload(owner.Token, "pending"))
	last := accepted("a socket after one was initialised")
	refused("one more again")
	last.Close(websocket.StatusNormalClosure, "")
	accepted("a socket after a pending one closed")
}
