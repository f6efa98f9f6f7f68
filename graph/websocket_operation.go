package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/internal/apperr"
	"tenantgraph/internal/jsonenc"
)

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
	if name := repeatedField(payload); name != "" { // as a POST body's (oneRequest)
		resp := c.exec.DispatchError(ctx, gqlerror.List{codedError(apperr.New(apperr.Invalid,
			"%q appears more than once in the subscribe payload", name))})
		op.fail(resp.Errors)
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: read, End: graphql.Now()}
	rc, errs := createOperation(ctx, c.exec, params)
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
