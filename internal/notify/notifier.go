package notify

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"tenantgraph/ent"
	"tenantgraph/ent/privacy"
	"tenantgraph/internal/pubsub"
)

// Notifier turns domain events into notifications, inside the transaction of
// the change that caused them: IN_APP rows (beyond a broadcast's first
// 1,000, an IN_APP outbox entry per share: shares.go) and EMAIL/SLACK
// outbox entries are written with the change or not at all. What must
// happen after commit (publishing to the live feed, writing the shares,
// waking the dispatcher) is collected in the transaction's Batch and done
// by Committed.
type Notifier struct {
	broker pubsub.Broker
	wake   func()
	log    *slog.Logger

	// The writers of committed broadcasts' shares (shares.go): at most
	// shareWriters broadcasts at once, on goroutines of their own.
	turns   chan struct{}
	mu      sync.Mutex
	idle    *sync.Cond // broadcast when writers falls to 0
	writers int
	closing chan struct{} // closed by Close
}

// shareWriters bounds the broadcasts whose shares are written at once: the
// writing is done by the database, which more writers would only make
// take turns (SQLite) or compete for its cores (PostgreSQL).
const shareWriters = 2

// maxShareWriters bounds the broadcasts being written or waiting for a
// turn (writeShares).
const maxShareWriters = 64

// NewNotifier returns a notifier publishing to broker; wake (may be nil)
// tells the dispatcher that outbox entries are waiting.
func NewNotifier(broker pubsub.Broker, wake func(), log *slog.Logger) *Notifier {
	if wake == nil {
		wake = func() {}
	}
	n := &Notifier{broker: broker, wake: wake, log: log, turns: make(chan struct{}, shareWriters), closing: make(chan struct{})}
	n.idle = sync.NewCond(&n.mu)
	return n
}

// Wait returns once no broadcast's shares are being written.
func (n *Notifier) Wait() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for n.writers > 0 {
		n.idle.Wait()
	}
}

// Close stops writing shares (each writer finishes the share it is
// writing) and waits for the writers. The shares left are the
// dispatcher's, once their grace has passed: a server shutting down closes
// its notifier after its last request and before its database.
func (n *Notifier) Close() {
	n.mu.Lock()
	select {
	case <-n.closing:
	default:
		close(n.closing)
	}
	n.mu.Unlock()
	n.Wait()
}

// Batch is what one transaction will publish once it has committed.
type Batch struct {
	mu      sync.Mutex
	events  []pubsub.Event
	written []*ent.Notification
	shares  []int // IN_APP outbox entries to write after commit (shares.go)
	outbox  bool
}

type batchKey struct{}

// WithBatch returns ctx carrying a fresh batch for a transaction.
func WithBatch(ctx context.Context) (context.Context, *Batch) {
	b := &Batch{}
	return context.WithValue(ctx, batchKey{}, b), b
}

func batchFrom(ctx context.Context) *Batch {
	b, _ := ctx.Value(batchKey{}).(*Batch)
	return b
}

// Stage announces the batch's in-app notifications (and revokes) as part
// of c's transaction, when the broker can (announce): call it last before
// committing. On PostgreSQL the NOTIFY then goes out with the commit, and
// a change is never committed without it, as it was when a publish after
// the commit failed (a pool too busy to take the statement in time) and
// every subscriber's stream went on with a silent gap. An error means that
// the transaction must not commit. Committed then does the rest; without
// Stage, it publishes too.
func (n *Notifier) Stage(ctx context.Context, c *ent.Client, b *Batch, written func([]*ent.Notification)) error {
	b.mu.Lock()
	events, rows := b.events, b.written
	b.mu.Unlock()
	announced, err := announce(ctx, n.broker, c, events, rows, written)
	if err != nil || !announced {
		return err
	}
	b.mu.Lock()
	b.events, b.written = nil, nil
	b.mu.Unlock()
	return nil
}

// Committed publishes the batch's in-app notifications to the live feed,
// starts writing the shares of large broadcasts that the transaction queued
// (shares.go) and wakes the dispatcher. c is the client outside the
// transaction. written, when set, is given each set of rows before they
// are published: the live feed hands them to their subscribers without
// reading them back. Call it only after the transaction committed. It does
// not wait for the shares: they are written in the background, one
// transaction each, each published as it commits (Wait waits for them).
func (n *Notifier) Committed(ctx context.Context, c *ent.Client, b *Batch, written func([]*ent.Notification)) {
	b.mu.Lock()
	events, rows, shares, outbox := b.events, b.written, b.shares, b.outbox
	b.events, b.written, b.shares, b.outbox = nil, nil, nil, false
	b.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	n.publish(ctx, events, rows, written)
	if len(shares) > 0 {
		n.writeShares(ctx, c, shares, written)
	}
	if outbox {
		n.wake()
	}
}

