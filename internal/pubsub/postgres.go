package pubsub

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

// Channel is the PostgreSQL NOTIFY channel the brokers share.
const Channel = "tenantgraph_notifications"

// Postgres is a broker for several instances on one PostgreSQL: Publish
// sends NOTIFY (IDs only, no payloads), and every instance LISTENs through
// lib/pq's listener, which reconnects by itself, and fans events out to its
// own subscribers through a Local broker.
//
// The listener's connection is pinged every pingEvery. One that does not
// answer within pingTimeout is taken for dead and closed under lib/pq's
// feet (listenerDialer.cut), so that the listener reconnects: on a
// half-open connection (a failover, a NAT or proxy that forgot it) the ping
// would otherwise wait until TCP gives up, a quarter of an hour on Linux,
// or for ever behind a proxy that still acknowledges, while every NOTIFY
// of the other instances is lost and, since the ping holds the listener's
// lock, Close waits too.
type Postgres struct {
	*Local
	db          *sql.DB
	listener    *pq.Listener
	dialer      *listenerDialer
	log         *slog.Logger
	pingEvery   time.Duration
	pingTimeout time.Duration
	done        chan struct{}
	wg          sync.WaitGroup
	closeOnce   sync.Once
	closeErr    error
}

// PostgresOption tunes a Postgres broker.
type PostgresOption func(*Postgres)

// WithPing sets how often the listener's connection is pinged and how long
// a ping may take before the connection is closed and made again (by
// default every 30 s, within 10 s).
func WithPing(every, timeout time.Duration) PostgresOption {
	return func(p *Postgres) { p.pingEvery, p.pingTimeout = every, timeout }
}

// closeWait is how long Close waits for the listener before it closes the
// listener's connection under it (a ping stuck on a dead connection holds
// the listener's lock).
const closeWait = 2 * time.Second

// NewPostgres connects a listener to url and starts fanning events out.
func NewPostgres(url string, db *sql.DB, buffer int, log *slog.Logger, opts ...PostgresOption) (*Postgres, error) {
	p := &Postgres{Local: NewLocal(buffer), db: db, log: log, done: make(chan struct{}),
		dialer: &listenerDialer{}, pingEvery: 30 * time.Second, pingTimeout: 10 * time.Second}
	for _, o := range opts {
		o(p)
	}
	p.listener = pq.NewDialListener(p.dialer, url, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventDisconnected:
			log.Warn("notification listener disconnected; reconnecting", "error", fmt.Sprint(err))
		case pq.ListenerEventReconnected:
			log.Info("notification listener reconnected")
		case pq.ListenerEventConnectionAttemptFailed:
			log.Warn("notification listener could not connect", "error", fmt.Sprint(err))
		}
	})
	if err := p.listener.Listen(Channel); err != nil {
		p.listener.Close()
		return nil, fmt.Errorf("pubsub: LISTEN %s: %w", Channel, err)
	}
	p.wg.Add(1)
	go p.fanOut()
	return p, nil
}

// Publish sends the events to every instance, this one included, in one
// statement: as few NOTIFY payloads as fit them (a broadcast to a thousand
// recipients is three or four payloads, not a thousand messages for every
// listener to take one at a time). Call it after the events' transaction
// committed. The API publishes through PublishIn instead, inside the
// transaction.
func (p *Postgres) Publish(ctx context.Context, events ...Event) error {
	return p.PublishIn(ctx, func(ctx context.Context, query string, args ...any) error {
		_, err := p.db.ExecContext(ctx, query, args...)
		return err
	}, events...)
}

// PublishIn runs, through exec, the NOTIFY statement of Publish. Run in a
// transaction, it is sent when the transaction commits and not otherwise
// (PostgreSQL's NOTIFY is transactional): no failure after the commit can
// lose the events (InTx).
func (p *Postgres) PublishIn(ctx context.Context, exec Exec, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	// Revokes travel in payloads of their own, after the notifications: an
	// instance of an older release, during a rolling upgrade, refuses a
	// payload with one (it knows no notification 0) and would lose the
	// notifications packed beside it. A notification is never written for
	// a user after their revoke in the same publish (they are not a member
	// then), so sending the revokes last keeps every user's order.
	revokes := slices.DeleteFunc(slices.Clone(events), func(e Event) bool { return !e.Revokes() })
	events = slices.DeleteFunc(slices.Clone(events), Event.Revokes)
	var payloads []string
	if len(events) > 0 {
		payloads = encode(events)
	}
	if len(revokes) > 0 {
		payloads = append(payloads, encode(revokes)...)
	}
	if err := exec(ctx, `SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x`, Channel, pq.Array(payloads)); err != nil {
		return fmt.Errorf("pubsub: NOTIFY: %w", err)
	}
	return nil
}

