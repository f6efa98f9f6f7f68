package graph

import (
	"bytes"
	"context"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// wsOperationKey is the context key of an operation's wsOperation: the
// functions below reach the transport through it from a resolver or an
// extension, and do nothing over any other transport.
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
