package graph_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"tenantgraph/ent"
	"tenantgraph/ent/notification"
	"tenantgraph/ent/outboxentry"
	"tenantgraph/ent/privacy"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/notify"
)

// Notification retention (internal/notify/retention.go) deletes what is
// older than its age across every tenant, a batch at a time from the oldest
// IDs, and nothing younger; a row written late (a broadcast's later share:
// an older created_at behind younger IDs) waits until the sweep reaches it.
func TestRetentionDeletesOnlyWhatIsOld(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		other := e.Register("Other")
		tenants := []int{authDecodeID(t, e.CreateTenant(owner, "first")), authDecodeID(t, e.CreateTenant(other, "second"))}
		recipients := []int{authDecodeID(t, owner.ID), authDecodeID(t, other.ID)}
		sys := privacy.DecisionContext(context.Background(), privacy.Allow)
		now := time.Now().UTC().Truncate(time.Microsecond)
		write := func(n int, at time.Time) []int {
			t.Helper()
			builders := make([]*ent.NotificationCreate, n)
			for i := range builders {
				builders[i] = e.DB.Client.Notification.Create().SetTenantID(tenants[i%2]).SetRecipientID(recipients[i%2]).
					SetKind(notification.KindMEMBER_ADDED).SetTitle("t").SetBody("b").SetCreatedAt(at).SetUpdatedAt(at)
			}
			var ids []int
			for chunk := range slices.Chunk(builders, 500) {
				rows, err := e.DB.Client.Notification.CreateBulk(chunk...).Save(sys)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					ids = append(ids, r.ID)
				}
			}
			return ids
		}
		write(250, now.Add(-40*24*time.Hour))    // old, both tenants
		young := write(150, now.Add(-time.Hour)) // young
		late := write(1, now.Add(-31*24*time.Hour))
		left := func() []int {
			t.Helper()
			ids, err := e.DB.Client.Notification.Query().Order(ent.Asc(notification.FieldID)).IDs(sys)
			if err != nil {
				t.Fatal(err)
			}
			return ids
		}

		var told int
		r := notify.Retention{
			Client: e.DB.Client, Keep: 30 * 24 * time.Hour, Batch: 100,
			Deleted: func(n int) { told += n },
			Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
			Now:     func() time.Time { return now },
		}
		deleted, err := r.Sweep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// Batches of 100: two wholly old, then 50 old and 50 young, where
		// the sweep stops; the late row is behind the young ones.
		if want := append(slices.Clone(young), late...); deleted != 250 || told != 250 || !slices.Equal(left(), want) {
			t.Fatalf("first sweep: deleted %d (told %d), left %v; want 250 deleted and the young rows and the late one left", deleted, told, left())
		}
		if deleted, err := r.Sweep(context.Background()); err != nil || deleted != 0 {
			t.Fatalf("second sweep at the same time: deleted %d, err %v; want nothing", deleted, err)
		}

		// A month on, the young rows are old too, and the late one is reached.
		r.Now = func() time.Time { return now.Add(31 * 24 * time.Hour) }
		if deleted, err := r.Sweep(context.Background()); err != nil || deleted != 151 || told != 401 {
			t.Fatalf("a month later: deleted %d (told %d in all), err %v; want 151 (401)", deleted, told, err)
		}
		if ids := left(); len(ids) != 0 {
			t.Fatalf("left %v, want none", ids)
		}

		r.Keep = 0
		if _, err := r.Sweep(context.Background()); err == nil {
			t.Fatal("a retention of 0 swept; want an error")
		}
	})
}

// Run sweeps at once, then every Every, until its context ends.
func TestRetentionRunSweepsUntilStopped(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		tenant := authDecodeID(t, e.CreateTenant(owner, "first"))
		sys := privacy.DecisionContext(context.Background(), privacy.Allow)
		old := time.Now().Add(-48 * time.Hour)
		write := func() {
			t.Helper()
			if _, err := e.DB.Client.Notification.Create().SetTenantID(tenant).SetRecipientID(authDecodeID(t, owner.ID)).
				SetKind(notification.KindMEMBER_ADDED).SetTitle("t").SetBody("b").SetCreatedAt(old).SetUpdatedAt(old).Save(sys); err != nil {
				t.Fatal(err)
			}
		}
		write()
		deleted := make(chan int, 16)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			notify.Retention{
				Client: e.DB.Client, Keep: 24 * time.Hour, Every: 20 * time.Millisecond,
				Deleted: func(n int) { deleted <- n },
				Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
			}.Run(ctx)
		}()
		for round := range 2 { // the first sweep, then one a tick later
			select {
			case n := <-deleted:
				if n != 1 {
					t.Fatalf("sweep %d deleted %d, want 1", round, n)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("sweep %d: nothing deleted within 10s", round)
			}
			write()
		}
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
	})
}

// Retention also deletes the email and Slack outbox entries that finished
// (DELIVERED or FAILED) longer ago than its age, and never one that is
// pending, nor an in-app share, however old.
func TestRetentionDeletesFinishedOutboxEntries(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		tenant := authDecodeID(t, e.CreateTenant(owner, "first"))
		sys := privacy.DecisionContext(context.Background(), privacy.Allow)
		now := time.Now().UTC().Truncate(time.Microsecond)
		old, young := now.Add(-40*24*time.Hour), now.Add(-time.Hour)
		entry := func(status outboxentry.Status, at time.Time) int {
			t.Helper()
			en, err := e.DB.Client.OutboxEntry.Create().SetTenantID(tenant).SetChannel(outboxentry.ChannelEMAIL).
				SetPayload(map[string]string{"to": "a@example.test"}).SetStatus(status).
				SetCreatedAt(at).SetUpdatedAt(at).Save(sys)
			if err != nil {
				t.Fatal(err)
			}
			return en.ID
		}
		entry(outboxentry.StatusDELIVERED, old)
		entry(outboxentry.StatusFAILED, old)
		keep := []int{entry(outboxentry.StatusPENDING, old), entry(outboxentry.StatusDELIVERED, young), entry(outboxentry.StatusFAILED, young)}
		// An in-app share that FAILED holds the only record of the rows it
		// never wrote: kept, however old.
		share, err := e.DB.Client.OutboxEntry.Create().SetTenantID(tenant).SetChannel(outboxentry.ChannelIN_APP).
			SetPayload(map[string]string{}).SetStatus(outboxentry.StatusFAILED).
			SetCreatedAt(old).SetUpdatedAt(old).Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		keep = append(keep, share.ID)
		r := notify.Retention{Client: e.DB.Client, Keep: 30 * 24 * time.Hour, Batch: 1,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }}
		deleted, err := r.SweepOutbox(context.Background())
		if err != nil || deleted != 2 {
			t.Fatalf("SweepOutbox: deleted %d, err %v; want 2", deleted, err)
		}
		left, err := e.DB.Client.OutboxEntry.Query().Order(ent.Asc(outboxentry.FieldID)).IDs(sys)
		if err != nil || !slices.Equal(left, keep) {
			t.Fatalf("left %v (%v), want %v: the pending one and the young ones", left, err, keep)
		}
	})
}
