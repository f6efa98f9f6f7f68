package notify

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/outboxentry"
	"tenantgraph/ent/privacy"
	"tenantgraph/ent/user"
	"tenantgraph/internal/pubsub"
)

// DispatcherConfig tunes outbox delivery. Zero fields take the defaults.
type DispatcherConfig struct {
	Poll        time.Duration // how often to look for due entries without a wake-up (1s)
	MaxAttempts int           // attempts before an email or Slack entry is FAILED (10); an IN_APP share is retried until written
	BaseBackoff time.Duration // wait after the first failure, doubled each time (2s)
	MaxBackoff  time.Duration // longest wait between attempts (5m)
	BatchSize   int           // entries claimed at once (20)
	SendTimeout time.Duration // bound on one delivery, its tenant's lookup included (10s)
	// Lease is how long a claimed entry is ours before others may claim it
	// again: never less than a batch's worst case (leaseFor), which it is
	// by default: 85s with the defaults.
	Lease time.Duration
	// StopGrace is how long the sends under way may finish once RunOnce's
	// (or Run's) context ends, before their own contexts are cancelled (5s).
	StopGrace time.Duration
	Now       func() time.Time
	// Observe, when set, hears of every attempt: its channel and outcome
	// (delivered, retry or failed). The server counts them in its metrics.
	Observe func(channel, outcome string)
	// Broker, when set, receives the events of the in-app rows written for
	// IN_APP entries (the shares of a broadcast that an instance left
	// unwritten), for the live feed. Without it the rows are written but
	// pushed to nobody.
	Broker pubsub.Broker
}

func (c *DispatcherConfig) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.Poll, time.Second)
	set(&c.BaseBackoff, 2*time.Second)
	set(&c.MaxBackoff, 5*time.Minute)
	set(&c.SendTimeout, 10*time.Second)
	set(&c.StopGrace, 5*time.Second)
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 20
	}
	c.Lease = max(c.Lease, leaseFor(c.BatchSize, c.SendTimeout))
	if c.Now == nil {
		c.Now = time.Now
	}
}

// workers is how many entries of a batch are delivered at once.
const workers = 4

// recordTimeout bounds the update that records an attempt's outcome, and
// the one that hands back entries not started. Both run on a context that
// shutdown does not cancel: a message that was sent must be marked so, or
// it is sent again after the restart.
const recordTimeout = 5 * time.Second

// recordRetryWait is the first wait before a failed record of an outcome
// is tried again (doubled each time, up to 2 s), and recordRetries the most
// tries after the first; each must also fit in the lease (deliver).
const (
	recordRetryWait = 250 * time.Millisecond
	recordRetries   = 8
)

// leaseSlack bounds the claim's own transaction, and is kept free at the
// end of a lease for instances whose clocks disagree a little.
const leaseSlack = 5 * time.Second

// leaseFor is the worst case of a batch, and the shortest lease. The lease
// starts when the claim does, and the claim takes at most leaseSlack. Each
// entry's work is bounded: its send, tenant lookup included, by
// sendTimeout, and the record of its outcome by recordTimeout. workers
// deliver the batch in order, each taking the next entry as soon as it is
// done, so k such bounds after the claim every worker has started k+1
// entries: the last of a batch of n ends within ceil(n/workers) of them.
// With leaseSlack kept free at the end for the clocks: 20 entries, 4 at a
// time, 10s + 5s each, is 5 + 75 + 5 = 85s.
//
// And whatever the timing, a send never starts unless it and its record
// can end leaseSlack before the lease does (inTime; RunOnce hands the rest
// back), so no other instance can claim an entry while it is being sent:
// what the bounds above cannot cover (an IN_APP share's writing, which is
// not bounded, or a sender that ignores its context) delays an entry, it
// never sends it twice. IN_APP shares need no such care: a share's rows
// commit with its entry's deletion, so a second writer writes nothing
// (shares.go).
func leaseFor(batch int, sendTimeout time.Duration) time.Duration {
	waves := (batch + workers - 1) / workers
	return leaseSlack + time.Duration(waves)*(sendTimeout+recordTimeout) + leaseSlack
}

// Dispatcher delivers outbox entries after their transaction committed
// (and writes the in-app rows of IN_APP entries that their instance left:
// shares.go):
// claim a batch of due entries (a lease, taken with FOR UPDATE SKIP LOCKED on
// PostgreSQL, inside a serialised write transaction on SQLite, so that with
// several instances each entry goes to one of them), send each through its
// channel's Sender, then mark it DELIVERED, schedule a retry with
// exponential backoff, or, after MaxAttempts or a permanent error, mark it
// FAILED with the last error kept. Entries left pending by a stopped server
// are delivered after it restarts; an entry whose deliverer died mid-way is
// retried when its lease runs out (delivery is at least once), or marked
// FAILED then if that was its last attempt.
//
// The dispatcher is system work: it runs with privacy bypassed, outside any
// request.
type Dispatcher struct {
	client  *ent.Client
	dialect string
	senders map[string]Sender
	cfg     DispatcherConfig
	log     *slog.Logger
	wake    chan struct{}
}

