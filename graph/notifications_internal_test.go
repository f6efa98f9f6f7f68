package graph

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"tenantgraph/ent"
	"tenantgraph/ent/notification"
	"tenantgraph/ent/privacy"
	"tenantgraph/internal/database"
	"tenantgraph/internal/pubsub"
)

// The feed hub's queue is bounded: while the database is too slow to drain
// it, a delivery past feedQueue is refused (the broker then drops that
// subscriber, as one that fell behind) instead of growing without end.
func TestFeedHubQueueIsBounded(t *testing.T) {
	h := newFeedHub(nil, nil)
	h.draining = true // a drain is running and stuck: nothing leaves the queue
	s := &feedSubscriber{}
	for i := range feedQueue {
		if !h.enqueue(s, i) {
			t.Fatalf("delivery %d refused, want queued (the bound is %d)", i, feedQueue)
		}
	}
	if h.enqueue(s, feedQueue) {
		t.Fatalf("delivery %d queued, want refused past the bound", feedQueue)
	}
	if len(h.queue) != feedQueue {
		t.Fatalf("queue length %d, want %d", len(h.queue), feedQueue)
	}
}

// batchOf cuts a run of deliveries so that one query names at most
// feedBatch notifications, however many subscribers share them.
func TestFeedHubBatches(t *testing.T) {
	var items []feedItem
	for i := range feedBatch + 5 { // each notification twice, to two subscribers
		items = append(items, feedItem{id: i}, feedItem{id: i})
	}
	var sizes []int
	for len(items) > 0 {
		n, ids := batchOf(items)
		distinct := map[int]bool{}
		for _, it := range items[:n] {
			distinct[it.id] = true
		}
		if len(ids) != len(distinct) {
			t.Fatalf("batchOf named %d IDs for %d distinct notifications", len(ids), len(distinct))
		}
		if len(distinct) > feedBatch {
			t.Fatalf("a batch names %d notifications, want at most %d", len(distinct), feedBatch)
		}
		sizes = append(sizes, len(distinct))
		items = items[n:]
	}
	if want := []int{feedBatch, 5}; !slices.Equal(sizes, want) {
		t.Fatalf("batches of %v notifications, want %v", sizes, want)
	}
}

// failingQueries fails the next n queries through it.
type failingQueries struct {
	dialect.Driver
	n atomic.Int32
}

func (f *failingQueries) Query(ctx context.Context, query string, args, v any) error {
	if f.n.Add(-1) >= 0 {
		return errors.New("connection reset by peer")
	}
	return f.Driver.Query(ctx, query, args, v)
}

// failingDatabase is a migrated SQLite database whose queries fail while
// the returned failingQueries' count lasts.
func failingDatabase(t *testing.T) (*database.DB, *failingQueries) {
	t.Helper()
	ctx := context.Background()
	fail := &failingQueries{}
	db, err := database.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "feed.db"), database.Options{
		Wrap: func(d dialect.Driver) dialect.Driver { fail.Driver = d; return fail },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db, fail
}

// fromHub is what the hub pushes to s next (ok false: it ended the
// stream), failing after 5 s.
func fromHub(t *testing.T, s *feedSubscriber) (*ent.Notification, bool) {
	t.Helper()
	select {
	case n, ok := <-s.out:
		return n, ok
	case <-time.After(5 * time.Second):
		t.Fatal("nothing from the hub within 5s")
		return nil, false
	}
}

// A batch read that fails is tried again; one that keeps failing drops its
// subscriptions (their connections are closed with 1013, so that their
// clients read what they missed and subscribe again), instead of leaving
// them open without it, or completing them as if they had ended as they
// should.
func TestFeedHubRetriesThenDropsTheStreams(t *testing.T) {
	ctx := context.Background()
	db, fail := failingDatabase(t)
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	c := db.Client
	tenant := c.Tenant.Create().SetName("Acme").SetSlug("acme").SaveX(sys)
	user := c.User.Create().SetEmail("a@example.test").SetName("A").SetPasswordHash("x").SaveX(sys)
	note := c.Notification.Create().SetTenantID(tenant.ID).SetRecipientID(user.ID).
		SetKind(notification.KindTASK_ASSIGNED).SetTitle("Assigned").SetBody("").SaveX(sys)

	var logs bytes.Buffer
	h := newFeedHub(c, slog.New(slog.NewJSONHandler(&logs, nil)))
	h.retries = []time.Duration{time.Millisecond, time.Millisecond}
	broker := pubsub.NewLocal(0)
	defer broker.Close()
	var dropped atomic.Int32 // subscriptions the broker ended as dropped
	subscriber := func() *feedSubscriber {
		s := &feedSubscriber{tenantID: tenant.ID, userID: user.ID, out: make(chan *ent.Notification, 1), cleanup: func() {}}
		var sub *pubsub.Subscription
		sub = broker.SubscribeFunc(tenant.ID, user.ID, func(pubsub.Event) bool { return true }, func() {
			if sub.Dropped() {
				dropped.Add(1)
			}
			s.end()
		})
		s.sub = sub
		return s
	}

	fail.n.Store(2) // the first read and one retry fail
	s := subscriber()
	h.enqueue(s, note.ID)
	if n, ok := fromHub(t, s); !ok || n.ID != note.ID {
		t.Fatalf("after two failed reads: got %v (open %v), want notification %d", n, ok, note.ID)
	}

	fail.n.Store(3) // the read and both retries fail
	s = subscriber()
	h.enqueue(s, note.ID)
	if n, ok := fromHub(t, s); ok {
		t.Fatalf("after three failed reads: got %v, want the stream ended", n)
	}
	if dropped.Load() != 1 {
		t.Errorf("subscriptions dropped: got %d, want the one whose read failed", dropped.Load())
	}
	if !strings.Contains(logs.String(), "connection reset by peer") {
		t.Errorf("log: got %q, want the read's error", logs.String())
	}
}

