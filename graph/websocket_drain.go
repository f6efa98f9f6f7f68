package graph

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"

	"tenantgraph/internal/apperr"
)

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