func (p *Postgres) fanOut() {
	defer p.wg.Done()
	ping := time.NewTicker(p.pingEvery)
	defer ping.Stop()
	var pinging atomic.Bool
	for {
		select {
		case <-p.done:
			return
		case n, ok := <-p.listener.Notify:
			if !ok {
				return
			}
			if n == nil {
				// The listener reconnected. What was notified while it was
				// down never reached it: the rows are in the notifications
				// list, but not on the streams, and revokes were lost too.
				// Rather than leave the streams open with a silent gap, end
				// them as dropped, so that their clients read the list and
				// subscribe again (the websocket is closed with 1013 Try
				// Again Later: graph/notifications.go).
				dropped := p.Local.DropAll()
				p.log.Warn("notification listener re-established: ended the live subscriptions, which missed what was notified meanwhile", "subscriptions", dropped)
				continue
			}
			events, err := decode(n.Extra)
			if err != nil {
				p.log.Warn("ignoring malformed notification events", "payload", n.Extra)
				continue
			}
			_ = p.Local.Publish(context.Background(), events...)
		case <-ping.C:
			// One ping at a time: a new one every tick would queue behind
			// one that waits for its answer.
			if pinging.CompareAndSwap(false, true) {
				go func() {
					defer pinging.Store(false)
					p.ping()
				}()
			}
		}
	}
}

// ping pings the listener's connection, and closes it if no answer comes
// within pingTimeout: the listener then reconnects (and fanOut drops the
// subscriptions, which may have missed events meanwhile). It returns once
// the ping has (or the broker is closing), so that pings never pile up.
func (p *Postgres) ping() {
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		_ = p.listener.Ping()
	}()
	timeout := time.NewTimer(p.pingTimeout)
	defer timeout.Stop()
	select {
	case <-answered:
	case <-p.done:
	case <-timeout.C:
		p.log.Warn("notification listener: no answer to a ping; closing its connection to make it again", "waited", p.pingTimeout.String())
		p.dialer.cut()
		select {
		case <-answered:
		case <-p.done:
		}
	}
}

// Close stops listening and ends every subscription. It is safe to call
// more than once, as Local's is.
func (p *Postgres) Close() error {
	p.closeOnce.Do(func() {
		close(p.done)
		closed := make(chan error, 1)
		go func() { closed <- p.listener.Close() }()
		select {
		case p.closeErr = <-closed:
		case <-time.After(closeWait):
			p.dialer.cut() // a ping stuck on a dead connection holds the listener's lock
			p.closeErr = <-closed
		}
		p.wg.Wait()
		_ = p.Local.Close()
	})
	return p.closeErr
}

// listenerDialer dials the listener's connections for lib/pq and keeps the
// last one, so that a connection that stopped answering can be closed
// under lib/pq, which offers no way to close it without taking the lock a
// stuck ping holds. TCP keep-alives find a peer gone while nothing is sent,
// and a dial gives up after dialTimeout (lib/pq dials under that lock too,
// and without connect_timeout in the URL it would wait out the kernel's
// retries, about two minutes).
type listenerDialer struct {
	d    net.Dialer
	mu   sync.Mutex
	conn net.Conn
}

func (d *listenerDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d *listenerDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

// dialTimeout bounds the listener's TCP dials.
const dialTimeout = 10 * time.Second

func (d *listenerDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, err := d.d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.conn = conn
	d.mu.Unlock()
	return conn, nil
}

// cut closes the last connection dialed.
func (d *listenerDialer) cut() {
	d.mu.Lock()
	conn := d.conn
	d.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
}

// maxPayload is the most bytes put in one NOTIFY payload (PostgreSQL's
// limit is 8,000).
const maxPayload = 7900

// encode writes events as "tenant:user:notification" separated by ";", as
// few payloads as fit them within maxPayload bytes each.
func encode(events []Event) []string {
	var payloads []string
	var b strings.Builder
	for _, e := range events {
		one := fmt.Sprintf("%d:%d:%d", e.TenantID, e.UserID, e.NotificationID)
		if b.Len() > 0 && b.Len()+1+len(one) > maxPayload {
			payloads = append(payloads, b.String())
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(one)
	}
	return append(payloads, b.String())
}

// decode reads one payload of encode's: all its events, or an error if any
// of them is malformed.
func decode(s string) ([]Event, error) {
	var events []Event
	for _, one := range strings.Split(s, ";") {
		parts := strings.Split(one, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("pubsub: malformed event %q", one)
		}
		var n [3]int
		for i, part := range parts {
			v, err := strconv.Atoi(part)
			if err != nil || v < 0 || v == 0 && i < 2 { // a notification 0 is a Revoke
				return nil, fmt.Errorf("pubsub: malformed event %q", one)
			}
			n[i] = v
		}
		events = append(events, Event{TenantID: n[0], UserID: n[1], NotificationID: n[2]})
	}
	return events, nil
}
