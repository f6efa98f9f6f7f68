package graph

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"

	"tenantgraph/internal/ratelimit"
	"tenantgraph/internal/server"
	"tenantgraph/internal/tenancy"
)

// wsTransport serves GraphQL over websockets with graphql-transport-ws, the
// protocol of the graphql-ws library (Apollo Client's GraphQLWsLink,
// GraphiQL). It replaces gqlgen's websocket transport, which holds, for each
// idle connection, the HTTP handler's goroutine with its buffers and deep
// stack, a goroutine that waits for the connection's end, and a goroutine
// per subscription that waits for its next event. Here an idle connection
// is one goroutine, waiting for its client's next message on a 2 KiB
// stack, and the objects that describe it:
//
//   - The handler returns once the connection is upgraded; the connection
//     is read on a goroutine of its own, which waits shallowly, in the
//     network poller, reads and acts on one message (connection_init
//     looks up the session), then leaves the next wait to a fresh
//     goroutine (serve), so no idle connection keeps a stack grown while
//     reading. An operation (subscribe parses, validates and runs the
//     resolver) starts on a short-lived goroutine.
//   - A subscription whose resolver signals its events (the feed:
//     wakeOnEvent) has no goroutine while it waits. Each event queues a
//     pump for one of the kept workers (pumpers), which executes the
//     selection set for the events ready and moves on.
//     Other streams, and queries and mutations, run on a goroutine until
//     they end, as under gqlgen.
//   - Each message is written once, straight from the executor's bytes.
//
// The protocol is enforced as graphql-ws defines it: a client that breaks
// it is closed with the code the protocol names (4400, 4401, 4406, 4408,
// 4409, 4429), which the graphql-ws client reports and does not retry; the
// server pings every pingInterval and closes a connection from which
// nothing at all has arrived since the previous ping; every write has a
// deadline, so a client that stops reading is disconnected instead of
// holding its subscriptions for ever. Server shutdown drains every
// connection (beginDrain, drain: http.Server.Shutdown neither waits for nor
// ends hijacked connections): its queries and mutations answer, then it is
// closed with 1001, and the graphql-ws client reconnects, to another
// instance behind the load balancer.
//
// The transport is in six files: this one (the upgrade, and the
// connections it keeps), websocket_socket.go (the buffers and deadlines
// of the hijacked socket), websocket_conn.go (one connection: its read
// loop and the protocol's messages), websocket_operation.go (one
// operation: from subscribe to complete), websocket_stream.go (the events
// of a subscription, pumped by kept workers) and websocket_drain.go (the
// shutdown's drain, and the 1013 after a live feed missed events).
type wsTransport struct {
	wsOptions
	accept websocket.AcceptOptions

	pumps *pumpers
	// pending counts, by client address, the sockets whose connection_init
	// has not been answered (wsPendingPerAddress).
	pending *perKey[string]

	mu      sync.Mutex
	conns   map[*wsConn]struct{}
	servers map[*http.Server]struct{} // those whose shutdown drains conns
	// draining: the server is shutting down (drain). drained, once a
	// drain waits, is closed when the last connection has ended.
	draining bool
	drained  chan struct{}
}

// wsOptions are the transport's settings (NewHandler fills them from Deps).
type wsOptions struct {
	origins []string // host patterns allowed to upgrade from another origin
	// init authenticates connection_init's payload: it returns the
	// connection's session, or an error with which the socket is closed
	// (4403).
	init func(ctx context.Context, payload map[string]any) (wsSession, error)
	// connContext returns the context a connection starts from, with what
	// it needs of the upgrade request's; nil: the request's values, without
	// its end.
	connContext  func(r *http.Request) context.Context
	recover      graphql.RecoverFunc // for a panic while serving an operation
	readLimit    int64
	writeTimeout time.Duration
	initTimeout  time.Duration
	pingInterval time.Duration
	// operationTimeout bounds a query or mutation sent over the socket, as
	// the HTTP server bounds a request (0: no bound). Subscriptions live
	// until they end.
	operationTimeout time.Duration
}

// The subprotocol, and the close codes of graphql-transport-ws for a
// client that breaks the protocol.
const (
	wsSubprotocol = "graphql-transport-ws"
	// wsLegacySubprotocol is subscriptions-transport-ws's, which is not
	// served: it is accepted in the handshake only when the client offers
	// nothing better (the server's order wins), so that the client hears
	// the 4406 that follows. Browsers and the ws package abort a handshake
	// whose answer names none of the subprotocols they offered (1006).
	wsLegacySubprotocol = "graphql-ws"

	closeBadRequest        = 4400 // a message that is not a valid client message
	closeUnauthorized      = 4401 // subscribe before connection_init
	closeForbidden         = 4403 // connection_init refused; the token has expired
	closeNotAcceptable     = 4406 // no graphql-transport-ws subprotocol
	closeInitTimeout       = 4408 // no connection_init in time
	closeSubscriberExists  = 4409 // subscribe with the id of a running subscription
	closeTooManyInitialise = 4429 // a second connection_init
)

