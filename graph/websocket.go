package graph

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/internal/apperr"
	"tenantgraph/internal/jsonenc"
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
		accept:    websocket.AcceptOptions{Subprotocols: []string{wsSubprotocol}, OriginPatterns: o.origins},
		conns:     map[*wsConn]struct{}{},
		servers:   map[*http.Server]struct{}{},
		pumps:     newPumpers(),
		pending:   newPerKey[string](wsPendingPerAddress),
	}
}

var _ graphql.Transport = (*wsTransport)(nil)

// Supports takes every upgrade request; one without graphql-transport-ws
// among its subprotocols is upgraded and closed with 4406.
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

// The buffers coder/websocket reads and writes frames through, for the
// connection's life. net/http hands over 4 KiB each; at those sizes they
// would be 8 KiB of every idle connection's memory. Reads are few and
// small (the client's subscribes, pongs), a notification fits the write
// buffer in one write, and larger reads and writes bypass the buffers.
const (
	wsReadBuffer  = 512
	wsWriteBuffer = 1024
)

// smallBuffers hijacks the connection for websocket.Accept with buffers of
// wsReadBuffer and wsWriteBuffer bytes in place of net/http's, and with
// writeTimeout on every write (writeDeadline). Bytes the client sent right
// behind its upgrade request, which net/http has already read, are read
// before the socket (earlyConn).
type smallBuffers struct {
	http.ResponseWriter
	writeTimeout time.Duration
	hijacked     *hijackedConn // set by Hijack
}

// hijackedConn is what smallBuffers.Hijack handed coder/websocket: the
// socket, the bytes that came with the upgrade request (nil: none) and the
// read buffer in front of them (awaitMessage).
type hijackedConn struct {
	conn  net.Conn
	early *earlyConn
	br    *bufio.Reader
}

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h := hijackedConn{conn: conn}
	var in net.Conn = conn
	if early := brw.Reader.Buffered(); early > 0 {
		b, _ := brw.Reader.Peek(early)
		h.early = &earlyConn{Conn: conn, early: bytes.Clone(b)}
		in = h.early
	}
	h.br = bufio.NewReaderSize(in, wsReadBuffer)
	var out io.Writer = conn
	if w.writeTimeout > 0 {
		out = &writeDeadline{Conn: conn, timeout: w.writeTimeout}
	}
	*w.hijacked = h
	return in, bufio.NewReadWriter(h.br, bufio.NewWriterSize(out, wsWriteBuffer)), nil
}

// earlyConn is the connection as coder/websocket reads it when the client
// sent messages right behind its upgrade request, which net/http has
// already read: those bytes first, then the socket. (coder/websocket
// would keep them in a reader of its own, where awaitMessage could not
// see that they are waiting.)
type earlyConn struct {
	net.Conn
	mu    sync.Mutex
	early []byte
}

func (c *earlyConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.early) > 0 {
		n := copy(p, c.early)
		c.early = c.early[n:]
		if len(c.early) == 0 {
			c.early = nil
		}
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// pending reports whether early bytes are still to be read.
func (c *earlyConn) pending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.early) > 0
}

// writeDeadline gives each write to the connection a deadline at least
// timeout from its start: the server's messages, and coder/websocket's
// pongs and close frames. A client that stops reading is disconnected once
// its buffers are full (the failed write closes the connection). The
// deadline is set a quarter of timeout further than needed, and moved only
// when a write would start with less than timeout of it left: a broadcast
// to 10,000 subscribers otherwise paid a timer update per message, about
// 5% of its CPU. So a write that blocks fails between timeout and 1.25
// timeout after it started. (A context with a timeout per message cost a
// timer, a context and coder/websocket's context.AfterFunc.)
// coder/websocket writes one frame at a time, under its own lock; until
// is atomic all the same.
type writeDeadline struct {
	net.Conn
	timeout time.Duration
	until   atomic.Int64 // the deadline set, in Unix nanoseconds; 0: none yet
}