// writeShares writes a committed broadcast's shares on a goroutine of its
// own, in order, stopping at an error or when the notifier closes: the
// dispatcher then writes the rest. When maxShareWriters broadcasts are
// being written or waiting for their turn already, it leaves this one's to
// the dispatcher too, once their grace has passed: when the database
// falls behind, a goroutine per waiting broadcast, each holding its
// request's context, would pile up without bound.
func (n *Notifier) writeShares(ctx context.Context, c *ent.Client, shares []int, written func([]*ent.Notification)) {
	n.mu.Lock()
	select {
	case <-n.closing:
		n.mu.Unlock()
		return
	default:
	}
	if n.writers >= maxShareWriters {
		n.mu.Unlock()
		n.log.WarnContext(ctx, "too many broadcasts waiting to be written; the dispatcher will write this one's after its grace",
			"entries", len(shares), "waiting", maxShareWriters)
		return
	}
	n.writers++
	n.mu.Unlock()
	go func() {
		defer func() {
			n.mu.Lock()
			n.writers--
			if n.writers == 0 {
				n.idle.Broadcast()
			}
			n.mu.Unlock()
		}()
		select {
		case n.turns <- struct{}{}:
			defer func() { <-n.turns }()
		case <-n.closing:
			return
		}
		sys := privacy.DecisionContext(ctx, privacy.Allow)
		for i, id := range shares {
			select {
			case <-n.closing:
				return
			default:
			}
			events, rows, err := writeShareRecovering(sys, c, id, n.broker, written)
			if err != nil {
				// Its entry stays: the dispatcher writes it, and those
				// after it, once their grace has passed.
				n.log.ErrorContext(ctx, "writing a broadcast's in-app notifications; the dispatcher will", "error", err.Error(),
					"entry", id, "shares_left", len(shares)-i)
				return
			}
			n.publish(ctx, events, rows, written)
		}
	}()
}

// writeShareRecovering is writeShare, with a panic made its error: the
// share's transaction is rolled back and its entry stays for the
// dispatcher, rather than the panic ending the process.
func writeShareRecovering(ctx context.Context, c *ent.Client, id int, broker pubsub.Broker, written func([]*ent.Notification)) (events []pubsub.Event, rows []*ent.Notification, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("notify: writing share %d panicked: %v\n%s", id, r, debug.Stack())
		}
	}()
	return writeShare(ctx, c, id, broker, written)
}

// publish hands committed rows to written and their events to the broker.
func (n *Notifier) publish(ctx context.Context, events []pubsub.Event, rows []*ent.Notification, written func([]*ent.Notification)) {
	if written != nil && len(rows) > 0 {
		written(rows)
	}
	publishEvents(ctx, n.broker, n.log, events)
}

// announce hands rows to written and publishes events in c's transaction,
// if broker can publish in one (pubsub.InTx), and reports whether it did:
// when it did not, the caller publishes them once the transaction has
// committed (publish). written gets the rows before the commit, so that
// the live feed has them when the commit's events arrive; rows of a
// transaction that then fails are never asked for, and the feed forgets
// them after a few seconds (a rolled-back row's ID is not used again:
// PostgreSQL's sequences do not go back).
func announce(ctx context.Context, broker pubsub.Broker, c *ent.Client, events []pubsub.Event, rows []*ent.Notification, written func([]*ent.Notification)) (bool, error) {
	in, ok := broker.(pubsub.InTx)
	if !ok {
		return false, nil
	}
	if written != nil && len(rows) > 0 {
		written(rows)
	}
	if len(events) == 0 {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := in.PublishIn(ctx, execIn(c), events...); err != nil {
		return false, fmt.Errorf("notify: publishing notifications: %w", err)
	}
	return true, nil
}

// execIn runs a statement through c (in its transaction, for a
// transaction's client).
func execIn(c *ent.Client) pubsub.Exec {
	return func(ctx context.Context, query string, args ...any) error {
		var rows entsql.Rows
		if err := c.RawQuery(ctx, query, args, &rows); err != nil {
			return err
		}
		for rows.Next() {
		}
		err := rows.Err()
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		return err
	}
}

// publishTimeout bounds one publish. A mutation's response waits for it,
// and on PostgreSQL it is a statement (in the transaction: announce): a
// stalled database must not hold the answer for long.
var publishTimeout = 5 * time.Second

// publishEvents hands committed rows' events to a broker that cannot
// publish in a transaction (announce did not). Failing, or taking longer
// than publishTimeout, it logs: the rows are committed, and the
// notification list has them; only the live push is lost. The in-process
// broker, the only such broker the server uses, does not fail.
func publishEvents(ctx context.Context, broker pubsub.Broker, log *slog.Logger, events []pubsub.Event) {
	if broker == nil || len(events) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := broker.Publish(ctx, events...); err != nil {
		log.ErrorContext(ctx, "publishing notifications", "error", err.Error(), "count", len(events))
	}
}
