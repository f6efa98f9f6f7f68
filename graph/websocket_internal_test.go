package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"tenantgraph/internal/apperr"
	"tenantgraph/internal/tenancy"
)

// socketPair returns the two ends of a real websocket.
func socketPair(t *testing.T) (server, client *websocket.Conn) {
	t.Helper()
	accepted := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		accepted <- c
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() { client.CloseNow(); server.CloseNow() })
	return server, client
}

// eventedOperation is an operation on a connection whose stream is events:
// its response handler takes one value from events per call, as gqlgen's
// does from a subscription's channel, and fails the test if it would have
// to wait or if two goroutines call it at once.
func eventedOperation(t *testing.T, ws *websocket.Conn, events chan int) (*wsOperation, func(), graphql.ResponseHandler) {
	c := &wsConn{t: newWSTransport(wsOptions{writeTimeout: 5 * time.Second}), ws: ws, ops: map[string]*wsOperation{}, ctx: context.Background(), cancel: func() {}}
	op := &wsOperation{c: c, id: "s", idJSON: []byte(`"s"`)}
	op.ctx, op.cancel = context.WithCancel(context.Background())
	c.ops[op.id] = op
	wake := wakeOnEvent(context.WithValue(op.ctx, wsOperationKey{}, op))
	var callers atomic.Int32
	responses := func(ctx context.Context) *graphql.Response {
		if callers.Add(1) > 1 {
			t.Error("two goroutines took events at once")
		}
		defer callers.Add(-1)
		if ctx.Err() != nil {
			return nil // as gqlgen's executor does
		}
		select {
		case v, ok := <-events:
			if !ok {
				return nil
			}
			return &graphql.Response{Data: json.RawMessage(`{"n":` + strconv.Itoa(v) + `}`)}
		default:
			t.Error("the response handler was called with no event ready: it would have waited")
			return nil
		}
	}
	return op, wake, responses
}