func (c *writeDeadline) Write(p []byte) (int, error) {
	now := time.Now()
	if now.Add(c.timeout).UnixNano() > c.until.Load() {
		until := now.Add(c.timeout + c.timeout/4)
		if err := c.SetWriteDeadline(until); err != nil {
			return 0, err
		}
		c.until.Store(until.UnixNano())
	}
	return c.Conn.Write(p)
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

// beginDrain starts the shutdown's drain, once: new connections are
// refused, and each connection stops starting operations and is closed
// with 1001 once the queries and mutations it runs have answered (at once
// when it runs none). Subscriptions are not completed: graphql-ws takes a
// completed subscription for finished, and subscribes again, to another
// instance, only to one that its connection's close ended. The operations
// a draining connection does not start are the client's to send again
// after it reconnects, as graphql-ws does with every operation not
// completed.
//
// A query or mutation the client sent before is answered, so that
// graphql-ws does not send it again elsewhere: closed while a mutation
// runs, the connection would leave the client not knowing whether it was
// done, and graphql-ws would repeat it on the next connection.
//
// Every connection is marked under t.mu, with the transport, so that once
// the transport is seen draining each of its connections is too.
func (t *wsTransport) beginDrain() {
	t.mu.Lock()
	if t.draining {
		t.mu.Unlock()
		return
	}
	t.draining = true
	var idle []*wsConn
	for c := range t.conns {
		if c.drainFrom(drainWaiting) {
			idle = append(idle, c)
		}
	}
	t.mu.Unlock()
	for _, c := range idle {
		c.closeWith(websocket.StatusGoingAway, "Server shutting down")
	}
}

// drainCutShort is how long, once the drain's grace has run out, the
// queries and mutations it then cancels get to answer (cutShort) before
// their connections are closed all the same.
const drainCutShort = time.Second

// drain drains the connections (beginDrain) and returns when they have all
// ended, or when ctx ends and the operations still running have been cut
// short (wsConn.cutShort); the connections left drainCutShort after that
// are closed with 1001, and their operations end.
func (t *wsTransport) drain(ctx context.Context) {
	t.beginDrain()
	t.mu.Lock()
	if len(t.conns) == 0 {
		t.mu.Unlock()
		return
	}
	if t.drained == nil {
		t.drained = make(chan struct{})
	}
	drained := t.drained
	t.mu.Unlock()
	select {
	case <-drained:
		return
	case <-ctx.Done():
	}
	t.mu.Lock()
	left := slices.Collect(maps.Keys(t.conns))
	t.mu.Unlock()
	for _, c := range left {
		c.cutShort()
	}
	select {
	case <-drained:
		return
	case <-time.After(drainCutShort):
	}
	t.mu.Lock()
	left = slices.Collect(maps.Keys(t.conns))
	t.mu.Unlock()
	for _, c := range left {
		c.closeWith(websocket.StatusGoingAway, "Server shutting down")
		c.cancel()
	}
}

// wsSession is what init makes of an accepted connection_init.
type wsSession struct {
	// ctx is the operations' context: the connection's, with the
	// session's values.
	ctx context.Context
	// expires is when the token expires (zero: never). The connection is
	// then closed with 4403, and its operations end: the client must
	// authenticate again (graphql-ws retries 4403 with its
	// connectionParams). A timer does it rather than a deadline on ctx,
	// which would cost each idle connection a timer context, a context
	// for the close and a map of each one's children.
	expires time.Time
	// release is called when the connection ends (nil: nothing to call).
	release func()
}

// wsConn is one graphql-transport-ws connection.
type wsConn struct {
	t    *wsTransport
	ws   *websocket.Conn
	exec graphql.GraphExecutor
	// ctx carries what connContext kept of the upgrade request's values
	// and ends with the connection; after connection_init, session is
	// derived from it.
	ctx      context.Context
	cancel   context.CancelFunc
	starting chan struct{} // a slot per operation starting (wsStarting)
	// br is the read buffer coder/websocket reads frames through, and raw
	// the connection's descriptor (nil if it has none): awaitMessage waits
	// on them for the client's next message, peeking into peek.
	br    *bufio.Reader
	early *earlyConn // nil: no bytes came with the upgrade request
	raw   syscall.RawConn
	peek  [1]byte

	mu       sync.Mutex
	session  context.Context // the operations' context, once initialised
	release  func()          // what init returned, to call at the end; before it, the socket's place among its address's pending ones
	initSeen bool
	closing  bool       // a close frame is on its way, or the connection has ended
	heard    bool       // a message arrived since the last ping
	drain    drainState // the server is shutting down, or a live feed missed events (tryAgainLater): start nothing more (wsTransport.beginDrain)
	// answering counts the operations that have not answered yet: queries
	// and mutations until their "complete" or "error" is written (or, cut
	// short by the drain, until they have ended unanswered or unstarted),
	// subscriptions until their stream is set up. A draining connection
	// closes when it reaches 0.
	answering int32
	ops       map[string]*wsOperation // running, by id
	initTimer *time.Timer             // until connection_init has been answered
	expiry    *time.Timer             // from then, until the token expires
	pinger    *time.Timer
}

// serve waits for the client's next message, reads it and acts on it, then
// waits for the next on a fresh goroutine, until the connection ends.
//
// An idle connection is this goroutine waiting, and its stack is most of
// what the connection holds. Reading and acting on a message goes deep
// (frames, JSON, replies) and grows a goroutine's stack to 4 KiB, which
// the runtime never shrinks back while the goroutine waits in coder/
// websocket's reader (it shrinks a stack only when less than a quarter of
// it is in use, counting 800 bytes of reserve). So the wait is shallow
// (awaitMessage, in the network poller, about 500 bytes deep) and happens
// on a goroutine that has done nothing else: 2 KiB per idle connection.
// Client messages are few (connection_init, subscribes, completes and the
// pongs to the server's pings), so a goroutine each costs little.
func (c *wsConn) serve() {
	c.awaitMessage()
	if !c.readMessage() {
		c.finish()
		return
	}
	go c.serve()
}

// awaitMessage returns once a byte of the client's is waiting: in the read
// buffer, or on the connection (peekReady). It also returns when the
// connection fails or ends, for readMessage to find out. Without a
// descriptor to wait on (a TLS connection, say), or where peeking is not
// supported, it returns at once and the wait is coder/websocket's.
func (c *wsConn) awaitMessage() {
	if c.raw == nil || c.br.Buffered() > 0 || (c.early != nil && c.early.pending()) {
		return
	}
	_ = c.raw.Read(func(fd uintptr) bool { return peekReady(fd, c.peek[:]) })
}

// readMessage reads one message and acts on it; false once the connection
// has ended or is closing.
func (c *wsConn) readMessage() bool {
	_, r, err := c.ws.Reader(context.Background())
	if err != nil {
		return false
	}
	buf := readBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	_, err = buf.ReadFrom(r)
	ok := err == nil && c.receive(buf.Bytes())
	if buf.Cap() <= maxPooledRead {
		readBuffers.Put(buf)
	}
	return ok
}

// readBuffers are what the read loops read the clients' messages into. A
// message is decoded, and what is kept of it copied, before the next is
// read, so a buffer serves any number of connections in turn, where a
// fresh one per message (coder/websocket's Read) left 512 bytes of garbage
// behind each, among the connections' long-lived objects. A buffer grown
// past maxPooledRead by a large message is dropped.
var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledRead = 4 << 10

// finish ends the connection and everything on it: its operations (their
// contexts are the connection's), its session and its timers.
func (c *wsConn) finish() {
	c.mu.Lock()
	closing := c.closing
	c.closing = true
	c.ops = nil
	release := c.release
	for _, t := range []*time.Timer{c.initTimer, c.expiry, c.pinger} {
		if t != nil {
			t.Stop()
		}
	}
	c.mu.Unlock()
	if !closing {
		_ = c.ws.CloseNow()
	}
	c.cancel()
	if release != nil {
		release()
	}
	c.t.untrack(c)
}

// drainState is where a connection is in the server's shutdown.
type drainState uint8

const (
	drainNone    drainState = iota
	drainWaiting            // start nothing more; close once every operation has answered
	drainCut                // the grace is over: cancel the queries and mutations (cutShort)
)

// drainFrom moves the connection to state s (no further back than it is),
// and reports whether it has no operation left to answer: it is then for
// the caller to close.
func (c *wsConn) drainFrom(s drainState) (idle bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drain = max(c.drain, s)
	return c.answering == 0
}

// cutShort is the end of the drain's grace for the connection: it cancels
// the queries and mutations that have not answered, and starts none that
// it has read but not classified yet (single). Each then answers as its
// cancellation leaves it: a mutation that committed meanwhile with its
// result; one that did not, and so wrote nothing, with no answer at all
// (cancelledByDrain), like a query, so that graphql-ws sends it again once
// reconnected. The connection closes after the last, as a draining one
// does.
func (c *wsConn) cutShort() {
	c.mu.Lock()
	c.drain = drainCut
	var late []*wsOperation
	for _, op := range c.ops {
		if op.single && !op.answered {
			late = append(late, op)
		}
	}
	idle := c.answering == 0
	c.mu.Unlock()
	for _, op := range late {
		op.cancel()
	}
	if idle {
		c.closeWith(websocket.StatusGoingAway, "Server shutting down")
	}
}

// single marks op a query or mutation (not a subscription), and reports
// whether the drain's grace is over: it is then not to start (cutShort).
func (c *wsConn) single(op *wsOperation) (cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	op.single = true
	return c.drain == drainCut
}

// cancelledByDrain reports whether resp is the answer of an operation that
// cutShort cancelled before it was done: a CANCELLED error in it, while
// the drain's grace is over. Such an answer is not sent: a mutation that
// answers CANCELLED wrote nothing (graph/tx.go), and the client, hearing
// nothing, sends the operation again on its next connection.
func (c *wsConn) cancelledByDrain(resp *graphql.Response) bool {
	c.mu.Lock()
	cut := c.drain == drainCut
	c.mu.Unlock()
	if !cut {
		return false
	}
	for _, err := range resp.Errors {
		if code, _ := err.Extensions["code"].(string); code == string(apperr.Cancelled) {
			return true
		}
	}
	return false
}

// answered counts op answered (answering); a draining connection closes
// after its last.
func (c *wsConn) answered(op *wsOperation) {
	c.mu.Lock()
	op.answered = true
	c.answering--
	last := c.drain != drainNone && c.answering == 0
	c.mu.Unlock()
	if last {
		c.drainClose()
	}
}

// tryAgainReason is the reason of a 1013 close (tryAgainLater).
const tryAgainReason = "Try again later: the live feed missed events; read the notifications list and subscribe again"

// drainClose closes a drained connection: with 1001 Going Away when the
// server is shutting down, else (it drained because a live feed on it
// missed events: tryAgainLater) with 1013 Try Again Later. graphql-ws
// reconnects after either. (Which of the two is not kept on the
// connection: an idle one's size is a published target.)
func (c *wsConn) drainClose() {
	c.t.mu.Lock()
	shutdown := c.t.draining
	c.t.mu.Unlock()
	if !shutdown {
		c.closeWith(websocket.StatusTryAgainLater, tryAgainReason)
		return
	}
	c.closeWith(websocket.StatusGoingAway, "Server shutting down")
}

// closeWith starts the close handshake with code, once. The handshake waits
// for the client's close frame (up to 5 s each way), so it runs on a
// goroutine of its own; the read loop ends when it is done.
func (c *wsConn) closeWith(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.mu.Unlock()
	go c.ws.Close(code, shortened(reason, 120))
}

// clientMessage is a message from the client, as far as the protocol
// checks it.
type clientMessage struct {
	Type    *string         `json:"type"`
	ID      *string         `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

// maxOperationID is the longest operation id a connection takes, in bytes.
// Clients send UUIDs (graphql-ws, Apollo) or counters; a connection keeps
// each running operation's id twice (as is, and as JSON for its messages),
// and ids as long as a message (64 KiB) let one socket hold megabytes.
const maxOperationID = 128

// receive acts on one message; false once the connection is closing. It
// keeps nothing of data (a pooled buffer, read into again afterwards):
// what it keeps is decoded from it.
func (c *wsConn) receive(data []byte) bool {
	if c.isClosing() { // the close handshake is under way: read on until it ends
		return true
	}
	var m clientMessage
	if err := json.Unmarshal(data, &m); err != nil || m.Type == nil {
		return c.refuse(closeBadRequest, "Invalid message received")
	}
	c.mu.Lock()
	c.heard = true
	c.mu.Unlock()
	switch *m.Type {
	case "connection_init":
		return c.initialise(m.Payload)
	case "subscribe":
		if m.ID == nil || *m.ID == "" || !isJSONObject(m.Payload) {
			return c.refuse(closeBadRequest, "Invalid message received")
		}
		if len(*m.ID) > maxOperationID {
			return c.refuse(closeBadRequest, "Invalid message received: an id is at most 128 bytes")
		}
		return c.subscribe(*m.ID, m.Payload)
	case "complete":
		if m.ID == nil || *m.ID == "" {
			return c.refuse(closeBadRequest, "Invalid message received")
		}
		c.mu.Lock()
		op := c.ops[*m.ID]
		delete(c.ops, *m.ID)
		c.mu.Unlock()
		if op != nil {
			op.cancel() // the client is not told again: graphql-ws's server does not either
		}
	case "ping":
		c.write(pongMessage)
	case "pong":
	default:
		return c.refuse(closeBadRequest, "Invalid message received")
	}
	return true
}

func (c *wsConn) refuse(code websocket.StatusCode, reason string) bool {
	c.closeWith(code, reason)
	return false
}

// initialise authenticates the connection: the client's next messages are
// read only after it. (It runs on the goroutine that read the message,
// which no idle wait keeps: serve.)
func (c *wsConn) initialise(payload json.RawMessage) bool {
	c.mu.Lock()
	seen := c.initSeen
	c.initSeen = true
	c.mu.Unlock()
	if seen {
		return c.refuse(closeTooManyInitialise, "Too many initialisation requests")
	}
	var fields map[string]any
	if !isAbsentOrObject(payload) || (len(bytes.TrimSpace(payload)) > 0 && json.Unmarshal(payload, &fields) != nil) {
		return c.refuse(closeBadRequest, "Invalid message received")
	}
	session, err := c.t.init(c.ctx, fields)
	switch {
	case errors.Is(err, errInitFailed):
		return c.refuse(websocket.StatusTryAgainLater, err.Error())
	case err != nil:
		return c.refuse(closeForbidden, err.Error())
	}
	c.mu.Lock()
	c.initTimer.Stop()
	c.initTimer = nil
	pending := c.release // the socket's place among its address's pending ones
	c.session, c.release = session.ctx, session.release
	closing := c.closing
	if !closing && !session.expires.IsZero() {
		c.expiry = time.AfterFunc(time.Until(session.expires), c.tokenExpired)
	}
	c.mu.Unlock()
	if pending != nil {
		pending()
	}
	if closing { // timed out, or the server is shutting down, meanwhile
		return false
	}
	c.write(ackMessage)
	return true
}

// tokenExpired closes the connection when its token expires, and ends its
// operations at once rather than after the close handshake.
func (c *wsConn) tokenExpired() {
	c.closeWith(closeForbidden, "forbidden: the token has expired")
	c.cancel()
}

func (c *wsConn) initTimedOut() {
	c.mu.Lock()
	late := !c.initSeen
	c.mu.Unlock()
	if late {
		c.closeWith(closeInitTimeout, "Connection initialisation timeout")
	}
}

// ping runs every pingInterval: it closes a connection that has been
// silent since the last ping and pings one that has not.
func (c *wsConn) ping() {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	alive := c.heard
	c.heard = false
	if alive {
		c.pinger.Reset(c.t.pingInterval)
	}
	c.mu.Unlock()
	if !alive {
		_ = c.ws.CloseNow() // a peer gone silent does not answer a close handshake either
		c.cancel()          // its operations end now, even while its reader waits (subscribe)
		return
	}
	c.write(pingMessage)
}

var (
	ackMessage  = []byte(`{"type":"connection_ack"}`)
	pingMessage = []byte(`{"type":"ping"}`)
	pongMessage = []byte(`{"type":"pong"}`)
)

// write sends one message within the write timeout. A write that fails
// (the client stopped reading, or went away) ends the connection.
func (c *wsConn) write(msg []byte) {
	// No deadline here: the connection puts one on every write
	// (writeDeadline).
	err := c.ws.Write(context.Background(), websocket.MessageText, msg)
	if err != nil && !c.isClosing() {
		_ = c.ws.CloseNow()
		c.cancel() // its operations end now, even while its reader waits (subscribe)
	}
}

func (c *wsConn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// subscribe starts operation id (a subscription, or a query or mutation,
// which graphql-ws also sends this way).
func (c *wsConn) subscribe(id string, payload json.RawMessage) bool {
	c.mu.Lock()
	if !c.initSeen || c.session == nil {
		c.mu.Unlock()
		return c.refuse(closeUnauthorized, "Unauthorized")
	}
	if c.drain != drainNone { // not started: the client sends it again once reconnected (beginDrain)
		c.mu.Unlock()
		return true
	}
	if _, running := c.ops[id]; running {
		c.mu.Unlock()
		return c.refuse(closeSubscriberExists, "Subscriber for "+shortened(id, 64)+" already exists")
	}
	idJSON, _ := jsonenc.Marshal(id) // a string always encodes
	op := &wsOperation{c: c, id: id, idJSON: idJSON}
	op.ctx, op.cancel = context.WithCancel(c.session)
	c.ops[id] = op
	c.answering++ // until op.start has answered
	c.mu.Unlock()
	read := graphql.Now()
	// At most wsStarting operations start at once; past that, the client's
	// next messages wait (TCP pushes back) rather than each starting a
	// goroutine that parses, validates and runs.
	select {
	case c.starting <- struct{}{}:
	case <-c.ctx.Done(): // the connection ended meanwhile (ping, write, expiry)
		return false
	}
	go op.start(payload, read)
	return true
}

// wsStarting bounds the operations of one connection that are starting at
// once: queries and mutations until they have answered, subscriptions
// until their stream is set up (a subscription then waits holding no
// slot).
const wsStarting = 8

// wsOperation is one operation on a connection.
type wsOperation struct {
	c      *wsConn
	id     string
	idJSON []byte
	ctx    context.Context // ends when the operation does, or the connection
	cancel context.CancelFunc

	mu sync.Mutex
	// responses and rctx, once set, yield the operation's responses.
	responses graphql.ResponseHandler
	rctx      context.Context
	evented   bool // its stream signals each event (wakeOnEvent)
	// direct, when set, writes each event's payload in place of the
	// executor (writeEventsDirectly); false: the stream has ended.
	direct  func(*bytes.Buffer) bool
	pending int  // events signalled and not yet taken
	pumping bool // a goroutine is taking them
	last    bool // the response being produced is the stream's last (endStreamAfter)
	done    bool
	silent  bool // the stream ends without "complete" (tryAgainLater)
	// single (a query or mutation) and answered (wsConn.answering) are
	// guarded by c.mu.
	single, answered bool
}

// start runs the operation up to its first response: parsing, validation,
// the extensions, and for a subscription its resolver. A subscription
// whose stream signals its events is then left to them; anything else is
// served to its end on this goroutine.
func (op *wsOperation) start(payload json.RawMessage, read time.Time) {
	c := op.c
	ctx := graphql.StartOperationTrace(context.WithValue(op.ctx, wsOperationKey{}, op))
	released, answered := false, false
	release := func() {
		if !released {
			released = true
			<-c.starting
		}
	}
	answer := func() {
		if !answered {
			answered = true
			c.answered(op)
		}
	}
	defer func() {
		if r := recover(); r != nil { // in an extension, say: fail the operation, not the process
			op.fail(gqlerror.List{codedError(c.t.recover(ctx, r))})
		}
		release()
		answer()
	}()
	params := &graphql.RawParams{}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(params); err != nil {
		resp := c.exec.DispatchError(ctx, gqlerror.List{codedError(apperr.New(apperr.Invalid,
			"the subscribe payload is not a GraphQL request (query, operationName, variables, extensions)"))})
		op.fail(resp.Errors)
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: read, End: graphql.Now()}
	rc, errs := c.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			op.fail(resp.Errors) // never ran: parse and validation errors end it with "error"
		} else {
			op.send(resp)
			op.end()
		}
		return
	}
	subscription := rc.Operation != nil && rc.Operation.Operation == ast.Subscription
	if !subscription && c.single(op) {
		op.cancel() // not started: the client sends it again once reconnected (cutShort)
		return
	}
	if !subscription && c.t.operationTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.t.operationTimeout)
		defer cancel()
	}
	responses, rctx := c.exec.DispatchOperation(ctx, rc)
	if subscription {
		release() // set up: its events come when they come
		answer()
	}
	op.serve(responses, rctx)
}

// serve sends the operation's responses: as its events are signalled, for
// a stream that signals them (wakeOnEvent), else on this goroutine until
// the last.
func (op *wsOperation) serve(responses graphql.ResponseHandler, rctx context.Context) {
	op.mu.Lock()
	op.responses, op.rctx = responses, rctx
	if op.evented {
		run := op.claimPump()
		op.mu.Unlock()
		if run {
			op.pump()
		}
		return
	}
	op.mu.Unlock()
	for {
		resp, ok := op.next()
		if !ok {
			return
		}
		if resp == nil {
			op.end()
			return
		}
		if op.c.cancelledByDrain(resp) {
			op.cancel() // no answer, no "complete": the client sends it again once reconnected
			return
		}
		if op.send(resp) {
			op.end()
			return
		}
	}
}

type wsOperationKey struct{}

// wakeOnEvent is for a subscription resolver whose stream can tell when a
// value is in its channel, or the channel is closed: it returns the
// function to call after each (then the operation holds no goroutine while
// it waits), or one that does nothing when the transport does not need it
// (plain HTTP; the resolver's channel is then read as gqlgen reads it). The resolver must
// call it exactly once per value sent and once after closing the channel,
// and only after the channel operation.
func wakeOnEvent(ctx context.Context) func() {
	op, ok := ctx.Value(wsOperationKey{}).(*wsOperation)
	if !ok {
		return func() {}
	}
	op.mu.Lock()
	op.evented = true
	op.mu.Unlock()
	return op.wake
}

// wake counts one event and has a worker take it (pumpers) unless a pump
// is taking the operation's events already.
func (op *wsOperation) wake() {
	op.mu.Lock()
	op.pending++
	run := op.claimPump()
	op.mu.Unlock()
	if run {
		op.c.t.pumps.run(op.pump)
	}
}

// claimPump reports whether the caller is to take the pending events, and
// marks them taken: there are some, the handler is ready, and no goroutine
// is taking them already. op.mu is held.
func (op *wsOperation) claimPump() bool {
	run := op.responses != nil && op.pending > 0 && !op.pumping && !op.done
	op.pumping = op.pumping || run
	return run
}

// pump sends the pending events' responses. Each one takes an event that
// is already in the stream's channel (every wake follows its event), so it
// does not block.
func (op *wsOperation) pump() {
	for {
		ended, ok := op.take()
		if ended {
			op.end()
		}
		op.mu.Lock()
		op.pending--
		stop := !ok || ended || op.pending == 0 || op.done
		if stop {
			op.pumping = false
		}
		op.mu.Unlock()
		if stop {
			return
		}
	}
}

// take sends the next event's response, written by the resolver's own
// writer when it has one (writeEventsDirectly), else by the executor.
// ended: the stream has ended; ok false: the operation failed.
func (op *wsOperation) take() (ended, ok bool) {
	if op.direct != nil {
		return op.sendDirect()
	}
	resp, ok := op.next()
	switch {
	case !ok:
		return false, false
	case resp == nil:
		return true, true
	}
	return op.send(resp), true
}

// endStreamAfter makes the response being produced for ctx's operation
// its last: the transport sends it, then "complete". It is for an
// extension that finds, while producing a subscription's event, that the
// stream must not go on (sessionExtension: the caller is no longer a
// member). Over any other transport it does nothing.
func endStreamAfter(ctx context.Context) {
	if op, ok := ctx.Value(wsOperationKey{}).(*wsOperation); ok {
		op.mu.Lock()
		op.last = true
		op.mu.Unlock()
	}
}

// failedAfterSignalling is for a subscription resolver that returns an
// error after it called wakeOnEvent or writeEventsDirectly: the operation
// is then served as gqlgen answers a failed resolver (its error in a
// "next", then "complete"), not from a stream that ended without a word.
// No event can have been taken yet: the handler is set once the resolver
// has returned (claimPump). Over any other transport it does nothing.
func failedAfterSignalling(ctx context.Context) {
	if op, ok := ctx.Value(wsOperationKey{}).(*wsOperation); ok {
		op.mu.Lock()
		op.evented, op.direct, op.pending = false, nil, 0
		op.mu.Unlock()
	}
}

// goingAway closes the connection of ctx's operation with 1001 "Server
// shutting down", as the server's shutdown does: its streams then end
// without "complete", and the client reconnects and subscribes again. It
// is for a stream that ends because the server is stopping. Over any other
// transport it does nothing.
func goingAway(ctx context.Context) {
	if op, ok := ctx.Value(wsOperationKey{}).(*wsOperation); ok {
		op.c.closeWith(websocket.StatusGoingAway, "Server shutting down")
	}
}

// tryAgainLater is for a stream that missed events (its client fell
// behind, or they could not be read, or the broker's LISTEN connection was
// cut), called before it ends: the stream ends without "complete", which
// would tell the client that it ended as it should (it would not subscribe
// again), and the connection closes with 1013 "Try Again Later", after
// which graphql-ws reconnects (with its back-off) and subscribes again. The
// connection drains first, as at shutdown: it starts nothing more, and the
// queries and mutations it runs are answered before it closes, so that
// none that committed is sent again after the reconnection. Over any other
// transport it does nothing.
func tryAgainLater(ctx context.Context) {
	op, ok := ctx.Value(wsOperationKey{}).(*wsOperation)
	if !ok {
		return
	}
	op.mu.Lock()
	op.silent = true
	op.mu.Unlock()
	if op.c.drainFrom(drainWaiting) {
		op.c.drainClose()
	}
}

// writeEventsDirectly is for a subscription resolver that writes its
// events' payloads itself ({"data":…}, as writeResponse would): the
// transport then takes each signalled event from write rather than from
// the executor. write returns false once the stream has ended. Over any
// other transport it does nothing.
func writeEventsDirectly(ctx context.Context, write func(*bytes.Buffer) bool) {
	if op, ok := ctx.Value(wsOperationKey{}).(*wsOperation); ok {
		op.mu.Lock()
		op.direct = write
		op.mu.Unlock()
	}
}

// sendDirect sends the next event as op.direct writes it, unless the
// client has completed the operation or the connection is closing (the
// event is taken all the same). A panic in it fails the operation with an
// internal error.
func (op *wsOperation) sendDirect() (ended, ok bool) {
	c := op.c
	b := messageBuffers.Get().(*bytes.Buffer)
	defer func() {
		if r := recover(); r != nil {
			op.fail(gqlerror.List{codedError(c.t.recover(op.rctx, r))})
			ended, ok = false, false
		}
		putMessageBuffer(b)
	}()
	b.Reset()
	writeHead(b, op, "next")
	b.WriteString(`,"payload":`)
	if !op.direct(b) {
		return true, true
	}
	b.WriteByte('}')
	c.mu.Lock()
	current := c.current(op)
	c.mu.Unlock()
	if current {
		c.write(b.Bytes())
	}
	return false, true
}

// pumpers runs pumps on goroutines kept between them. A pump executes a
// selection set, whose call chain is deep: a fresh goroutine starts with a
// small stack, grows it by copying, twice or more, and frees it at its
// end, which a broadcast to 10,000 subscribers paid 10,000 times (a fifth
// of its CPU, in runtime.newstack and runtime.gfget). A kept goroutine has
// grown its stack once.
//
// A broadcast wakes pumps much faster than two cores run them, so they
// queue, and up to most workers take them in turn; a worker ends after
// idle without work. A pump can block in a write to a client that does
// not read, for up to the write timeout, and must not hold up everyone
// else's: when no worker has taken anything from the queue for stall
// while pumps wait in it, one more worker starts, past most. When the
// queue is full, a pump runs on a goroutine of its own.
type pumpers struct {
	work     chan func() // the queue
	kept     atomic.Int32
	parked   atomic.Int32 // workers waiting for work
	taken    atomic.Int64 // when a worker last took work (UnixNano)
	watching atomic.Bool  // a check is due
	most     int32
	idle     time.Duration
	stall    time.Duration
}

const (
	pumpQueue   = 4096
	pumpWorkers = 64
	pumpIdle    = time.Second
	pumpStall   = 50 * time.Millisecond
)

func newPumpers() *pumpers {
	return &pumpers{work: make(chan func(), pumpQueue), most: pumpWorkers, idle: pumpIdle, stall: pumpStall}
}

// run queues f for a worker, starting one if none is waiting and fewer
// than most are running; the watch makes sure that the queue moves. (A
// waiting worker may take another pump queued meanwhile and block in its
// write: the watch is armed whether or not a worker waits.)
func (p *pumpers) run(f func()) {
	select {
	case p.work <- f:
	default:
		go f() // the queue is full
		return
	}
	if p.parked.Load() > 0 {
		p.watch()
		return
	}
	if p.kept.Add(1) <= p.most {
		go p.worker()
		return
	}
	p.kept.Add(-1)
	p.watch()
}

// watch checks, stall from now, that a worker has taken work since, and
// starts one more if none has; it goes on checking while work is queued.
// One timer at a time, however many pumps are woken.
func (p *pumpers) watch() {
	if p.watching.CompareAndSwap(false, true) {
		time.AfterFunc(p.stall, p.check)
	}
}

func (p *pumpers) check() {
	p.watching.Store(false)
	if len(p.work) == 0 {
		return
	}
	if time.Since(time.Unix(0, p.taken.Load())) > p.stall {
		p.kept.Add(1) // past most: the others are stuck
		go p.worker()
	}
	p.watch()
}

func (p *pumpers) worker() {
	defer p.kept.Add(-1)
	idle := time.NewTimer(p.idle)
	defer idle.Stop()
	for {
		var f func()
		select {
		case f = <-p.work:
		default:
			idle.Reset(p.idle)
			p.parked.Add(1)
			select {
			case f = <-p.work:
				p.parked.Add(-1)
			case <-idle.C:
				p.parked.Add(-1)
				select {
				case f = <-p.work: // queued by a run that saw it parked
				default:
					return
				}
			}
		}
		p.taken.Store(time.Now().UnixNano())
		f()
	}
}

// next returns the operation's next response, nil at its end; a panic in
// the executor fails the operation (ok false) with an internal error.
func (op *wsOperation) next() (resp *graphql.Response, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			op.fail(gqlerror.List{codedError(op.c.t.recover(op.rctx, r))})
			ok = false
		}
	}()
	return op.responses(op.rctx), true
}

// end completes the operation: the client hears "complete" unless it
// completed it itself, the connection is closing, or the stream missed
// events (tryAgainLater).
func (op *wsOperation) end() {
	if op.finish() {
		op.mu.Lock()
		silent := op.silent
		op.mu.Unlock()
		if !silent {
			op.c.writeTo(op, "complete", nil)
		}
	}
}

// fail ends the operation with "error" (which ends it in the protocol).
func (op *wsOperation) fail(errs gqlerror.List) {
	if op.finish() {
		payload, err := jsonenc.Marshal(errs)
		if err != nil {
			payload = []byte(`[{"message":"internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]`)
		}
		op.c.writeTo(op, "error", func(b *bytes.Buffer) { b.Write(payload) })
	}
}

// finish marks the operation done and cancels its context (which ends its
// stream); true if the client is to be told.
func (op *wsOperation) finish() bool {
	op.mu.Lock()
	if op.done {
		op.mu.Unlock()
		return false
	}
	op.done = true
	op.mu.Unlock()
	op.cancel()
	c := op.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.current(op) {
		return false
	}
	delete(c.ops, op.id)
	return true
}

// current reports whether op is still the client's operation under its id
// on a connection that is not closing. c.mu is held.
func (c *wsConn) current(op *wsOperation) bool {
	return c.ops[op.id] == op && !c.closing
}

// send writes a response as a "next" message, unless the client has
// completed the operation (and may have reused its id) or the connection
// is closing.
func (op *wsOperation) send(resp *graphql.Response) (last bool) {
	c := op.c
	c.mu.Lock()
	current := c.current(op)
	c.mu.Unlock()
	if current {
		c.writeTo(op, "next", func(b *bytes.Buffer) { writeResponse(b, resp) })
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.last
}

var messageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeTo writes {"id":…,"type":typ,"payload":…} for op; payload writes
// the payload's JSON, or is nil for none.
func (c *wsConn) writeTo(op *wsOperation, typ string, payload func(*bytes.Buffer)) {
	b := messageBuffers.Get().(*bytes.Buffer)
	b.Reset()
	writeHead(b, op, typ)
	if payload != nil {
		b.WriteString(`,"payload":`)
		payload(b)
	}
	b.WriteByte('}')
	c.write(b.Bytes())
	putMessageBuffer(b)
}

// writeHead writes a message's opening: {"id":…,"type":typ".
func writeHead(b *bytes.Buffer, op *wsOperation, typ string) {
	b.WriteString(`{"id":`)
	b.Write(op.idJSON)
	b.WriteString(`,"type":"`)
	b.WriteString(typ)
	b.WriteByte('"')
}

// putMessageBuffer keeps b for the next message, unless it grew large.
func putMessageBuffer(b *bytes.Buffer) {
	if b.Cap() <= 64<<10 {
		messageBuffers.Put(b)
	}
}

// shortened cuts s to at most n bytes on a rune boundary: a close frame's
// reason may not exceed 123 bytes (coder/websocket would send 1011 instead),
// and an id or an error message in it comes from elsewhere.
func shortened(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// isAbsentOrObject accepts the optional payload of connection_init: absent,
// null, or an object.
func isAbsentOrObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null")) || isJSONObject(t)
}

func isJSONObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{' && json.Valid(raw)
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