// NewDispatcher returns a dispatcher sending EMAIL and SLACK entries with
// senders (keyed by channel name).
func NewDispatcher(client *ent.Client, dialectName string, senders map[string]Sender, cfg DispatcherConfig, log *slog.Logger) *Dispatcher {
	cfg.defaults()
	return &Dispatcher{client: client, dialect: dialectName, senders: senders, cfg: cfg, log: log, wake: make(chan struct{}, 1)}
}

// Wake tells the dispatcher that entries are waiting. It never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends. Then it claims nothing more, and returns once
// the sends under way have finished or been cancelled (StopGrace) and their
// outcomes are recorded.
func (d *Dispatcher) Run(ctx context.Context) {
	ticker := time.NewTicker(d.cfg.Poll)
	defer ticker.Stop()
	for {
		n, err := d.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.ErrorContext(ctx, "outbox: dispatching", "error", err.Error())
		}
		if n == d.cfg.BatchSize && err == nil {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-ticker.C:
		}
	}
}

// RunOnce claims the entries due now and delivers them. It returns how many
// it took: claimed, or marked FAILED because their attempts had run out.
//
// When ctx ends, RunOnce starts no more of its entries and hands them back
// (their claim and attempt undone, so that they are due at once, here after
// a restart or at another instance). The sends under way get StopGrace to
// finish before their contexts are cancelled, and their outcomes are
// recorded whatever ctx says: a message sent while the server stopped must
// not stay PENDING, or it is sent again after the restart.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	now := d.now()
	lease := now.Add(d.cfg.Lease)
	entries, failed, err := d.claim(sys, now, lease)
	if err != nil || len(entries) == 0 {
		return failed, err
	}
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(sys))
	defer cancelSends()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(d.cfg.StopGrace, cancelSends) })
	defer stopGrace()

	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for i, e := range entries {
		if ctx.Err() == nil {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil || !d.inTime(lease) {
			d.handBack(sendCtx, entries[i:], lease, ctx.Err() != nil)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d.deliver(sendCtx, e, lease)
		}()
	}
	wg.Wait()
	return len(entries) + failed, nil
}

// inTime reports whether an entry's send, started now, and the record of
// its outcome end leaseSlack before lease does (leaseFor).
func (d *Dispatcher) inTime(lease time.Time) bool {
	return !d.now().Add(d.cfg.SendTimeout + recordTimeout + leaseSlack).After(lease)
}

