package notify

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"tenantgraph/ent"
	"tenantgraph/ent/notification"
	"tenantgraph/ent/outboxentry"
	"tenantgraph/ent/privacy"
)

// Retention deletes in-app notifications once they are older than a set
// age (NOTIFICATION_RETENTION), so that the notifications table, which a
// broadcast to a large tenant grows by a row per recipient, stays bounded:
// every row written costs more as its indexes grow. It also deletes the
// email and Slack outbox entries finished longer ago (SweepOutbox).
//
// It works from the oldest rows by ID, a batch at a time, each batch one
// statement (on SQLite the write lock is held for one batch at most), and
// stops at the first batch that holds a row young enough to keep. IDs rise
// with time, except that a large broadcast's later shares (shares.go) get
// their IDs up to a minute or so after their created_at: such a row waits
// for the rows before it to be old enough, and so outlives its age by about
// as long. Any number of instances may sweep at once: a row is deleted
// once, and the others delete nothing.
//
// This is system work across tenants (privacy.Allow), like the
// dispatcher's: no request is behind it.
type Retention struct {
	Client *ent.Client
	Keep   time.Duration // notifications older than this are deleted
	Every  time.Duration // how often to sweep; default Keep/24, between a minute and an hour
	Batch  int           // rows per statement; default 1,000 (within every database's bind limit)
	// Deleted, when set, is told how many rows each batch deleted.
	Deleted func(n int)
	Log     *slog.Logger
	Now     func() time.Time // default time.Now
}

const retentionBatch = 1000

// Run sweeps now and then every r.Every until ctx ends.
func (r Retention) Run(ctx context.Context) {
	every := r.Every
	if every <= 0 {
		every = min(max(r.Keep/24, time.Minute), time.Hour)
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		if n, err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
			r.Log.ErrorContext(ctx, "notification retention: deleting old notifications", "error", err.Error(), "deleted", n)
		} else if n > 0 {
			r.Log.InfoContext(ctx, "notification retention: deleted old notifications", "deleted", n, "older_than", r.Keep.String())
		}
		if n, err := r.SweepOutbox(ctx); err != nil && ctx.Err() == nil {
			r.Log.ErrorContext(ctx, "notification retention: deleting finished outbox entries", "error", err.Error(), "deleted", n)
		} else if n > 0 {
			r.Log.InfoContext(ctx, "notification retention: deleted finished outbox entries", "deleted", n, "older_than", r.Keep.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Sweep deletes the notifications created more than r.Keep ago and
// returns how many it deleted.
func (r Retention) Sweep(ctx context.Context) (int, error) {
	sys, cutoff, batch, err := r.sweeping(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for {
		oldest, err := r.Client.Notification.Query().
			Order(ent.Asc(notification.FieldID)).
			Limit(batch).
			Select(notification.FieldID, notification.FieldCreatedAt).
			All(sys)
		if err != nil {
			return total, fmt.Errorf("reading the oldest notifications: %w", err)
		}
		var ids []int
		for _, n := range oldest {
			if n.CreatedAt.Before(cutoff) {
				ids = append(ids, n.ID)
			}
		}
		if len(ids) > 0 {
			// The cutoff again: a row is deleted for its age, whatever the
			// order of the IDs.
			deleted, err := r.Client.Notification.Delete().
				Where(notification.IDIn(ids...), notification.CreatedAtLT(cutoff)).
				Exec(sys)
			if err != nil {
				return total, fmt.Errorf("deleting old notifications: %w", err)
			}
			total += deleted
			if r.Deleted != nil && deleted > 0 {
				r.Deleted(deleted)
			}
		}
		// A short batch is the end of the table; a young row in it, the end
		// of what is old enough.
		if len(oldest) < batch || len(ids) < len(oldest) || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// SweepOutbox deletes the EMAIL and SLACK outbox entries that were
// DELIVERED or FAILED more than r.Keep ago (their last change: the
// outcome), and returns how many it deleted. They hold a recipient's
// address and a message's text, and nothing reads them once finished but
// the failed-entries gauge, which would otherwise count every failure
// ever. Pending entries are never touched, nor are IN_APP shares: one is
// deleted as it is written, and a FAILED one (its payload could not be
// read) holds the only record of notifications never written, which an
// operator may still want. A batch at a time, as Sweep, in no order: each batch
// is read from the (status, updated_at) index and stops at batch rows,
// where an order by ID would sort every finished entry old enough first.
func (r Retention) SweepOutbox(ctx context.Context) (int, error) {
	sys, cutoff, batch, err := r.sweeping(ctx)
	if err != nil {
		return 0, err
	}
	finished := []outboxentry.Status{outboxentry.StatusDELIVERED, outboxentry.StatusFAILED}
	sent := []outboxentry.Channel{outboxentry.ChannelEMAIL, outboxentry.ChannelSLACK}
	total := 0
	for {
		ids, err := r.Client.OutboxEntry.Query().
			Where(outboxentry.StatusIn(finished...), outboxentry.UpdatedAtLT(cutoff), outboxentry.ChannelIn(sent...)).
			Limit(batch).
			IDs(sys)
		if err != nil {
			return total, fmt.Errorf("reading finished outbox entries: %w", err)
		}
		if len(ids) > 0 {
			deleted, err := r.Client.OutboxEntry.Delete().
				Where(outboxentry.IDIn(ids...), outboxentry.StatusIn(finished...), outboxentry.UpdatedAtLT(cutoff)).
				Exec(sys)
			if err != nil {
				return total, fmt.Errorf("deleting finished outbox entries: %w", err)
			}
			total += deleted
		}
		if len(ids) < batch || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// sweeping is what a sweep works with: the system's context (privacy.Allow),
// the time before which rows go, and the rows per statement.
func (r Retention) sweeping(ctx context.Context) (sys context.Context, cutoff time.Time, batch int, err error) {
	if r.Keep <= 0 {
		return nil, time.Time{}, 0, fmt.Errorf("notification retention: Keep must be positive, got %s", r.Keep)
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	batch = r.Batch
	if batch <= 0 {
		batch = retentionBatch
	}
	return privacy.DecisionContext(ctx, privacy.Allow), now().Add(-r.Keep), batch, nil
}