// errInitFailed is what init answers when the server could not decide on
// a connection_init (the database did not answer): the connection is
// closed with 1013 Try Again Later, which graphql-ws retries as it retries
// 4403, and which tells the client, the logs and the metrics that this was
// not a refusal of its credentials.
var errInitFailed = errors.New("try again later: internal server error")

func newWSTransport(o wsOptions) *wsTransport {
	return &wsTransport{
		wsOptions: o,
		accept:    websocket.AcceptOptions{Subprotocols: []string{wsSubprotocol, wsLegacySubprotocol}, OriginPatterns: o.origins},
		conns:     map[*wsConn]struct{}{},
		servers:   map[*http.Server]struct{}{},
		pumps:     newPumpers(),
		pending:   newPerKey[string](wsPendingPerAddress),
	}
}

var _ graphql.Transport = (*wsTransport)(nil)

// Supports takes every upgrade request; one without graphql-transport-ws
// among its subprotocols is upgraded and closed with 4406 (Do).
func (t *wsTransport) Supports(r *http.Request) bool { return server.IsWebsocketHandshake(r) }

func (t *wsTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	// Until its connection_init has been answered (up to the init
	// timeout), a socket is anyone's: one address may hold only so many
	// such at once. A client sends connection_init as soon as it is
	// connected, so that even a reconnecting crowd behind one address
	// holds few at a time.
	addr := ratelimit.AddressKey(tenancy.CredentialsFrom(r.Context()).ClientAddr)
	if !t.pending.take(addr) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many websockets of this address are waiting for their connection_init", http.StatusTooManyRequests)
		return
	}
	pending := func() { t.pending.give(addr) }
	var hijacked hijackedConn
	ws, err := websocket.Accept(smallBuffers{w, t.writeTimeout, &hijacked}, r, &t.accept)
	if err != nil {
		pending()
		return // Accept has answered: 403 for a foreign origin, 426 for a bad handshake
	}
	if ws.Subprotocol() != wsSubprotocol {
		pending()
		go ws.Close(closeNotAcceptable, "Subprotocol not acceptable")
		return
	}
	ws.SetReadLimit(t.readLimit)
	// The connection outlives the request: it keeps none of the request's
	// end, and only what connContext keeps of its values.
	base := context.WithoutCancel(r.Context())
	if t.connContext != nil {
		base = t.connContext(r)
	}
	ctx, cancel := context.WithCancel(base)
	c := &wsConn{t: t, ws: ws, exec: exec, ctx: ctx, cancel: cancel, ops: map[string]*wsOperation{}, heard: true,
		starting: make(chan struct{}, wsStarting), br: hijacked.br, early: hijacked.early,
		release: pending} // until connection_init's session replaces it (initialise)
	if sc, ok := hijacked.conn.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	if !t.track(c, r) {
		cancel()
		pending()
		go ws.Close(websocket.StatusGoingAway, "Server shutting down")
		return
	}
	c.mu.Lock() // the timers' functions read them under the lock
	c.initTimer = time.AfterFunc(t.initTimeout, c.initTimedOut)
	if t.pingInterval > 0 {
		c.pinger = time.AfterFunc(t.pingInterval, c.ping)
	}
	c.mu.Unlock()
	go c.serve()
}

// track registers c, and its server's shutdown to drain it; false when a
// drain has begun.
func (t *wsTransport) track(c *wsConn, r *http.Request) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.draining {
		return false
	}
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok {
		if _, seen := t.servers[srv]; !seen {
			t.servers[srv] = struct{}{}
			srv.RegisterOnShutdown(t.beginDrain)
		}
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *wsTransport) untrack(c *wsConn) {
	t.mu.Lock()
	delete(t.conns, c)
	if len(t.conns) == 0 && t.drained != nil {
		close(t.drained)
		t.drained = nil
	}
	t.mu.Unlock()
}

// wsPendingPerAddress is how many websockets one client address may hold
// that have not had their connection_init answered (an IPv6 client counts
// by its /64).
const wsPendingPerAddress = 100

// perKey counts what each key holds, up to most.
type perKey[K comparable] struct {
	mu   sync.Mutex
	most int
	of   map[K]int32 // no entry: none
}

func newPerKey[K comparable](most int) *perKey[K] {
	return &perKey[K]{most: most, of: map[K]int32{}}
}

// take counts one more for k, unless k holds most already.
func (p *perKey[K]) take(k K) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if int(p.of[k]) >= p.most {
		return false
	}
	p.of[k]++
	return true
}

// give counts one less for k.
func (p *perKey[K]) give(k K) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.of[k]--; p.of[k] <= 0 {
		delete(p.of, k)
	}
}
