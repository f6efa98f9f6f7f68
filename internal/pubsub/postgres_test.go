package pubsub_test

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"log/slog"
	"net"
	neturl "net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"

	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/pubsub"
)

// newTestPostgres returns a fresh PostgreSQL database's URL, or skips when
// there is no PostgreSQL here (TEST_DATABASE_URL unset outside CI; in CI
// graphtest.Dialects fails instead).
func newTestPostgres(t *testing.T) string {
	t.Helper()
	if !slices.Contains(graphtest.Dialects(t), dialect.Postgres) {
		t.Skip("TEST_DATABASE_URL is not set: no PostgreSQL to test the LISTEN/NOTIFY broker against")
	}
	return graphtest.NewDatabaseURL(t, dialect.Postgres)
}

// logBuffer is a goroutine-safe log destination.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newTestBroker starts a PostgreSQL broker (one "instance") on url.
func newTestBroker(t *testing.T, url string, logs *logBuffer) (*pubsub.Postgres, *sql.DB) {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b, err := pubsub.NewPostgres(url, db, 0, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatalf("NewPostgres: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b, db
}

func TestPostgresDeliversAcrossInstances(t *testing.T) {
	url := newTestPostgres(t)
	var logs logBuffer
	one, _ := newTestBroker(t, url, &logs)
	two, _ := newTestBroker(t, url, &logs)

	onTwo := two.Subscribe(1, 10)
	onOne := one.Subscribe(1, 10) // the publishing instance hears its own events too
	otherUser := two.Subscribe(1, 11)
	otherTenant := two.Subscribe(2, 10)

	events := []pubsub.Event{{TenantID: 1, UserID: 10, NotificationID: 100}, {TenantID: 1, UserID: 10, NotificationID: 101}}
	if err := one.Publish(context.Background(), events...); err != nil {
		t.Fatalf("Publish: got %v, want nil", err)
	}
	for name, sub := range map[string]*pubsub.Subscription{"the other instance": onTwo, "the publishing instance": onOne} {
		for _, want := range events {
			if got := mustReceive(t, sub); got != want {
				t.Errorf("%s: got %+v, want %+v", name, got, want)
			}
		}
	}
	// A marker for user 11 proves the fan-out got past the events above.
	if err := one.Publish(context.Background(), pubsub.Event{TenantID: 1, UserID: 11, NotificationID: 102}); err != nil {
		t.Fatal(err)
	}
	if got := mustReceive(t, otherUser); got.NotificationID != 102 {
		t.Errorf("another user: got %+v, want only the marker 102", got)
	}
	if got, _ := drain(otherTenant); len(got) != 0 {
		t.Errorf("the same user in another tenant: got %v, want nothing", got)
	}
	if got, _ := drain(onTwo); len(got) != 0 {
		t.Errorf("after the two events: got %v more, want nothing", got)
	}
	if err := one.Publish(context.Background()); err != nil {
		t.Errorf("Publish of no events: got %v, want nil", err)
	}
}

func TestPostgresIgnoresMalformedPayloads(t *testing.T) {
	url := newTestPostgres(t)
	var logs logBuffer
	b, db := newTestBroker(t, url, &logs)
	sub := b.Subscribe(1, 10)

	malformed := []string{"", "garbage", "1:10", "1:10:x", "1:10:5:6", "0:10:5", "1:0:5", "-1:10:5", "1:10:-5", " 1:10:5", "1.5:10:5", "99999999999999999999:10:5",
		// A payload with one bad event is refused whole.
		"1:10:5;", ";1:10:5", "1:10:5;;1:10:6", "1:10:5;garbage", "1:10:5,1:10:6"}
	for _, p := range malformed {
		if _, err := db.Exec(`SELECT pg_notify($1, $2)`, pubsub.Channel, p); err != nil {
			t.Fatalf("pg_notify(%q): %v", p, err)
		}
	}
	// NOTIFYs from one session arrive in order: once the good one is here,
	// the malformed ones have all been handled.
	if _, err := db.Exec(`SELECT pg_notify($1, $2)`, pubsub.Channel, "1:10:7"); err != nil {
		t.Fatal(err)
	}
	want := pubsub.Event{TenantID: 1, UserID: 10, NotificationID: 7}
	if got := mustReceive(t, sub); got != want {
		t.Fatalf("got %+v, want %+v (the malformed payloads ignored)", got, want)
	}
	if got, closed := drain(sub); len(got) != 0 || closed {
		t.Errorf("after the good payload: got %v (closed %v), want nothing and still subscribed", got, closed)
	}
	if got := strings.Count(logs.String(), "ignoring malformed notification event"); got != len(malformed) {
		t.Errorf("warnings logged: got %d, want %d\n%s", got, len(malformed), logs.String())
	}
}

// A Revoke ("tenant:user:0") ends the user's subscriptions in that tenant
// on every instance, after the events published before it; other users'
// and other tenants' stay.
func TestPostgresRevokeEndsSubscriptionsAcrossInstances(t *testing.T) {
	url := newTestPostgres(t)
	var logs logBuffer
	one, _ := newTestBroker(t, url, &logs)
	two, _ := newTestBroker(t, url, &logs)
	onTwo, onOne := two.Subscribe(1, 10), one.Subscribe(1, 10)
	otherUser, otherTenant := two.Subscribe(1, 11), two.Subscribe(2, 10)
	otherUserOnOne := one.Subscribe(1, 11) // a marker: each instance got past the Revoke

	before := pubsub.Event{TenantID: 1, UserID: 10, NotificationID: 100}
	if err := one.Publish(context.Background(), before, pubsub.Revoke(1, 10), pubsub.Event{TenantID: 1, UserID: 11, NotificationID: 101}); err != nil {
		t.Fatal(err)
	}
	// The revoke travels last, in a payload of its own; a later publish is
	// a marker that each instance got past it.
	if err := one.Publish(context.Background(), pubsub.Event{TenantID: 1, UserID: 11, NotificationID: 102}); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []*pubsub.Subscription{otherUser, otherUserOnOne} {
		for _, want := range []int{101, 102} {
			if got := mustReceive(t, sub); got.NotificationID != want {
				t.Fatalf("another user: got %+v, want %d", got, want)
			}
		}
	}
	for name, sub := range map[string]*pubsub.Subscription{"the other instance": onTwo, "the publishing instance": onOne} {
		if got, closed := drain(sub); len(got) != 1 || got[0] != before || !closed {
			t.Errorf("%s: got %v (ended %v), want the event before the Revoke, then the end", name, got, closed)
		}
	}
	if _, closed := drain(otherTenant); closed {
		t.Error("the same user in another tenant: ended, want still subscribed")
	}
	if logs.String() != "" {
		t.Errorf("logged: %s", logs.String())
	}
}

// rawListener listens on the brokers' channel itself, to see the payloads
// as they travel.
func rawListener(t *testing.T, url string) *pq.Listener {
	t.Helper()
	raw := pq.NewListener(url, 100*time.Millisecond, time.Second, nil)
	t.Cleanup(func() { raw.Close() })
	if err := raw.Listen(pubsub.Channel); err != nil {
		t.Fatal(err)
	}
	return raw
}

// Revokes travel last, in payloads of their own: an instance of an older
// release, which refuses a payload holding one, loses no notification.
func TestPostgresRevokesTravelApart(t *testing.T) {
	url := newTestPostgres(t)
	var logs logBuffer
	b, _ := newTestBroker(t, url, &logs)
	raw := rawListener(t, url)
	if err := b.Publish(context.Background(), pubsub.Event{TenantID: 1, UserID: 10, NotificationID: 100}, pubsub.Revoke(1, 20),
		pubsub.Event{TenantID: 1, UserID: 11, NotificationID: 101}, pubsub.Revoke(1, 21)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		select {
		case m := <-raw.Notify:
			got = append(got, m.Extra)
		case <-time.After(5 * time.Second):
			t.Fatalf("payloads: got %q, want 2", got)
		}
	}
	if want := []string{"1:10:100;1:11:101", "1:20:0;1:21:0"}; !slices.Equal(got, want) {
		t.Errorf("payloads: got %q, want %q", got, want)
	}
}

// TestPostgresBatchesLargeBroadcasts: a broadcast to thousands of
// recipients travels as a few NOTIFY payloads (each within PostgreSQL's
// 8,000 bytes), and every recipient gets its own event exactly once.
func TestPostgresBatchesLargeBroadcasts(t *testing.T) {
	url := newTestPostgres(t)
	var logs logBuffer
	b, _ := newTestBroker(t, url, &logs)
	raw := rawListener(t, url)
	const n = 3000
	subs := make([]*pubsub.Subscription, n)
	events := make([]pubsub.Event, n)
	for i := range n {
		subs[i] = b.Subscribe(7, 1000+i)
		events[i] = pubsub.Event{TenantID: 7, UserID: 1000 + i, NotificationID: 500000 + i}
	}
	if err := b.Publish(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
	for i, s := range subs {
		if got := mustReceive(t, s); got != events[i] {
			t.Fatalf("subscriber %d: got %+v, want %+v", i, got, events[i])
		}
	}
	for i, s := range subs {
		if got, closed := drain(s); len(got) != 0 || closed {
			t.Fatalf("subscriber %d: then got %v (closed %v), want nothing more", i, got, closed)
		}
	}
	payloads, size := 0, 0
	for payloads < n {
		select {
		case m := <-raw.Notify:
			payloads++
			size += len(m.Extra)
			if len(m.Extra) > 8000 {
				t.Errorf("a payload of %d bytes, over PostgreSQL's 8,000", len(m.Extra))
			}
			continue
		case <-time.After(500 * time.Millisecond):
		}
		break
	}
	t.Logf("%d events in %d payloads (%d bytes)", n, payloads, size)
	if want := size/7900 + 1; payloads > want {
		t.Errorf("payloads: got %d for %d bytes, want at most %d", payloads, size, want)
	}
	if strings.Contains(logs.String(), "malformed") {
		t.Errorf("the broker found its own payloads malformed:\n%s", logs.String())
	}
}

func TestPostgresCloseEndsSubscriptions(t *testing.T) {
	url := newTestPostgres(t)
	var logs logBuffer
	b, _ := newTestBroker(t, url, &logs)
	subs := []*pubsub.Subscription{b.Subscribe(1, 10), b.Subscribe(2, 20)}
	within(t, 5*time.Second, "Close", func() { _ = b.Close() })
	for i, s := range subs {
		if _, closed := drain(s); !closed {
			t.Errorf("subscription %d: open after Close, want closed", i)
		}
	}
	if _, closed := drain(b.Subscribe(1, 10)); !closed {
		t.Errorf("Subscribe after Close: open, want closed")
	}
}

// TestPostgresReconnectDropsSubscriptions: what is notified while the
// listener's connection is down never reaches it, so once it is back, the
// subscriptions that were open are ended as dropped (their clients come
// back for what they missed) rather than left open with a silent gap; the
// broker goes on serving new ones.
func TestPostgresReconnectDropsSubscriptions(t *testing.T) {
	url := newTestPostgres(t)
	var logs logBuffer
	b, db := newTestBroker(t, url, &logs)
	subs := []*pubsub.Subscription{b.Subscribe(1, 10), b.Subscribe(2, 20)}
	graphtest.CutListener(t, db)
	for i, s := range subs {
		select {
		case _, open := <-s.C:
			if open {
				t.Errorf("subscription %d: got an event, want it ended", i)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("subscription %d: still open 15s after the listener's connection was cut", i)
		}
		if !s.Dropped() || s.BrokerClosed() {
			t.Errorf("subscription %d: dropped %v, broker closed %v, want dropped only", i, s.Dropped(), s.BrokerClosed())
		}
	}
	// The line follows the drop (it counts what was dropped).
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "re-established"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("logs: want the reconnection and the dropped subscriptions told, got\n%s", logs.String())
			break
		}
	}
	mustServeNewSubscriptions(t, b, 7)
}

// mustServeNewSubscriptions checks that a subscription made now hears
// notification n, published now.
func mustServeNewSubscriptions(t *testing.T, b *pubsub.Postgres, n int) {
	t.Helper()
	after := b.Subscribe(1, 10)
	want := pubsub.Event{TenantID: 1, UserID: 10, NotificationID: n}
	if err := b.Publish(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	if got := mustReceive(t, after); got != want {
		t.Errorf("a subscription after the reconnection: got %+v, want %+v", got, want)
	}
}

// TestPostgresListenerThatStopsAnsweringIsMadeAgain: a listener connection
// that is open but no longer answers (half-open after a failover, or a
// proxy or NAT that forgot it while still acknowledging what it is sent)
// is closed once a ping goes unanswered, and made again. The open
// subscriptions, which may have missed events meanwhile, are dropped, and
// what is published afterwards arrives.
func TestPostgresListenerThatStopsAnsweringIsMadeAgain(t *testing.T) {
	var logs logBuffer
	b, proxy := newProxiedBroker(t, &logs, pubsub.WithPing(100*time.Millisecond, 500*time.Millisecond))
	t.Cleanup(func() { closeWithin(t, b, 20*time.Second) })

	before := b.Subscribe(1, 10)
	first := pubsub.Event{TenantID: 1, UserID: 10, NotificationID: 7}
	if err := b.Publish(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	if got := mustReceive(t, before); got != first {
		t.Fatalf("before the stall: got %+v, want %+v", got, first)
	}

	proxy.stall() // the listener's connection goes quiet, the socket stays open
	select {
	case _, open := <-before.C:
		if open {
			t.Errorf("got an event after the stall, want the subscription ended")
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the subscription is still open 15s after its listener's connection stopped answering; logs:\n%s", logs.String())
	}
	if !before.Dropped() {
		t.Errorf("the subscription ended, but not as dropped")
	}
	if !strings.Contains(logs.String(), "no answer to a ping") {
		t.Errorf("logs: want the unanswered ping told, got\n%s", logs.String())
	}
	mustServeNewSubscriptions(t, b, 8)
}

// TestPostgresCloseDoesNotWaitForAStuckPing: a ping waiting on a connection
// that no longer answers holds lib/pq's listener lock, which its Close
// takes; the broker's Close closes the connection under it rather than wait
// for TCP to give up.
func TestPostgresCloseDoesNotWaitForAStuckPing(t *testing.T) {
	var logs logBuffer
	b, proxy := newProxiedBroker(t, &logs, pubsub.WithPing(50*time.Millisecond, time.Hour)) // the ping waits, nothing closes the connection
	sub := b.Subscribe(1, 10)
	proxy.stall()
	time.Sleep(300 * time.Millisecond) // a ping has been sent, and waits
	if !closeWithin(t, b, 10*time.Second) {
		return
	}
	if _, open := <-sub.C; open || !sub.BrokerClosed() {
		t.Errorf("after Close: the subscription is open %v, broker closed %v; want it ended by the broker's close", open, sub.BrokerClosed())
	}
}

// newProxiedBroker starts a broker on a fresh database whose listener
// connects through a stallingProxy; it publishes directly. The caller
// closes the broker.
func newProxiedBroker(t *testing.T, logs *logBuffer, opts ...pubsub.PostgresOption) (*pubsub.Postgres, *stallingProxy) {
	t.Helper()
	url := newTestPostgres(t)
	proxy := newStallingProxy(t, url)
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b, err := pubsub.NewPostgres(proxy.url, db, 0, slog.New(slog.NewJSONHandler(logs, nil)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b, proxy
}

// closeWithin closes b, failing the test if that takes longer than within
// (and leaving it to finish, or not, on its own); false if it did.
func closeWithin(t *testing.T, b *pubsub.Postgres, within time.Duration) bool {
	t.Helper()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		b.Close()
	}()
	select {
	case <-closed:
		return true
	case <-time.After(within):
		t.Errorf("Close has not returned after %s: it waits behind a ping on a connection that does not answer", within)
		return false
	}
}

// stallingProxy forwards TCP connections to a PostgreSQL server until
// stall, after which the connections open then forward nothing more, in
// either direction, but stay open: the bytes sent on them are
// acknowledged and go nowhere, as on a connection a proxy or a NAT has
// forgotten. Connections made after stall forward as usual.
type stallingProxy struct {
	url string

	mu     sync.Mutex
	conns  []*proxiedConn
	closed chan struct{}
}

type proxiedConn struct {
	stalled atomic.Bool
	a, b    net.Conn
}

func newStallingProxy(t *testing.T, target string) *stallingProxy {
	t.Helper()
	u, err := neturl.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() == "" || strings.Contains(u.RawQuery, "host=") {
		t.Skipf("the proxy forwards TCP; %s names no TCP host", u.Redacted())
	}
	upstream := net.JoinHostPort(u.Hostname(), cmp.Or(u.Port(), "5432")) // lib/pq's default port
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.Host = ln.Addr().String()
	p := &stallingProxy{url: u.String(), closed: make(chan struct{})}
	t.Cleanup(func() {
		close(p.closed)
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.a.Close()
			c.b.Close()
		}
	})
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", upstream)
			if err != nil {
				client.Close()
				continue
			}
			c := &proxiedConn{a: client, b: server}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			go p.forward(c, client, server)
			go p.forward(c, server, client)
		}
	}()
	return p
}

// forward copies from src to dst until either ends; once c is stalled, what
// it reads it keeps, and it reads no more.
func (p *stallingProxy) forward(c *proxiedConn, src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if c.stalled.Load() {
				<-p.closed
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// stall makes every connection open now forward nothing more.
func (p *stallingProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.stalled.Store(true)
	}
}
