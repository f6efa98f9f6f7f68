package graph

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"

	"tenantgraph/internal/jsonenc"
)

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
	if c.raw == nil || c.waiting() {
		return
	}
	_ = c.raw.Read(func(fd uintptr) bool { return peekReady(fd, c.peek[:]) })
}

// waiting reports whether the client's bytes are waiting in the read
// buffer or among the early ones, or the connection is closing (the close
// handshake, on a goroutine of its own, reads the buffer then, and
// readMessage finds the end). The buffer is looked at under c.mu: closeWith
// sets closing under it before that handshake starts, so the two never
// touch the buffer at once.
func (c *wsConn) waiting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing || c.br.Buffered() > 0 || (c.early != nil && c.early.pending())
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