// Events signalled before the operation's handler is ready, and events
// signalled while it sends, reach the client each once and in order,
// followed by complete when the stream ends; no goroutine ever waits for an
// event.
func TestWebsocketEventedOperationKeepsOrder(t *testing.T) {
	ws, client := socketPair(t)
	const early, total = 10, 500
	events := make(chan int, total)
	op, wake, responses := eventedOperation(t, ws, events)
	for i := range early { // before the handler exists (the resolver runs first)
		events <- i
		wake()
	}
	op.serve(responses, op.ctx)
	go func() {
		for i := early; i < total; i++ {
			events <- i
			wake()
			if i%50 == 0 {
				time.Sleep(time.Millisecond) // let the sender catch up now and then
			}
		}
		close(events)
		wake()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for want := range total {
		var m struct {
			ID, Type string
			Payload  struct{ Data struct{ N int } }
		}
		if err := wsjson.Read(ctx, client, &m); err != nil {
			t.Fatalf("message %d: %v", want, err)
		}
		if m.ID != "s" || m.Type != "next" || m.Payload.Data.N != want {
			t.Fatalf("message %d: got %+v, want next %d for s", want, m, want)
		}
	}
	var m struct{ ID, Type string }
	if err := wsjson.Read(ctx, client, &m); err != nil || m.ID != "s" || m.Type != "complete" {
		t.Fatalf("after the stream: got %+v %v, want complete for s", m, err)
	}
	op.c.mu.Lock()
	defer op.c.mu.Unlock()
	if len(op.c.ops) != 0 {
		t.Errorf("ops after complete: %v, want none", op.c.ops)
	}
}

// An operation the client completes ends without a word to the client: the
// events still signalled are not sent, and the stream's end sends no
// complete.
func TestWebsocketEventedOperationCompletedByTheClient(t *testing.T) {
	ws, client := socketPair(t)
	events := make(chan int, 10)
	op, wake, responses := eventedOperation(t, ws, events)
	op.serve(responses, op.ctx)
	// What receive does with {"type":"complete","id":"s"}.
	op.c.mu.Lock()
	delete(op.c.ops, op.id)
	op.c.mu.Unlock()
	op.cancel()
	events <- 1
	wake()
	close(events)
	wake()
	deadline := time.Now().Add(5 * time.Second)
	for {
		op.mu.Lock()
		done, pumping := op.done, op.pumping
		op.mu.Unlock()
		if done && !pumping {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the operation did not end after its context did")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Then a message of the connection's own: it must be the next thing
	// the client reads.
	op.c.write(pongMessage)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var m struct{ ID, Type string }
	if err := wsjson.Read(ctx, client, &m); err != nil || m.Type != "pong" {
		t.Fatalf("got %+v %v, want the pong and nothing for s before it", m, err)
	}
	// A response that was already on its way when the client completed the
	// operation is not sent either: the client may have reused the id.
	op.send(&graphql.Response{Data: json.RawMessage(`{"late":true}`)})
	op.c.write(pongMessage)
	if err := wsjson.Read(ctx, client, &m); err != nil || m.Type != "pong" {
		t.Fatalf("got %+v %v, want the pong and no late next for s", m, err)
	}
}

// gatedExecutor holds every operation in CreateOperationContext until gate
// is closed, and records how many were there at once.
type gatedExecutor struct {
	gate     chan struct{}
	cur, max atomic.Int32
}

func (g *gatedExecutor) CreateOperationContext(ctx context.Context, _ *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	n := g.cur.Add(1)
	for m := g.max.Load(); n > m && !g.max.CompareAndSwap(m, n); m = g.max.Load() {
	}
	<-g.gate
	g.cur.Add(-1)
	return &graphql.OperationContext{Operation: &ast.OperationDefinition{Operation: ast.Query}}, nil
}

func (g *gatedExecutor) DispatchOperation(ctx context.Context, _ *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	return graphql.OneShot(&graphql.Response{Data: json.RawMessage(`{"ok":true}`)}), ctx
}

func (g *gatedExecutor) DispatchError(_ context.Context, errs gqlerror.List) *graphql.Response {
	return &graphql.Response{Errors: errs}
}

// A client that pipelines many operations gets at most wsStarting of them
// started at once: the rest wait unread (TCP pushes back on the client)
// instead of each starting a goroutine. All of them are answered.
func TestWebsocketBoundsOperationsStarting(t *testing.T) {
	ws, client := socketPair(t)
	exec := &gatedExecutor{gate: make(chan struct{})}
	c := &wsConn{t: newWSTransport(wsOptions{writeTimeout: 5 * time.Second}), ws: ws, exec: exec, ops: map[string]*wsOperation{}, ctx: context.Background(), cancel: func() {},
		starting: make(chan struct{}, wsStarting), initSeen: true, session: context.Background()}
	const n = 3 * wsStarting
	received := make(chan int, n)
	go func() { // the read loop, fed directly
		for i := range n {
			c.receive([]byte(`{"type":"subscribe","id":"q` + strconv.Itoa(i) + `","payload":{"query":"{ x }"}}`))
			received <- i
		}
		close(received)
	}()
	// The read loop takes wsStarting subscribes, then waits for a slot.
	deadline := time.Now().Add(5 * time.Second)
	for exec.cur.Load() < wsStarting && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // room for a ninth, were it to start
	if got := exec.cur.Load(); got != wsStarting {
		t.Fatalf("operations starting at once: %d, want %d", got, wsStarting)
	}
	close(exec.gate)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	answered := map[string]string{}
	for len(answered) < 2*n { // a next and a complete for each
		var m struct{ ID, Type string }
		if err := wsjson.Read(ctx, client, &m); err != nil {
			t.Fatalf("after %d messages: %v", len(answered), err)
		}
		answered[m.ID+" "+m.Type] = m.Type
	}
	for range received {
	}
	if max := exec.max.Load(); max > wsStarting {
		t.Errorf("at most %d operations started at once, want %d", max, wsStarting)
	}
	// Each slot is given back just after its operation's last message.
	for deadline := time.Now().Add(5 * time.Second); len(c.starting) != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("slots still taken 5s after every operation answered: %d", len(c.starting))
		}
	}
}

// A connection that ends while its reader waits for a slot to start an
// operation (wsStarting are starting) ends that wait: the reader does not
// start the operation on the dead connection, nor hold on until a slot
// frees. Its operations' contexts have ended with the connection's (the
// ping's and a failed write's close cancel it too).
func TestWebsocketEndedConnectionStopsWaitingToStart(t *testing.T) {
	ws, _ := socketPair(t)
	exec := &gatedExecutor{gate: make(chan struct{})}
	defer close(exec.gate)
	ctx, cancel := context.WithCancel(context.Background())
	c := &wsConn{t: newWSTransport(wsOptions{writeTimeout: 5 * time.Second}), ws: ws, exec: exec, ops: map[string]*wsOperation{},
		ctx: ctx, cancel: cancel, starting: make(chan struct{}, wsStarting), initSeen: true, session: ctx}
	for i := range wsStarting {
		c.receive([]byte(`{"type":"subscribe","id":"q` + strconv.Itoa(i) + `","payload":{"query":"{ x }"}}`))
	}
	waiting := make(chan bool, 1)
	go func() { waiting <- c.receive([]byte(`{"type":"subscribe","id":"last","payload":{"query":"{ x }"}}`)) }()
	time.Sleep(50 * time.Millisecond) // the reader waits for a slot
	cancel()                          // as the ping does to a silent peer
	select {
	case goOn := <-waiting:
		if goOn {
			t.Errorf("the reader went on reading a connection that had ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the reader still waits for a slot 5s after its connection ended")
	}
	if got := exec.cur.Load(); got != wsStarting {
		t.Errorf("operations started: %d, want %d (none after the connection ended)", got, wsStarting)
	}
}

// Pumps queue for a few kept workers; workers stuck in writes (here:
// blocked) do not hold up the queue for more than the stall, and a full
// queue runs a pump on a goroutine of its own.
func TestPumpersMoveOnPastStuckWorkers(t *testing.T) {
	p := &pumpers{work: make(chan func(), 2), most: 2, idle: time.Second, stall: 20 * time.Millisecond}
	stuck := make(chan struct{})
	defer close(stuck)
	var started sync.WaitGroup
	for range 2 {
		started.Add(1)
		p.run(func() { started.Done(); <-stuck })
	}
	started.Wait() // both workers are stuck

	ran := make(chan int, 3)
	for i := range 3 { // two fill the queue, the third runs on its own
		p.run(func() { ran <- i })
	}
	select {
	case i := <-ran:
		if i != 2 {
			t.Fatalf("first to run: %d, want the one past the full queue (2)", i)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a pump past the full queue did not run")
	}
	for range 2 { // the queued ones, by a worker started past most
		select {
		case <-ran:
		case <-time.After(5 * time.Second):
			t.Fatal("queued pumps behind stuck workers did not run")
		}
	}
	if got := p.kept.Load(); got != 3 {
		t.Errorf("workers: got %d, want 3 (two stuck, one started past most)", got)
	}

	// The free worker runs the pumps that follow; no more start.
	order := make(chan int, 100)
	for i := range 100 {
		p.run(func() { order <- i })
		if i%10 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	seen := map[int]bool{}
	for range 100 {
		select {
		case i := <-order:
			seen[i] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("ran %d of 100 pumps", len(seen))
		}
	}
	if got := p.kept.Load(); got > 3 {
		t.Errorf("workers after 100 more pumps: %d, want the 3 kept (one free)", got)
	}
}

// A connection keeps the client's address from its upgrade request, and
// nothing else of the request's context: not its headers (a token sent
// with the upgrade is not kept: connection_init's payload authenticates),
// not its values, not its end.
func TestWebsocketContextKeepsOnlyTheAddress(t *testing.T) {
	type otherKey struct{}
	cred := tenancy.Credentials{ClientAddr: "203.0.113.7", Authorization: "Bearer x", TenantSlug: "acme"}
	reqCtx, cancel := context.WithCancel(context.WithValue(tenancy.WithCredentials(context.Background(), cred), otherKey{}, "kept?"))
	r := httptest.NewRequest(http.MethodGet, "/graphql", nil).WithContext(reqCtx)
	ctx := websocketContext(r)
	cancel()
	if got, want := tenancy.CredentialsFrom(ctx), (tenancy.Credentials{ClientAddr: "203.0.113.7"}); got != want {
		t.Errorf("credentials: got %+v, want %+v", got, want)
	}
	if v := ctx.Value(otherKey{}); v != nil {
		t.Errorf("another value of the request: got %v, want none", v)
	}
	if ctx.Err() != nil || ctx.Done() != nil {
		t.Error("the connection's context ends with the request's")
	}
}

// A subscription that writes its events itself (writeEventsDirectly) has
// them sent in order without the executor, and a panic while writing one
// ends it with an internal error.
func TestWebsocketDirectEvents(t *testing.T) {
	ws, client := socketPair(t)
	events := make(chan int, 10)
	op, wake, _ := eventedOperation(t, ws, events)
	op.c.t.recover = func(context.Context, any) error { return apperr.New(apperr.Internal, "internal server error") }
	writeEventsDirectly(context.WithValue(op.ctx, wsOperationKey{}, op), func(b *bytes.Buffer) bool {
		v, ok := <-events
		if !ok {
			return false
		}
		if v < 0 {
			panic("a row the writer cannot write")
		}
		b.WriteString(`{"data":{"n":` + strconv.Itoa(v) + `}}`)
		return true
	})
	op.serve(func(context.Context) *graphql.Response {
		t.Error("the executor was asked for an event the operation writes itself")
		return nil
	}, op.ctx)
	for _, v := range []int{1, 2, -1, 3} {
		events <- v
		wake()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, want := range []int{1, 2} {
		var m struct {
			ID, Type string
			Payload  struct{ Data struct{ N int } }
		}
		if err := wsjson.Read(ctx, client, &m); err != nil || m.ID != "s" || m.Type != "next" || m.Payload.Data.N != want {
			t.Fatalf("got %+v %v, want next %d for s", m, err, want)
		}
	}
	var m struct {
		ID, Type string
		Payload  []struct{ Extensions struct{ Code string } }
	}
	if err := wsjson.Read(ctx, client, &m); err != nil || m.Type != "error" || len(m.Payload) != 1 || m.Payload[0].Extensions.Code != string(apperr.Internal) {
		t.Fatalf("after the panic: got %+v %v, want an error with code %s", m, err, apperr.Internal)
	}
	op.c.write(pongMessage)
	if err := wsjson.Read(ctx, client, &m); err != nil || m.Type != "pong" {
		t.Fatalf("got %+v %v, want the pong and no event after the error", m, err)
	}
}

// A pump queued while a worker waits is not held up behind another that
// the waiting worker took first and is stuck in: the watch starts another
// worker. (run, seeing a worker waiting, started none and armed no watch.
// Here the waiting worker is only counted, and never comes: the pumps
// queued then must run all the same.)
func TestPumpersMoveOnPastAStuckWaitingWorker(t *testing.T) {
	p := &pumpers{work: make(chan func(), 16), most: 4, idle: time.Minute, stall: 20 * time.Millisecond}
	p.parked.Store(1) // a worker waiting, which will take a pump and stick in it
	ran := make(chan struct{})
	p.run(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("a pump queued while a worker waited did not run")
	}
}