// Rows this process wrote are handed out without a query, under the same
// recipient check as rows read; rows remembered too long ago are read
// again, and the memory is bounded.
func TestFeedHubHandsOutRememberedRows(t *testing.T) {
	db, fail := failingDatabase(t)
	h := newFeedHub(db.Client, slog.New(slog.DiscardHandler))
	h.retries = nil
	const never = 1 << 30
	fail.n.Store(never) // any read fails, and is counted
	subscriber := func(tenant, user int) *feedSubscriber {
		return &feedSubscriber{tenantID: tenant, userID: user, out: make(chan *ent.Notification, 4), cleanup: func() {}}
	}
	row := func(id, tenant, user int) *ent.Notification {
		return &ent.Notification{ID: id, TenantID: tenant, RecipientID: user, Kind: notification.KindMEMBER_ADDED, Title: "Added"}
	}

	mine, theirs := row(1, 10, 100), row(2, 10, 200)
	h.remember([]*ent.Notification{mine, theirs})
	s, other := subscriber(10, 100), subscriber(10, 100)
	h.enqueue(other, theirs.ID) // an event naming someone else's row
	h.enqueue(s, mine.ID)
	if n, ok := fromHub(t, s); !ok || n != mine {
		t.Fatalf("got %v (open %v), want the remembered row", n, ok)
	}
	if fail.n.Load() != never {
		t.Fatalf("%d queries, want none", never-fail.n.Load())
	}
	select {
	case n := <-other.out:
		t.Fatalf("someone else's remembered row was pushed: %v", n)
	default:
	}

	// Remembered too long ago: read (and the read fails here, which ends
	// the stream), not handed out.
	old := row(3, 10, 100)
	h.remember([]*ent.Notification{old})
	h.wmu.Lock()
	h.order[len(h.order)-1].at = time.Now().Add(-feedWrittenFor)
	h.wmu.Unlock()
	s = subscriber(10, 100)
	h.enqueue(s, old.ID)
	if n, ok := fromHub(t, s); ok {
		t.Fatalf("a row remembered %s ago was handed out (%v), want it read", feedWrittenFor, n)
	}
	if fail.n.Load() != never-1 {
		t.Fatalf("%d queries, want the one read", never-fail.n.Load())
	}

	// Bounded: the oldest go first.
	rows := make([]*ent.Notification, feedWritten+10)
	for i := range rows {
		rows[i] = row(1000+i, 10, 100)
	}
	h.remember(rows[:10])
	h.remember(rows[10:])
	h.wmu.Lock()
	defer h.wmu.Unlock()
	if len(h.written) != feedWritten || len(h.order) != feedWritten {
		t.Fatalf("remembered %d (%d in order), want at most %d", len(h.written), len(h.order), feedWritten)
	}
	if _, ok := h.written[1000+9]; ok {
		t.Fatal("the oldest rows are still remembered past the bound")
	}
	if _, ok := h.written[1000+feedWritten+9]; !ok {
		t.Fatal("the newest row is not remembered")
	}
}

// A panic while delivering a batch (a bug) drops the batch's subscribers,
// as a failed read does, and the hub goes on draining: the process does
// not end, and a recovered panic does not leave the queue marked as
// draining with nobody to drain it.
func TestFeedHubSurvivesAPanic(t *testing.T) {
	logs := &lockedBuffer{}
	h := newFeedHub(nil, slog.New(slog.NewJSONHandler(logs, nil))) // no client: reading the batch panics
	subscriber := func() *feedSubscriber {
		return &feedSubscriber{out: make(chan *ent.Notification, 1), cleanup: func() {}}
	}
	for round := range 2 {
		s := subscriber()
		if !h.enqueue(s, 1) {
			t.Fatalf("round %d: delivery refused", round)
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			h.mu.Lock()
			draining := h.draining
			h.mu.Unlock()
			s.mu.Lock()
			dropped := s.retry && s.done
			s.mu.Unlock()
			if dropped && !draining {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: subscriber dropped %v, hub draining %v; want dropped, and the hub idle", round, dropped, draining)
			}
		}
	}
	if got := strings.Count(logs.String(), "delivering notifications to the live feed panicked"); got != 2 {
		t.Errorf("logged panics: got %d, want 2\n%s", got, logs.String())
	}
}

// lockedBuffer is a log's output, written by the hub's goroutine and read
// by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