// handBack undoes the claim of entries that were not started: shutdown
// began, or their sends could have outlived the lease.
func (d *Dispatcher) handBack(ctx context.Context, entries []*ent.OutboxEntry, lease time.Time, stopping bool) {
	ids := make([]int, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	err := d.client.OutboxEntry.Update().
		Where(outboxentry.IDIn(ids...), outboxentry.ClaimedUntilEQ(lease)).
		ClearClaimedUntil().AddAttempts(-1).Exec(rctx)
	reason := "their sends could have outlived the lease"
	if stopping {
		reason = "stopping"
	}
	if err != nil {
		// Their lease runs out and they are claimed again: one attempt
		// more is counted than was made.
		d.log.ErrorContext(ctx, "outbox: handing back entries not started", "entries", len(ids), "reason", reason, "error", err.Error())
		return
	}
	d.log.InfoContext(ctx, "outbox: handed back entries not started", "entries", len(ids), "reason", reason)
}

// claim leases up to BatchSize due entries and counts an attempt for each.
// A due entry whose attempts have already reached MaxAttempts is not
// claimed again but marked FAILED, and counted in failed. Either its last
// attempt's outcome was never recorded (its deliverer died, or the
// database refused the record: its claim is still on it), and without
// this it would be sent at every lease's end for ever; or it is waiting
// for a retry that a lower MaxAttempts (OUTBOX_MAX_ATTEMPTS, changed since)
// no longer allows. Its last_error says which.
func (d *Dispatcher) claim(ctx context.Context, now, lease time.Time) (entries []*ent.OutboxEntry, failed int, err error) {
	ctx, cancel := context.WithTimeout(ctx, leaseSlack) // leaseFor counts on it
	defer cancel()
	tx, err := d.client.Tx(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("outbox: opening claim transaction: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	q := tx.OutboxEntry.Query().
		Where(
			outboxentry.StatusEQ(outboxentry.StatusPENDING),
			outboxentry.NextAttemptAtLTE(now),
			outboxentry.Or(outboxentry.ClaimedUntilIsNil(), outboxentry.ClaimedUntilLT(now)),
		).
		Order(ent.Asc(outboxentry.FieldNextAttemptAt), ent.Asc(outboxentry.FieldID)).
		Limit(d.cfg.BatchSize)
	if d.dialect == dialect.Postgres {
		q = q.ForUpdate(sql.WithLockAction(sql.SkipLocked))
	}
	due, err := q.All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("outbox: finding due entries: %w", err)
	}
	if len(due) == 0 {
		return nil, 0, nil
	}
	var ids []int
	var spent []*ent.OutboxEntry
	for _, e := range due {
		if e.Attempts >= d.cfg.MaxAttempts && e.Channel != outboxentry.ChannelIN_APP {
			spent = append(spent, e)
			continue
		}
		entries = append(entries, e)
		ids = append(ids, e.ID)
	}
	if len(ids) > 0 {
		if err := tx.OutboxEntry.Update().Where(outboxentry.IDIn(ids...)).
			SetClaimedUntil(lease).AddAttempts(1).Exec(ctx); err != nil {
			return nil, 0, fmt.Errorf("outbox: claiming entries: %w", err)
		}
	}
	reasons := make([]string, len(spent))
	for i, e := range spent {
		last := e.LastError
		if last == "" {
			last = "none"
		}
		reasons[i] = "its last attempt's outcome was never recorded"
		if e.ClaimedUntil == nil { // recorded as a retry: the limit was lowered since
			reasons[i] = fmt.Sprintf("its %d attempts reach the limit of %d (OUTBOX_MAX_ATTEMPTS), lowered since its last one", e.Attempts, d.cfg.MaxAttempts)
		}
		why := fmt.Errorf("outbox: gave up after %d attempts: %s; the last error recorded: %s", e.Attempts, reasons[i], last)
		if err := tx.OutboxEntry.UpdateOneID(e.ID).SetStatus(outboxentry.StatusFAILED).ClearClaimedUntil().
			SetLastError(errorText(why)).Exec(ctx); err != nil {
			return nil, 0, fmt.Errorf("outbox: failing entry %d: %w", e.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, 0, fmt.Errorf("outbox: committing claim: %w", err)
	}
	for i, e := range spent {
		d.log.ErrorContext(ctx, "outbox: delivery failed for good", "entry", e.ID, "channel", e.Channel,
			"tenant_id", e.TenantID, "attempts", e.Attempts, "error", reasons[i])
		if d.cfg.Observe != nil {
			d.cfg.Observe(string(e.Channel), "failed")
		}
	}
	return entries, len(spent), nil
}

// deliver sends e and records the outcome: DELIVERED, a retry or FAILED,
// with the error's text kept (errorText). The record runs on a context of
// its own, bounded by recordTimeout and not cancelled with ctx. If the
// database refuses it with the error's text, it is recorded without.
func (d *Dispatcher) deliver(ctx context.Context, e *ent.OutboxEntry, lease time.Time) {
	attempt := e.Attempts + 1
	err := d.sendRecovering(ctx, e)
	now := d.now()
	outcome := "retry"
	// Cut off by the stop (its grace ran out: ctx is the sends' context,
	// cancelled only then): the attempt is not the entry's fault and is
	// not counted, so a restart during its last attempt does not make it
	// FAILED; it is due again at once.
	interrupted := err != nil && ctx.Err() != nil && !IsPermanent(err)
	switch {
	case err == nil:
		outcome = "delivered"
	case interrupted:
		d.log.WarnContext(ctx, "outbox: delivery cut off by the stop; not counted as an attempt", "entry", e.ID,
			"channel", e.Channel, "tenant_id", e.TenantID, "error", err.Error())
	case IsPermanent(err) || attempt >= d.cfg.MaxAttempts && e.Channel != outboxentry.ChannelIN_APP:
		outcome = "failed"
		d.log.ErrorContext(ctx, "outbox: delivery failed for good", "entry", e.ID, "channel", e.Channel,
			"tenant_id", e.TenantID, "attempts", attempt, "error", err.Error())
	default:
		d.log.WarnContext(ctx, "outbox: delivery failed; will retry", "entry", e.ID, "channel", e.Channel,
			"tenant_id", e.TenantID, "attempts", attempt, "error", err.Error())
	}
	record := func(lastError string) error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		// Only while the lease is still ours: if it ran out, another
		// instance owns the entry now.
		u := d.client.OutboxEntry.Update().
			Where(outboxentry.ID(e.ID), outboxentry.ClaimedUntilEQ(lease)).
			ClearClaimedUntil()
		switch outcome {
		case "delivered":
			u.SetStatus(outboxentry.StatusDELIVERED).SetDeliveredAt(now)
		case "failed":
			u.SetStatus(outboxentry.StatusFAILED).SetLastError(lastError)
		case "retry":
			if interrupted {
				u.AddAttempts(-1).SetNextAttemptAt(now).SetLastError(lastError)
			} else {
				u.SetNextAttemptAt(now.Add(d.backoff(attempt))).SetLastError(lastError)
			}
		}
		return u.Exec(rctx)
	}
	recordOutcome := func() error {
		if err == nil {
			return record("")
		}
		uerr := record(errorText(err))
		if uerr != nil {
			d.log.WarnContext(ctx, "outbox: recording delivery with its error; trying without", "entry", e.ID, "error", uerr.Error())
			uerr = record("outbox: this attempt's error could not be stored; see the logs")
		}
		return uerr
	}
	uerr := recordOutcome()
	// A record that fails (the database busy or briefly away) is tried
	// again while the lease leaves room for it: an outcome not recorded
	// has the entry claimed again once the lease runs out, and a message
	// that was sent, sent again. Not past the stop's grace (ctx).
	wait := recordRetryWait
	for tries := 0; uerr != nil && tries < recordRetries; tries++ {
		if ctx.Err() != nil || !d.now().Add(wait+recordTimeout).Before(lease.Add(-leaseSlack)) {
			break
		}
		d.log.WarnContext(ctx, "outbox: recording delivery failed; trying again", "entry", e.ID, "error", uerr.Error())
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		uerr = recordOutcome()
		wait = min(2*wait, 2*time.Second)
	}
	if uerr != nil {
		// The entry keeps its claim until the lease runs out; then it is
		// claimed again, or FAILED if that was its last attempt (claim).
		d.log.ErrorContext(ctx, "outbox: recording delivery", "entry", e.ID, "error", uerr.Error())
	}
	if d.cfg.Observe != nil {
		d.cfg.Observe(string(e.Channel), outcome)
	}
}

// sendRecovering is send, with a panic (a sender's bug: a custom Sender,
// say) made the attempt's error: it is retried and recorded like any
// failure, and does not take the server, and every instance that claims
// the entry after it, down with it.
func (d *Dispatcher) sendRecovering(ctx context.Context, e *ent.OutboxEntry) (err error) {
	defer func() {
		if r := recover(); r != nil {
			d.log.ErrorContext(ctx, "outbox: the sender panicked", "entry", e.ID, "channel", e.Channel,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("outbox: the %s sender panicked: %v", e.Channel, r)
		}
	}()
	return d.send(ctx, e)
}

// send delivers e through its channel. An external send, its tenant's
// lookup included, is bounded by SendTimeout (leaseFor counts on it). An
// IN_APP share is not: it is safe past its lease, and cutting a large one
// short would only make it fail again.
func (d *Dispatcher) send(ctx context.Context, e *ent.OutboxEntry) error {
	if e.Channel == outboxentry.ChannelIN_APP {
		events, _, err := writeShare(ctx, d.client, e.ID, d.cfg.Broker, nil)
		if err != nil {
			return err
		}
		publishEvents(ctx, d.cfg.Broker, d.log, events)
		return nil
	}
	sender, ok := d.senders[string(e.Channel)]
	if !ok {
		return Permanent("outbox: no sender for channel %s", e.Channel)
	}
	sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	defer cancel()
	m := fromPayload(e.TenantID, e.Payload)
	if e.Channel == outboxentry.ChannelEMAIL {
		// An email carries the tenant's content out of the API: someone
		// removed from the tenant after it was queued (its retries can
		// span minutes) must not get it, as they get no in-app
		// notification from then on.
		member, err := d.client.Membership.Query().
			Where(membership.TenantID(e.TenantID), membership.HasUserWith(user.Email(m.To))).
			Exist(sctx)
		if err != nil {
			return fmt.Errorf("outbox: checking the recipient's membership: %w", err)
		}
		if !member {
			return Permanent("outbox: not sent: the recipient is no longer a member of the tenant")
		}
	}
	if e.Channel == outboxentry.ChannelSLACK {
		t, err := d.client.Tenant.Get(sctx, e.TenantID)
		if err != nil {
			return fmt.Errorf("outbox: loading tenant %d: %w", e.TenantID, err)
		}
		m.WebhookURL = t.SlackWebhookURL
	}
	return sender.Send(sctx, m)
}

// backoff is BaseBackoff doubled per failed attempt, capped at MaxBackoff,
// with ±20% jitter so that instances do not retry in lockstep.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	b := d.cfg.BaseBackoff
	for i := 1; i < attempt && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.cfg.MaxBackoff)
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(b) * jitter)
}

func (d *Dispatcher) now() time.Time { return d.cfg.Now().UTC().Truncate(time.Microsecond) }
